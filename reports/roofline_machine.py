"""Roofline machines: memory bandwidth, compute peaks per operand width, on-chip capacity.

A machine is the few numbers a roofline needs, read from YAML (bundled GPU presets live in
``reports/machines/``; any other machine is a user file of the same schema), or derived from
an accelerator's hardware description (`machine_from_hardware`: every hardware preset, or a
hardware YAML, is a machine too)::

    name: a100-40g
    description: NVIDIA A100 SXM4 40 GB
    memory_bandwidth_gb_per_s: 1555     # 1 GB = 1e9 bytes
    memory_capacity_gib: 40
    onchip_mib: 40
    vector_tflops: 19.5                 # peak for vector operators (norms, softmax, ...)
    compute:                            # widest operands a compute path takes -> its peak
      - {a_bits: 16, b_bits: 16, tflops: 312}
      - {a_bits: 4, b_bits: 4, tflops: 1248}

A GEMM runs on the fastest path that takes both of its operands (`Machine.gemm_peak_flops`);
if none does, that is an error, not a guess. A machine derived from a hardware description
moves its operands in the widths that description stores them in (`Machine.stored`, the
simulator's rule: on the RTL core's description, a ``core`` section, the core's widths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hwsim import limits
from hwsim.config import at_least, at_most, validate_mapping
from hwsim.dtypes import AnyFormat, get_format
from hwsim.errors import HwsimError
from hwsim.files import preset_file, preset_names, read_yaml, resolve_reference
from hwsim.hw import HardwareSpec, hardware_from_dict
from hwsim.hw.presets import FPGA_PRESET_DIR, PRESET_DIR
from hwsim.sim.engine import stored_op
from hwsim.sim.kind_models import cycle_model
from hwsim.workloads.ops import Op

__all__ = [
    "ComputePeak",
    "Machine",
    "list_machines",
    "load_machine",
    "machine_from_dict",
    "machine_from_hardware",
]

_PRESETS = Path(__file__).resolve().parent / "machines"
_HW_PRESETS = (PRESET_DIR, FPGA_PRESET_DIR)

# What a hardware description does not say, assumed for its roofline: off-chip DRAM large
# enough for any model, and a 64-lane FP16 vector unit (norms, softmax) at the array's clock.
ASSUMED_MEMORY_GIB = 64.0
ASSUMED_VECTOR_LANES = 64
# Widest operand a compute path is derived for: FP16, the widest any preset's PE takes.
_MAX_OPERAND_BITS = 16
_LANE_MAC_K = 8192


@dataclass(frozen=True)
class ComputePeak:
    """A compute path: the widest operands it takes and its dense peak."""

    a_bits: float
    b_bits: float
    flops_per_s: float


@dataclass(frozen=True)
class Machine:
    """What a roofline knows about a machine (all rates per second, sizes in bytes).

    ``hardware``: the accelerator description the machine was derived from
    (`machine_from_hardware`), None for a machine file; it says how operands are stored
    (`stored`).
    """

    name: str
    description: str
    memory_bw_bytes_per_s: float
    memory_capacity_bytes: float
    onchip_bytes: float
    vector_flops_per_s: float
    peaks: tuple[ComputePeak, ...]
    source: str = ""
    hardware: HardwareSpec | None = field(default=None, compare=False, repr=False)

    def stored(self, op: Op) -> Op:
        """``op`` in the widths the machine moves its operands in: those the simulator costs
        on the machine's hardware description (`hwsim.sim.engine.stored_op`: on the RTL
        core's, a GEMM's are the core's storage widths), else the op's own.

        Raises:
            HwsimError: the description's PE cannot run the op's precision.
        """
        return op if self.hardware is None else stored_op(op, self.hardware)

    @property
    def storage(self) -> str | None:
        """How the RTL core stores operands, on a core's description (for reports); None
        elsewhere (operands at the workload's widths)."""
        core = self.hardware.core if self.hardware is not None else None
        return core.storage() if core is not None else None

    def gemm_peak_flops(self, a_bits: float, b_bits: float) -> float:
        """Peak FLOP/s of the fastest path taking `a_bits` x `b_bits` operands.

        Raises:
            HwsimError: no compute path of the machine takes operands that wide.
        """
        fits = [p.flops_per_s for p in self.peaks if a_bits <= p.a_bits and b_bits <= p.b_bits]
        if not fits:
            paths = ", ".join(f"{p.a_bits:g}x{p.b_bits:g}" for p in self.peaks)
            # The file too: a machine's name need not be its file's.
            where = f" ({self.source})" if self.source else ""
            raise HwsimError(f"machine {self.name!r}{where} has no compute path for "
                             f"{a_bits:g}-bit x {b_bits:g}-bit operands (its paths: {paths})")
        return max(fits)


# Numbers, not booleans or quoted text (YAML ints are numbers), within `hwsim.limits`' bounds
# on hardware quantities: a unit slip is refused and no time overflows float64.
_PosFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
_OperandBits = Annotated[_PosFloat, at_most(64, "the widest operand")]
_Tflops = Annotated[_PosFloat, at_least(limits.MIN_TFLOPS, "1 kFLOP/s; the unit is TFLOP/s"),
                    at_most(limits.MAX_TFLOPS, "1 EFLOP/s; the unit is TFLOP/s")]
_Bandwidth = Annotated[_PosFloat,
                       at_least(limits.MIN_BANDWIDTH_GB_S, "1 kB/s; the unit is GB/s"),
                       at_most(limits.MAX_BANDWIDTH_GB_S, "1 PB/s; the unit is GB/s")]


class _PeakIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    a_bits: _OperandBits
    b_bits: _OperandBits
    tflops: _Tflops


class _MachineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Annotated[str, Field(min_length=1)]  # labels every report row and plot
    description: str = ""
    memory_bandwidth_gb_per_s: _Bandwidth
    memory_capacity_gib: Annotated[_PosFloat, at_most(limits.MAX_MEMORY_GIB, "1 PiB")]
    onchip_mib: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False),
                          at_most(limits.MAX_BUFFER_KIB / 1024, "1 TiB of SRAM")] = 0.0
    vector_tflops: _Tflops
    compute: Annotated[list[_PeakIn], Field(min_length=1)]


def machine_from_dict(data: object, source: str = "<dict>") -> Machine:
    """Validate a machine given as a mapping.

    Raises:
        HwsimError: ``"<source>: <yaml.path>: <problem>"`` for every problem found.
    """
    m = validate_mapping(_MachineIn, data, source, "machine keys")
    seen: dict[tuple[float, float], int] = {}
    for i, p in enumerate(m.compute):
        first = seen.setdefault((p.a_bits, p.b_bits), i)
        if first != i:  # the faster one was taken without a word
            raise HwsimError(f"{source}: compute[{i}]: a second {p.a_bits:g}x{p.b_bits:g}-bit "
                             f"path (compute[{first}] is one); give each operand pair once")
    return Machine(
        name=m.name,
        description=m.description,
        memory_bw_bytes_per_s=m.memory_bandwidth_gb_per_s * 1e9,
        memory_capacity_bytes=m.memory_capacity_gib * 2**30,
        onchip_bytes=m.onchip_mib * 2**20,
        vector_flops_per_s=m.vector_tflops * 1e12,
        peaks=tuple(ComputePeak(p.a_bits, p.b_bits, p.tflops * 1e12) for p in m.compute),
        source=source,
    )


def machine_from_hardware(hw: HardwareSpec) -> Machine:
    """The roofline machine of an accelerator, derived from its description.

    Memory bandwidth: the DRAM's bytes per cycle at the clock. On-chip: the three buffers.
    Compute: for every ``b`` operand width the PE kind runs (a plain width, 1..16 bits, at the
    PE's activation width; for a build that states its formats, ``pe.weight_formats``, the
    code widths of those formats, each at its slowest format's rate), PEs x lanes / cycles
    per lane-MAC (the kind's cycle model over a long reduction) x 2 FLOP x clock; one path
    per width where the rate drops. Memory
    capacity and the vector unit are assumptions (`ASSUMED_MEMORY_GIB`,
    `ASSUMED_VECTOR_LANES`). Operands are moved in the description's storage widths
    (`Machine.stored`).
    """
    pe = hw.pe
    model = cycle_model(pe.kind)
    clock_hz = hw.clock_mhz * 1e6
    pes = hw.array.rows * hw.array.cols
    rates: list[tuple[int, float]] = []
    for b_bits, b_formats in _operand_widths(pe):
        per_format = [model.widths(pe, pe.act_bits, b, b_bits, False) for b in b_formats]
        if any(isinstance(w, str) for w in per_format):
            continue
        # A path takes every operand up to its width: a width's rate is its slowest format's.
        pe_cycles = max(float(model.pe_cycles(_LANE_MAC_K, pe, w, None)) for w in per_format)
        cycles = pe_cycles * pe.lanes / _LANE_MAC_K
        rates.append((b_bits, pes * pe.lanes / cycles * 2 * clock_hz))
    # A path takes operands up to its width: keep the widest width of every rate.
    peaks = tuple(ComputePeak(pe.act_bits, b, rate) for i, (b, rate) in enumerate(rates)
                  if i + 1 == len(rates) or rates[i + 1][1] != rate)
    buffers = hw.buffers
    return Machine(
        name=hw.name,
        description=hw.description,
        memory_bw_bytes_per_s=hw.dram_bytes_per_cycle * clock_hz,
        memory_capacity_bytes=ASSUMED_MEMORY_GIB * 2**30,
        onchip_bytes=sum(b.capacity_bytes for b in (buffers.weight, buffers.activation,
                                                     buffers.output)),
        vector_flops_per_s=ASSUMED_VECTOR_LANES * 2 * clock_hz,
        peaks=peaks,
        source=hw.source,
        hardware=hw,
    )


def _operand_widths(pe) -> list[tuple[int, list[AnyFormat | None]]]:
    """The ``b`` operand widths a compute path is derived for, each with the formats it
    stands for: a plain width (None) of 1..16 bits, or, for a build that states the formats
    it runs (``pe.weight_formats``), the code width of each of them (no FP16 path unless it
    is one)."""
    names = getattr(pe, "weight_formats", None)
    if names is None:
        return [(b_bits, [None]) for b_bits in range(1, _MAX_OPERAND_BITS + 1)]
    by_width: dict[int, list[AnyFormat | None]] = {}
    for fmt in map(get_format, names):
        by_width.setdefault(int(fmt.bits), []).append(fmt)
    return sorted(by_width.items())


def list_machines() -> list[str]:
    """Names of the machine presets: the GPUs and every hardware preset, sorted."""
    return preset_names([_PRESETS, *_HW_PRESETS])


def load_machine(ref: str | Path, folder: Path | None = None) -> Machine:
    """A preset by name (case-insensitive), or a machine or hardware YAML file.

    ``ref`` follows `hwsim.files.resolve_reference` (a file relative to ``folder``, else the
    current directory, when it ends in ``.yaml``/``.yml`` or holds a ``/``). A hardware
    preset or file (one with a ``pe`` key) gives its derived machine
    (`machine_from_hardware`).

    Raises:
        HwsimError: unknown preset (closest names listed), unreadable or invalid file.
    """
    resolved = resolve_reference(ref, folder)
    if isinstance(resolved, str):
        resolved = preset_file(resolved, [_PRESETS, *_HW_PRESETS], "machine")
    data = read_yaml(resolved, "machine")
    if isinstance(data, dict) and "pe" in data:
        return machine_from_hardware(hardware_from_dict(data, source=str(resolved)))
    return machine_from_dict(data, source=str(resolved))
