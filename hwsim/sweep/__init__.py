"""Design-space exploration: sweep specifications, executors, result store and Pareto fronts."""
