"""ASIC cost of the RTL blocks: gate-level area from an open cell library, switching energy
from simulating the gates on real operands, both calibrated against published silicon.

    from hwsim.hw.asic import block_cost, calibrate
    cost = block_cost("bitmod_pe", {"weights": "fp3"})
    cal = calibrate("28nm")
    cal.area_um2(cost), cal.energy_pj(cost.switching.total)

See README.md in this folder for the flow, the cell table's provenance and the calibration.
"""

from hwsim.hw.asic.cache import user_cache_dir
from hwsim.hw.asic.calibration import NODES, Calibration, calibrate, check_node
from hwsim.hw.asic.cost import Activity, BlockCost, block_cost

__all__ = ["NODES", "Activity", "BlockCost", "Calibration", "block_cost", "calibrate",
           "check_node", "user_cache_dir"]
