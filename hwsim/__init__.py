"""hwsim: co-design low-bit LLM accelerators.

The subpackages follow the data flow (see DESIGN.md):

- :mod:`hwsim.dtypes`    bit-exact NumPy golden model of low-bit number formats
- :mod:`hwsim.workloads` LLM models and the operators of prefill and decode
- :mod:`hwsim.hw`        hardware descriptions, presets and Amaranth components
- :mod:`hwsim.mapping`   how an operator is laid onto an array
- :mod:`hwsim.sim`       cycle and energy models
- :mod:`hwsim.reports`   roofline analysis, tables and plots

This module stays import-light: every lower layer imports it first.
"""

from hwsim.errors import HwsimError

__all__ = ["HwsimError", "__version__"]

__version__ = "0.1.0.dev0"
