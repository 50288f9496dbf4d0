"""The limits a user can hit, in one place, and the checks that enforce them.

A leaf module (like `hwsim.errors` and `hwsim.files`): every layer may import it. Each limit is
checked before the work or the allocation it protects, and a value beyond it is refused with
one line (`HwsimError`, exit 2) that names the input, the limit and the reason. New input
fields that size an allocation or a loop take their bound from here, so the README's table of
limits stays the whole story.
"""

from __future__ import annotations

import math

from hwsim.errors import HwsimError

__all__ = [
    "INT64_MAX",
    "MAX_ARRAY_BYTES",
    "MAX_ARRAY_DIM",
    "MAX_ARRIVAL_S",
    "MAX_AXIS_VALUES",
    "MAX_BANDWIDTH_GB_S",
    "MAX_BATCH_TOKENS",
    "MAX_BLOCKS",
    "MAX_BUFFER_KIB",
    "MAX_BYTES_PER_CYCLE",
    "MAX_CHIP_MM2",
    "MAX_CLOCK_MHZ",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_NODES",
    "MAX_DECODE_STEPS",
    "MAX_ENERGY_OVERHEAD",
    "MAX_EVENT_PJ",
    "MAX_GRID_POINTS",
    "MAX_MEMORY_GIB",
    "MAX_NESTING",
    "MAX_POWER_MW",
    "MAX_REQUESTS",
    "MAX_SCALE_SEARCH",
    "MAX_SRAM_MM2_PER_KIB",
    "MAX_TFLOPS",
    "MAX_TOKENS",
    "MIN_BANDWIDTH_GB_S",
    "MIN_CLOCK_MHZ",
    "MIN_TFLOPS",
    "SAFE_COUNT",
    "check_array",
    "check_count",
    "check_counter",
]

# Files: a workload, hardware description, sweep file or config.json is a few KiB. These
# bound what a parser builds before any validation can look at it.
MAX_CONFIG_BYTES = 16 * 2**20          # 16 MiB of text
MAX_NESTING = 64                       # levels of lists and mappings inside each other
MAX_CONFIG_NODES = 1_000_000           # values in one document, YAML aliases expanded

# Integers are 64-bit in NumPy, so a number read from a file must fit in an int64.
INT64_MAX = 2**63 - 1
# Counters the simulator accumulates (cycles, MACs, bytes) stay below this, so that every
# sum of them is exact in int64 and their ratios lose nothing in float64.
SAFE_COUNT = 2**62

# Workloads. One sequence of more than a million tokens is beyond every model hwsim knows.
# The decode steps of an operator are costed together, one array row per step: measured on
# the 2-core CI machine, 32,768 steps of Llama-2-7B take 10 s and 1.1 GB (35 KB a step).
MAX_TOKENS = 2**20                     # prompt_tokens + generate_tokens - 1
MAX_DECODE_STEPS = 2**15               # generate_tokens - 1
MAX_BATCH_TOKENS = 2**26               # batch x tokens: the rows of the largest GEMM
# A served trace is scheduled step by step: 1,000 requests of up to 4k tokens take a few
# seconds; a million requests would take hours.
MAX_REQUESTS = 2**17
# Its steps are costed through a cache of step shapes, each decode KV length's attention
# ahead of serving (held to MAX_DECODE_STEPS distinct lengths: about 45 KB each on the
# simulator); a step itself is about a kilobyte (100,000 steps on the roofline: 1.1 s, 0.23 GB).
MAX_SERVED_STEPS = 2**20
# Arrival times are seconds: a Unix time in seconds (about 1.7e9 in 2024) fits with room to
# spare, while one in milliseconds (1.7e12) is a unit slip, refused instead of replayed.
MAX_ARRIVAL_S = 1e11                   # about 3,170 years
# A GEMM is mapped as blocks. When each got a row of int64/float64 arrays, a 131,072-token
# Llama-3-8B prefill (its attention about 2**22 blocks) took 17 s and 0.9 GB; GEMMs are now
# costed on at most 64 representative blocks (0.1 s), fused attention still block by block.
MAX_BLOCKS = 2**22

# Tensors a command creates or reads (synthetic weights, a .npy, a checkpoint tensor and the
# quantizer's working copies of it): one tensor at most 2 GiB.
MAX_ARRAY_BYTES = 2**31
# A searched scale (ANT, OliVe) tries every threshold of every candidate on every group: 2**27
# group-threshold pairs take about 15 s on the loaded 2-core machine (ANT4's 175 candidates,
# groups of 32 on a 1024 x 1024 tensor: 2**26.4 in 9.3 s at load 4.4).
MAX_SCALE_SEARCH = 2**27

# Sweeps: values of one axis, and points of a grid (each gets a configuration and a key;
# planning 10 million of them takes minutes). Random samples and optuna trials have the same
# bound.
MAX_AXIS_VALUES = 1_000_000
MAX_GRID_POINTS = 10_000_000

# Hardware quantities (`hwsim.hw.spec`, the PE kinds, roofline machines): ranges real designs
# stay inside by a factor of 100 or more. A unit slip (a clock in Hz where MHz is asked, a
# bandwidth in B/s where GB/s is) is refused instead of simulated, and every product of these
# with the counters above stays finite in float64: the largest, an energy of 2**62 cycles x
# 2**32 PEs x 1e6 pJ x an overhead of 100, is about 2e36 pJ (float64 ends at 1.8e308); the
# longest time, 2**62 cycles at 1 kHz, 4.6e15 s. Beyond them a report said `null` for the
# energy (1e308 pJ per cycle overflowed) or a latency of 1e-294 ms (a clock of 1e300 MHz).
MAX_CLOCK_MHZ = 1e5             # 100 GHz
MIN_CLOCK_MHZ = 1e-3            # 1 kHz
MAX_ARRAY_DIM = 2**16           # array rows and columns, PE lanes, buffer banks and port bits
MAX_BUFFER_KIB = 2.0**30        # 1 TiB in one on-chip buffer
MAX_EVENT_PJ = 1e6              # 1 uJ per PE cycle, buffer access or bit moved (~1 pJ today)
MAX_CHIP_MM2 = 1e5              # a 300 mm wafer is 7e4 mm^2; a PE's area_um2 is bounded by it too
MAX_SRAM_MM2_PER_KIB = 1.0      # 270x CACTI's 28 nm bank (0.0037 mm^2 per KiB)
MAX_POWER_MW = 1e7              # 10 kW of leakage
MAX_ENERGY_OVERHEAD = 100.0     # wiring and clock factor on PE energy (BitMoD's: 1.5)
MAX_BANDWIDTH_GB_S = 1e6        # 1 PB/s (an HBM3e stack: about 1.2 TB/s)
MIN_BANDWIDTH_GB_S = 1e-6       # 1 kB/s of a machine (a DRAM too slow for the simulator's
                                # counters is refused by `check_counter`, naming its keys)
MAX_BYTES_PER_CYCLE = 2.0**20   # 1 MiB of DRAM traffic per clock
MAX_MEMORY_GIB = 2.0**20        # 1 PiB of a machine's memory
MAX_TFLOPS = 1e6                # one roofline compute path (a 2026 GPU: about 1e4 dense FP4)
MIN_TFLOPS = 1e-9               # 1 kFLOP/s


def check_count(value: int, limit: int, what: str, why: str) -> None:
    """Refuse a count above `limit`.

    Args:
        value: the count (a Python int: exact whatever its size).
        limit: the largest allowed value.
        what: the input that gave it, e.g. ``"w.yaml: generate_tokens"``.
        why: the reason for the limit, finishing the sentence "the limit is N (...)".
    """
    if value > limit:
        raise HwsimError(f"{what}: {value:,} is above the limit of {limit:,} ({why})")


def check_array(shape: tuple[int, ...], itemsize: int, what: str) -> None:
    """Refuse to allocate an array of `shape` beyond `MAX_ARRAY_BYTES` (before allocating)."""
    size = math.prod(int(n) for n in shape) * itemsize
    if size > MAX_ARRAY_BYTES:
        dims = "x".join(str(int(n)) for n in shape)
        raise HwsimError(f"{what}: a {dims} tensor needs {size / 2**30:,.1f} GiB, above the "
                         f"limit of {MAX_ARRAY_BYTES / 2**30:g} GiB per tensor")


def check_counter(value: float, what: str, fix: str = "make the workload smaller") -> None:
    """Refuse a cycle, MAC or byte count that int64 arithmetic could not hold exactly.

    `value` is an estimate computed in float64 (or a Python int), taken before the int64
    arithmetic it guards, so the refusal comes before any wrap-around. `fix` says what to
    change.
    """
    if not value < SAFE_COUNT:  # also catches NaN
        raise HwsimError(f"{what}: about {float(value):.3g}, beyond the 2**62 the simulator's "
                         f"64-bit counters hold; {fix}")
