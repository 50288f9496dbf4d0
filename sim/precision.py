"""Which operand precisions a PE kind can run, and the widths its cycle model needs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hwsim.errors import HwsimError
from hwsim.hw.spec import HardwareSpec
from hwsim.sim import pe_cycles
from hwsim.workloads.ops import Op

__all__ = ["OperandWidths", "operand_widths"]

# Workload YAML key that sets each kind of b operand (for error messages).
_B_FIELD = {"weight": "weights", "kv": "kv_cache", "activation": "activations"}
_INT_RE = re.compile(r"^int(\d+)(_asym)?$")
_BIPOLAR_RE = re.compile(r"^bipolar(\d+)$")


@dataclass(frozen=True)
class OperandWidths:
    """Element widths of one GEMM as the PE sees them.

    Attributes:
        a_bits: activation element width: the format's code width, or the given width
            rounded up.
        b_bits: ``b`` element width: the format's code width, or the given width rounded up.
        terms: BitMoD terms per ``b`` element (0 for other PE kinds).
        grouped: the ``b`` operand carries per-group scales the PE dequantizes (BitMoD).
        passes: MAC passes per element: a ``b`` operand wider than a MAC's ``weight_bits``
            is split into ``weight_bits``-wide slices, one pass each (e.g. a 16-bit KV cache
            on an FP16 x INT8 MAC: 2 passes).
    """

    a_bits: int
    b_bits: int
    terms: int = 0
    grouped: bool = False
    passes: int = 1


def _format_bits(name: str) -> int:
    # Lazy: the format registry is only needed when a format name is given.
    from hwsim.dtypes import get_format

    return int(get_format(name).bits)


def operand_widths(op: Op, hw: HardwareSpec) -> OperandWidths:
    """Check that ``hw``'s PE can run ``op`` and return the widths its cycle model uses.

    Raises:
        HwsimError: the PE cannot run the operand precision; the message names the workload
            field (``weights``, ``kv_cache``, ``activations``), the op and the PE field.
    """
    pe = hw.pe
    # The format's code width (8 for int8), not the effective width with scales (8.125).
    a_bits = _format_bits(op.a_format) if op.a_format else math.ceil(op.a_bits)
    fmt = op.b_format.lower() if op.b_format else None
    b_bits = _format_bits(fmt) if fmt else math.ceil(op.b_bits)
    b_field = _B_FIELD[op.b_kind]
    b_desc = f"format {fmt!r}" if fmt else f"{b_bits}-bit width"
    where = f"{hw.source}: {op.stage} op {op.name!r}"

    def refuse(why: str) -> HwsimError:
        return HwsimError(f"{where}: the {pe.kind} PE (pe.kind) cannot run {b_field} "
                          f"{b_desc}: {why}")

    if a_bits > pe.act_bits:
        a_desc = f"format {op.a_format!r}, " if op.a_format else ""
        raise HwsimError(f"{where}: activations are {a_desc}{a_bits}-bit but pe.act_bits is "
                         f"{pe.act_bits} (set activations.bits <= {pe.act_bits})")
    if pe.kind == "mac":
        return OperandWidths(a_bits, b_bits, passes=-(-b_bits // pe.weight_bits))
    if pe.kind == "systolic":
        if b_bits > pe.weight_bits:
            raise refuse(f"pe.weight_bits is {pe.weight_bits}")
        return OperandWidths(a_bits, b_bits)
    if pe.kind == "bitmod":
        if fmt is None or fmt in ("fp16", "bf16"):
            return OperandWidths(a_bits, b_bits, pe_cycles.bitmod_terms_for_width(b_bits))
        try:
            terms = pe_cycles.bitmod_terms_per_weight(fmt)
        except HwsimError as exc:
            raise refuse(str(exc).split("; ", 1)[-1]) from None
        if pe.weight_formats is not None and fmt not in pe.weight_formats:
            raise refuse(f"its build runs {', '.join(pe.weight_formats)} (pe.weight_formats)")
        return OperandWidths(a_bits, b_bits, terms, grouped=op.group_size is not None)
    if pe.kind == "bit_serial":
        if b_bits > pe.max_weight_bits:
            raise refuse(f"pe.max_weight_bits is {pe.max_weight_bits}")
        return OperandWidths(a_bits, b_bits)
    if pe.kind == "bipolar":
        ok = fmt is None or _BIPOLAR_RE.match(fmt) or _INT_RE.match(fmt)
        if not ok:
            raise refuse("it runs bipolarN, intN or a plain width")
        if b_bits > pe.max_weight_bits:
            raise refuse(f"pe.max_weight_bits is {pe.max_weight_bits}")
        return OperandWidths(a_bits, b_bits)
    if pe.kind == "dint":
        ok = fmt is None or fmt == "dint4" or (_INT_RE.match(fmt) and b_bits <= 4)
        if not ok or b_bits > 4:
            raise refuse("it runs dint4, int2..int4 or a width of at most 4 bits")
        return OperandWidths(a_bits, b_bits)
    raise AssertionError(f"unhandled PE kind {pe.kind}")  # the schema admits no other kind
