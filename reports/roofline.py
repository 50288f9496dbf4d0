"""The roofline analyzer: where each operator of a workload is bound on a machine.

>>> from hwsim.reports.roofline import load_machine, roofline_report
>>> from hwsim.workloads import load_workload, example_path
>>> rep = roofline_report(load_workload(example_path()), load_machine("a100-40g"), "out/")
>>> rep.summary["total"]["ttft_s"], rep.table[["stage", "op", "bound", "time_s"]]

Modules: `roofline_machine` (machine presets and YAML), `roofline_analysis` (per-operator
FLOPs, bytes, bound and time; stage totals), `roofline_plot` (figures), `roofline_report`
(everything written to one folder).
"""

from hwsim.reports.roofline_analysis import COLUMNS, analyze, op_step_costs, summarize
from hwsim.reports.roofline_machine import (
    ComputePeak,
    Machine,
    list_machines,
    load_machine,
    machine_from_dict,
)
from hwsim.reports.roofline_report import (
    DECODE_CONVENTION,
    RooflineReport,
    markdown_table,
    roofline_report,
)

__all__ = [
    "COLUMNS",
    "DECODE_CONVENTION",
    "ComputePeak",
    "Machine",
    "RooflineReport",
    "analyze",
    "list_machines",
    "load_machine",
    "machine_from_dict",
    "markdown_table",
    "op_step_costs",
    "roofline_report",
    "summarize",
]
