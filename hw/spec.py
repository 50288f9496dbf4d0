"""Hardware descriptions: YAML -> validated, frozen `HardwareSpec`.

The frozen dataclasses below are both the schema (pydantic validates them directly, unknown
keys rejected) and the domain objects the mapper and simulator trust. Schema::

    name: bitmod
    description: ...
    clock_mhz: 1000
    pe:                        # one of the PE kinds below, chosen by `kind`
      kind: bitmod             # a registered PE kind (`hwsim.hw.pe_kinds`)
      lanes: 4                 # reduction elements a PE consumes per step
      energy_pj_per_cycle: 0.56  # or `rtl` (with `rtl:` below): from the gate-level flow
      area_um2: 1507.7           # or `rtl`
      scale_bits: 8            # bitmod only: integer group scale, one bit per dequant cycle
      dequantizer_pes: 1       # bitmod only: PEs of a row sharing one dequantizer (divides cols);
                               # area and energy are then a PE's share (not with `rtl` figures)
      rtl: {block: bitmod_pe, params: {weights: fp4}, node: 28nm, format: bitmod4}
                               # optional: the RTL block behind `rtl` figures (hwsim.hw.asic)
    array: {rows: 32, cols: 32}          # rows: output channels (n), cols: tokens (m)
    decode_array: {rows: 64, cols: 16}   # optional: another shape for decode (iso-area)
    buffers:                   # a: activations, b: weights / KV cache, out: partial sums
      weight:     {kib: 512, banks: 8, port_bits: 256, read_pj: 26.7, write_pj: 37.8}
      activation: {kib: 512, banks: 8, port_bits: 256, read_pj: 26.7, write_pj: 37.8}
      output:     {kib: 256, banks: 4, port_bits: 256, read_pj: 26.7, write_pj: 37.8}
    dram: {bytes_per_cycle: 32, energy_pj_per_bit: 18.75, latency_cycles: 0}  # or gb_per_s
    energy_overhead: 1.5       # wiring/clock factor on PE and dequantization energy
    weights: {format: fp16}    # optional: the design stores weights so, whatever the workload
                               # says (a baseline's native format); {format, group_size} or {bits}
    leakage_mw: 0
    other_area_mm2: 0          # control, NoC, ... not in the per-component table
    acc_bits: 32               # width of a partial sum kept in the output buffer
    command_cycles: 0          # cycles from accepting a GEMM command to its first pipeline
                               # slot (descriptor check, first block's addresses), once per
                               # operator: its `count` instances (layers, heads) are costed as
                               # one command stream, back to back; the RTL core takes one GEMM
                               # per descriptor, so on it each further instance also pays the
                               # setup and its pipeline fill and drain
    transfer_cycles: 0         # cycles the control adds to each DRAM transfer (a block's load
                               # or write-back): the RTL core's DMA ends each at a register
    slot_cycles: 0             # cycles the control adds to each pipeline slot (the later of
                               # its compute and transfers): the RTL core ends a slot at a
                               # register loaded from the parts' done registers
    core:                      # optional: the RTL accelerator core's command limits (written
      group_size: 128          # by `hwsim fpga accel_core`): groups, largest k, lines per
      k_max: 16384             # buffer half; the mapper then picks only blocks the core
      lines: {activation: 512, weight: 1024, scale: 16, output: 256}   # runs
                               # (`hwsim.hw.core_rules`); the buffers' kib must be these lines
                               # of port_bits (weight: plus the scale lines of rows x 16 bits)
      code_bits: 8             # a weight code's slot (4 or 8; weight port = rows x lanes x it)
      word_bits: 128           # an output word in DRAM (32, 64 or 128); GEMMs are costed in
                               # these widths (FP16 activations, codes + 16 bits per group)

Buffer energies are per access of ``port_bits`` (``read_pj``/``write_pj``) or per bit
(``read_pj_per_bit``/``write_pj_per_bit``), not both. Every number has a range far beyond real
designs (`hwsim.limits`: a clock of 1 kHz to 100 GHz, sizes up to 65,536, energies up to 1 uJ
per event, ...), so a unit slip is refused and no figure overflows. A buffer's area defaults to
``kib x sram_mm2_per_kib`` (CACTI 28 nm: one 64 KiB bank is 0.238 mm^2).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union

import numpy as np
from pydantic import Field, TypeAdapter

from hwsim.config import pop_field, schema_paths, set_field, validate_mapping
from hwsim.dtypes import format_group_problem, get_format
from hwsim.errors import HwsimError
from hwsim.files import read_yaml
from hwsim.hw._schema import CONFIG as _CFG
from hwsim.hw._schema import (
    AccBits,
    AreaMm2,
    ArrayDim,
    BufferKib,
    BytesPerCycle,
    ClockMhz,
    EnergyOverhead,
    EnergyPj,
    GbPerS,
    NonNegInt,
    PosInt,
    PowerMw,
    RtlSource,
    SramMm2PerKib,
)
from hwsim.hw.core_rules import (
    ACTIVATION_BITS,
    CODE_BITS,
    SCALE_FIELD_BITS,
    SIZE_FIELD_BITS,
    WORD_BITS,
    CoreRules,
    CoreSection,
    buffer_bits,
    output_word_bits,
)
from hwsim.hw.pe_kinds import (
    PE_KINDS,
    BipolarPE,
    BitmodPE,
    BitSerialPE,
    DintPE,
    MacPE,
    SystolicPE,
)

__all__ = [
    "ArraySpec",
    "BipolarPE",
    "BitSerialPE",
    "BitmodPE",
    "BufferSpec",
    "BuffersSpec",
    "DintPE",
    "DramSpec",
    "HardwareSpec",
    "MacPE",
    "PESpec",
    "RtlSource",
    "SystolicPE",
    "WeightStorage",
    "distinct_names",
    "exclusive_overrides",
    "hardware_fields",
    "hardware_from_dict",
    "hardware_to_dict",
    "load_hardware_file",
    "same_design",
    "with_overrides",
]

# CACTI at 28 nm (as BitMoD's artifacts use it): a 64 KiB bank with a 256-bit port is 0.238 mm^2.
SRAM_MM2_PER_KIB = 0.238 / 64


@dataclass(frozen=True)
class ArraySpec:
    """PE array shape: rows map output channels (n), columns map tokens (m)."""

    __pydantic_config__ = _CFG
    rows: ArrayDim
    cols: ArrayDim


# The ``pe:`` mapping: one schema per registered PE kind, chosen by its ``kind`` field.
PESpec = Annotated[Union[tuple(k.spec for k in PE_KINDS.values())],  # noqa: UP007
                   Field(discriminator="kind")]


@dataclass(frozen=True)
class BufferSpec:
    """One on-chip SRAM buffer."""

    __pydantic_config__ = _CFG
    kib: BufferKib
    banks: ArrayDim = 1
    port_bits: ArrayDim = 256
    read_pj: EnergyPj | None = None
    write_pj: EnergyPj | None = None
    read_pj_per_bit: EnergyPj | None = None
    write_pj_per_bit: EnergyPj | None = None
    area_mm2: AreaMm2 | None = None

    @property
    def capacity_bytes(self) -> float:
        """Capacity in bytes."""
        return self.kib * 1024.0

    @property
    def read_energy_pj_per_bit(self) -> float:
        """Read energy per bit (per-access energy spread over the port width)."""
        if self.read_pj_per_bit is not None:
            return self.read_pj_per_bit
        return (self.read_pj or 0.0) / self.port_bits

    @property
    def write_energy_pj_per_bit(self) -> float:
        """Write energy per bit (per-access energy spread over the port width)."""
        if self.write_pj_per_bit is not None:
            return self.write_pj_per_bit
        return (self.write_pj or 0.0) / self.port_bits


@dataclass(frozen=True)
class BuffersSpec:
    """Weight (b operand: weights or KV cache), activation (a operand) and output buffers."""

    __pydantic_config__ = _CFG
    weight: BufferSpec
    activation: BufferSpec
    output: BufferSpec


@dataclass(frozen=True)
class DramSpec:
    """Off-chip memory: bandwidth as ``bytes_per_cycle`` or ``gb_per_s`` (exactly one)."""

    __pydantic_config__ = _CFG
    bytes_per_cycle: BytesPerCycle | None = None
    gb_per_s: GbPerS | None = None
    energy_pj_per_bit: EnergyPj = 0.0
    latency_cycles: NonNegInt = 0


@dataclass(frozen=True)
class WeightStorage:
    """Weights a design stores whatever the workload says (e.g. an FP16 baseline).

    Give ``format`` (with an optional ``group_size``) or an effective width ``bits``.
    """

    __pydantic_config__ = _CFG
    format: str | None = None
    group_size: PosInt | None = None
    # At least one bit, as a workload's width (0.5-bit weights ran).
    bits: Annotated[float, Field(strict=True, ge=1, le=64, allow_inf_nan=False)] | None = None


@dataclass(frozen=True)
class HardwareSpec:
    """A validated accelerator description; see the module docstring for the YAML schema."""

    __pydantic_config__ = _CFG
    name: Annotated[str, Field(min_length=1)]  # labels every report row and plot
    clock_mhz: ClockMhz
    pe: PESpec
    array: ArraySpec
    buffers: BuffersSpec
    dram: DramSpec
    decode_array: ArraySpec | None = None
    weights: WeightStorage | None = None
    energy_overhead: EnergyOverhead = 1.0
    leakage_mw: PowerMw = 0.0
    other_area_mm2: AreaMm2 = 0.0
    sram_mm2_per_kib: SramMm2PerKib = SRAM_MM2_PER_KIB
    acc_bits: AccBits = 32
    command_cycles: NonNegInt = 0
    transfer_cycles: NonNegInt = 0
    slot_cycles: NonNegInt = 0
    core: CoreSection | None = None
    description: str = ""
    source: str = field(default="<dict>", compare=False)

    def core_rules(self) -> CoreRules | None:
        """The RTL core's command rules when this describes the core (a ``core`` section),
        else None."""
        if self.core is None:
            return None
        return CoreRules(rows=self.array.rows, cols=self.array.cols,
                         lanes=self.pe.lanes, section=self.core)

    @property
    def pe_count(self) -> int:
        """PEs of the silicon: the larger of the prefill and decode shapes (a decode shape is
        the same array reconfigured; the area and the utilization count these)."""
        decode = self.decode_array.rows * self.decode_array.cols if self.decode_array else 0
        return max(self.array.rows * self.array.cols, decode)

    def array_for(self, stage: str) -> ArraySpec:
        """Array shape used for a stage (``decode_array`` in decode when given)."""
        if stage == "decode" and self.decode_array is not None:
            return self.decode_array
        return self.array

    @property
    def dram_bytes_per_cycle(self) -> float:
        """DRAM bandwidth in bytes per clock cycle."""
        if self.dram.bytes_per_cycle is not None:
            return self.dram.bytes_per_cycle
        assert self.dram.gb_per_s is not None
        return self.dram.gb_per_s * 1e3 / self.clock_mhz


_ADAPTER = TypeAdapter(HardwareSpec)


def _cross_checks(hw: HardwareSpec) -> list[str]:
    errors = []
    if hw.weights is not None:
        w = hw.weights
        if (w.format is None) == (w.bits is None):
            errors.append("weights: give exactly one of 'format' (with optional 'group_size') "
                          "or 'bits'")
        elif w.format is not None:
            try:
                fmt = get_format(w.format)
            except HwsimError as exc:
                errors.append(f"weights.format: {exc}")
            else:
                # The same rules as a workload's weights (the run stores weights this way).
                problem = format_group_problem(fmt, w.group_size)
                if problem is not None:
                    errors.append(f"weights.group_size: {problem}")
        elif w.group_size is not None:
            errors.append("weights.group_size: needs 'format' ('bits' is already effective)")
    pes = getattr(hw.pe, "dequantizer_pes", 1)
    for name in ("array", "decode_array"):
        arr = getattr(hw, name)
        if arr is not None and arr.cols % pes:
            errors.append(f"pe.dequantizer_pes: {pes} PEs of a row share a dequantizer, so it "
                          f"must divide {name}.cols ({arr.cols})")
    if (hw.dram.bytes_per_cycle is None) == (hw.dram.gb_per_s is None):
        errors.append("dram: give exactly one of 'bytes_per_cycle' or 'gb_per_s'")
    for name in ("weight", "activation", "output"):
        buf: BufferSpec = getattr(hw.buffers, name)
        for op in ("read", "write"):
            both = (getattr(buf, f"{op}_pj"), getattr(buf, f"{op}_pj_per_bit"))
            if None not in both:
                errors.append(f"buffers.{name}: give '{op}_pj' (per access) or "
                              f"'{op}_pj_per_bit', not both")
    format_errors = _format_set_checks(hw)
    return errors + format_errors + _core_checks(hw, formats_known=not format_errors)


def _core_line_checks(hw: HardwareSpec) -> list[str]:
    """The core's buffers are single-ported memories of its lines, its group a power of two
    and its k a descriptor field: what the RTL build takes, so that the simulator costs it."""
    assert hw.core is not None
    errors = []
    for name in ("weight", "activation", "output"):
        if getattr(hw.buffers, name).banks != 1:
            errors.append(f"buffers.{name}.banks: the core's buffers are one memory each "
                          "(allowed: 1)")
    lanes = getattr(hw.pe, "lanes", 0)
    # An output line holds a column's partial sums as the array gives them (acc_bits); the
    # DRAM word (core.word_bits) is wider.
    want = {"activation": (hw.array.cols * lanes * ACTIVATION_BITS,
                           f"array.cols x pe.lanes x {ACTIVATION_BITS} (FP16)"),
            "output": (hw.array.cols * hw.acc_bits, "array.cols x acc_bits")}
    for name, (bits, rule) in want.items():
        port = getattr(hw.buffers, name).port_bits
        if port != bits:
            errors.append(f"buffers.{name}.port_bits: {port}, but a core's {name} line is "
                          f"{rule} = {bits} bits")
    group = hw.core.group_size
    if group & (group - 1):
        errors.append(f"core.group_size: {group} is not a power of two (the core's groups are)")
    k_most = 2**SIZE_FIELD_BITS - 1
    if hw.core.k_max > k_most:
        errors.append(f"core.k_max: {hw.core.k_max} is above {k_most}, the largest k of a "
                      f"command's {SIZE_FIELD_BITS}-bit size field")
    return errors


def _format_set_checks(hw: HardwareSpec) -> list[str]:
    """``pe.weight_formats``: known formats, each once (an unknown one surfaced only when a
    workload met it, as a refusal of the workload's format)."""
    formats = getattr(hw.pe, "weight_formats", None)
    if formats is None:
        return []
    if not formats:
        return ["pe.weight_formats: empty list (leave it out: every format the cycle model "
                "knows)"]
    errors = []
    for i, name in enumerate(formats):
        try:
            canonical = get_format(name).name
        except HwsimError as exc:
            errors.append(f"pe.weight_formats[{i}]: {exc}")
            continue
        if canonical != name:  # the simulator compares the formats' own names with these
            errors.append(f"pe.weight_formats[{i}]: write {canonical}, the format's name, "
                          f"not {name}")
        elif name in formats[:i]:
            errors.append(f"pe.weight_formats[{i}]: {name} given twice")
    return errors


def _core_checks(hw: HardwareSpec, formats_known: bool) -> list[str]:
    """A ``core`` section describes the RTL core this spec was written from: its PE kind,
    one array, and buffers that are its lines."""
    if hw.core is None:
        return []
    errors = []
    if not PE_KINDS[hw.pe.kind].rtl_cores:
        cores = [k for k, kind in PE_KINDS.items() if kind.rtl_cores]
        errors.append(f"core: the RTL core is built of {', '.join(cores)} PEs, not "
                      f"{hw.pe.kind} (pe.kind)")
    if hw.decode_array is not None:
        errors.append("decode_array: the RTL core (core) has one array")
    for key, allowed in (("code_bits", CODE_BITS), ("word_bits", WORD_BITS)):
        if getattr(hw.core, key) is None:
            errors.append(f"core.{key}: missing (allowed: {', '.join(map(str, allowed))}); "
                          "the core's storage widths cost its DRAM traffic: write the YAML "
                          "again with `hwsim fpga accel_core`, or add the build's value")
    code = hw.core.code_bits
    lanes = getattr(hw.pe, "lanes", None)
    want_port = hw.array.rows * (lanes or 0) * (code or 0)
    if code is not None and lanes is not None and hw.buffers.weight.port_bits != want_port:
        errors.append(f"core.code_bits: {code}, but a weight line (buffers.weight.port_bits "
                      f"= {hw.buffers.weight.port_bits}) is array.rows x pe.lanes x code_bits "
                      f"= {want_port} bits; change them together")
    # The core costs every weight in a code slot of code_bits: a format it does not fit, or
    # no stated set (FP16 and plain widths as Booth digits, which the core has no path for),
    # would be costed in bytes and modes the build does not have.
    formats = getattr(hw.pe, "weight_formats", None)
    if formats is None:
        errors.append("pe.weight_formats: missing; a core's description states the formats its "
                      "build runs (`hwsim fpga accel_core` writes them)")
    elif code is not None and formats_known:
        wide = [name for name in formats if get_format(name).bits > code]
        if wide:
            errors.append(f"pe.weight_formats: {', '.join(wide)}: codes wider than "
                          f"core.code_bits = {code} (allowed: formats of at most {code} bits, "
                          "or code_bits 8 with a weight line of array.rows x pe.lanes x 8 bits)")
    errors += _core_line_checks(hw)
    word = hw.core.word_bits
    want_word = output_word_bits(hw.acc_bits)
    if word is not None and word != want_word:
        errors.append(f"core.word_bits: {word}, but the core writes partial sums of acc_bits "
                      f"= {hw.acc_bits} as words of {want_word} bits (the smallest power of "
                      "two >= 32 holding them)")
    line_bits = {b: getattr(hw.buffers, b).port_bits for b in ("activation", "weight",
                                                              "output")}
    bits = buffer_bits(hw.core.lines, {**line_bits,
                                       "scale": hw.array.rows * SCALE_FIELD_BITS})
    for name, want in bits.items():
        kib = getattr(hw.buffers, name).kib
        if kib * 8192 != want:
            scale = (f" and core.lines.scale = {hw.core.lines.scale} of "
                     f"{hw.array.rows * SCALE_FIELD_BITS} bits" if name == "weight" else "")
            errors.append(f"buffers.{name}.kib: {kib:g} KiB, but two halves of "
                          f"core.lines.{name} = {getattr(hw.core.lines, name)} lines of "
                          f"{line_bits[name]} bits (port_bits){scale} hold {want / 8192:g} "
                          "KiB; change them together")
    return errors


def hardware_from_dict(data: Any, source: str = "<dict>") -> HardwareSpec:
    """Validate a hardware description given as a mapping (e.g. one point of a sweep).

    Args:
        data: the parsed YAML mapping (see the module docstring).
        source: what to call it in error messages (a file name, ``"preset bitmod"``).

    Raises:
        HwsimError: ``"<source>: <yaml.path>: <problem>"``, all problems found, one line.
    """
    if isinstance(data, dict) and "source" in data:
        raise HwsimError(f"{source}: source: unknown key")
    hw = validate_mapping(HardwareSpec, data, source, "hardware keys",
                          validate=lambda d: _ADAPTER.validate_python({**d, "source": source}))
    errors = _cross_checks(hw)
    if errors:
        raise HwsimError(f"{source}: " + "; ".join(errors))
    if hw.pe.rtl is not None or "rtl" in (hw.pe.area_um2, hw.pe.energy_pj_per_cycle):
        # Lazy: synthesis and simulation run only for descriptions that ask for them.
        # cycle: hw.asic.pe_costs -> hw.spec; amaranth: only with pe.rtl
        from hwsim.hw.asic.pe_costs import resolve_rtl_pe

        hw = resolve_rtl_pe(hw)
    return hw


def hardware_to_dict(hw: HardwareSpec) -> dict[str, Any]:
    """The YAML mapping of a spec (``None`` fields left out); round-trips through
    `hardware_from_dict`."""

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if v is not None}
        return x

    out = strip(dataclasses.asdict(hw))
    out.pop("source", None)
    rtl = out["pe"].get("rtl")
    if rtl is not None:  # figures filled in from the RTL go back to `rtl`, to follow edits
        for name in rtl.pop("derived", ()):
            out["pe"][name] = "rtl"
        rtl.pop("formats", None)
        rtl.pop("energy_format", None)
        rtl.pop("energies", None)
    return out


def load_hardware_file(path: str | Path) -> HardwareSpec:
    """Read and validate a hardware YAML file.

    Raises:
        HwsimError: unreadable file, malformed YAML or invalid content, naming file and path.
    """
    p = Path(path)
    return hardware_from_dict(read_yaml(p, "hardware description"), source=str(p))


def hardware_fields(hw: HardwareSpec) -> list[str]:
    """Every dotted field path that `with_overrides` accepts for this spec, sorted.

    PE fields are those of the spec's PE kind; ``decode_array.*`` is listed even when unset.
    """
    paths = schema_paths(HardwareSpec, lambda _path, _union: type(hw.pe), skip=("source",),
                         leaves=(RtlSource,))
    if hw.pe.rtl is not None:
        # The RTL block's own parameters (pipeline depth, accumulator, ...) are fields too.
        # Imported here: hw.asic builds on this module.
        # cycle: hw.asic.pe_costs -> hw.spec; amaranth: only with pe.rtl
        from hwsim.hw.asic.pe_costs import rtl_param_fields

        paths += rtl_param_fields(hw.pe.rtl.block)
        # The format whose activity every operator is charged (unset: each its own) and
        # the node, whether or not the description gives them.
        paths += ["pe.rtl.format", "pe.rtl.node"]
    return sorted(paths)


# Fields of which exactly one may be set: overriding one clears the other.
_EXCLUSIVE = {
    "dram.bytes_per_cycle": "dram.gb_per_s",
    "dram.gb_per_s": "dram.bytes_per_cycle",
    "weights.format": "weights.bits",
    "weights.bits": "weights.format",
}
for _buf in ("weight", "activation", "output"):
    for _op in ("read", "write"):
        _EXCLUSIVE[f"buffers.{_buf}.{_op}_pj"] = f"buffers.{_buf}.{_op}_pj_per_bit"
        _EXCLUSIVE[f"buffers.{_buf}.{_op}_pj_per_bit"] = f"buffers.{_buf}.{_op}_pj"


def exclusive_overrides(paths: Iterable[str]) -> tuple[str, str] | None:
    """Two of `paths` that set the same quantity (e.g. ``dram.gb_per_s`` and
    ``dram.bytes_per_cycle``), or ``None``: given together, one of them would have no effect."""
    given = list(paths)
    for path in given:
        if _EXCLUSIVE.get(path) in given:
            return path, _EXCLUSIVE[path]
    return None


def with_overrides(hw: HardwareSpec, overrides: dict[str, Any]) -> HardwareSpec:
    """A copy of ``hw`` with fields replaced by dotted path, validated again.

    ``{"array.rows": 64, "pe.lanes": 8, "buffers.weight.kib": 256, "dram.bytes_per_cycle": 64}``.
    Setting ``pe.kind`` switches the PE kind (its other fields must then suit the new kind).
    Setting ``decode_array.rows`` on a spec without a decode array starts it from ``array``;
    ``weights.format`` etc. likewise start an empty ``weights`` entry.

    Raises:
        HwsimError: an unknown path (the message lists the valid ones) or an invalid value.
    """
    if not isinstance(overrides, Mapping):
        raise HwsimError(f"{hw.source}: overrides: expected a mapping of dotted field paths "
                         f"to values, not {type(overrides).__name__}")
    clash = exclusive_overrides(overrides)
    if clash is not None:
        raise HwsimError(f"{hw.source}: {clash[0]} and {clash[1]} set the same quantity; give "
                         "one of them")
    data = hardware_to_dict(hw)
    valid = hardware_fields(hw)
    for path, value in overrides.items():
        if path not in valid and path != "pe.kind":
            # The closest names when there are some, else the whole list (about 50 fields).
            close = difflib.get_close_matches(path, valid, n=3, cutoff=0.75)
            if close:
                raise HwsimError(f"{hw.source}: unknown hardware field {path!r} (did you mean "
                                 f"{', '.join(close)}?)")
            raise HwsimError(f"{hw.source}: unknown hardware field {path!r} (valid fields: "
                             f"{', '.join(valid)})")
        other = _EXCLUSIVE.get(path)
        if other is not None:
            pop_field(data, other)
        if path.startswith("decode_array.") and "decode_array" not in data:
            data["decode_array"] = copy.deepcopy(data["array"])
        if isinstance(value, np.integer | np.floating):
            # A NumPy scalar (from np.arange, say) is its Python number: the strict schema
            # refused np.int64(64) as a row count and took np.float32 as a clock.
            value = value.item()
        set_field(data, path, value)
    label = ", ".join(f"{k}={v}" for k, v in overrides.items())
    return hardware_from_dict(data, source=f"{hw.source} with {label}" if label else hw.source)


def same_design(a: HardwareSpec, b: HardwareSpec) -> bool:
    """The same hardware whatever its name and file (a preset and its path, two cases of its
    name): a comparison would run it twice."""
    return dataclasses.replace(a, name="", source="") == dataclasses.replace(b, name="",
                                                                            source="")


def distinct_names(designs: Sequence[HardwareSpec]) -> list[HardwareSpec]:
    """The designs, a name that repeats (two YAMLs naming one design, say) numbered from its
    second use (``bitmod``, ``bitmod#2``): tables and plots key their rows by name. A number
    another design already carries as its name is skipped (``bitmod#3`` beside a design
    named ``bitmod#2``)."""
    taken = {hw.name for hw in designs}
    seen: dict[str, int] = {}
    out = []
    for hw in designs:
        if hw.name not in seen:
            seen[hw.name] = 1
            out.append(hw)
            continue
        n = seen[hw.name] + 1
        while f"{hw.name}#{n}" in taken:
            n += 1
        seen[hw.name] = n
        taken.add(f"{hw.name}#{n}")
        out.append(dataclasses.replace(hw, name=f"{hw.name}#{n}"))
    return out
