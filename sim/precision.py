"""Which operand precisions a PE kind can run, and the widths its cycle model needs."""

from __future__ import annotations

import math

from hwsim.errors import HwsimError
from hwsim.hw.spec import HardwareSpec
from hwsim.sim.kind_models import OperandWidths, cycle_model
from hwsim.workloads.ops import OPERAND_FIELDS, Op

__all__ = ["OperandWidths", "operand_widths"]

# What the workload can change when the PE's build states the formats it runs
# (``pe.weight_formats``). Attention's matmuls always run on the PE array with the KV cache
# as their b operand: the workload has no key that runs them elsewhere.
_IN_THE_SET = {
    "weight": "set weights.format (or weights.overrides of this layer) to one of them",
    "kv": "set kv_cache.format to one of them: attention's matmuls run on the PE array with "
          "the KV cache as their second operand, and no workload key runs them elsewhere",
    "activation": "set activations.format to one of them",
}


def operand_widths(op: Op, hw: HardwareSpec) -> OperandWidths:
    """Check that ``hw``'s PE can run ``op`` and return the widths its cycle model uses.

    Raises:
        HwsimError: the PE cannot run the operand precision; the message names the workload
            field (``weights``, ``kv_cache``, ``activations``), the op and the PE field.
    """
    pe = hw.pe
    # The format's code width (8 for int8), not the effective width with scales (8.125).
    a_bits = int(op.a_format.bits) if op.a_format is not None else math.ceil(op.a_bits)
    b_fmt = op.b_format
    b_bits = int(b_fmt.bits) if b_fmt is not None else math.ceil(op.b_bits)
    where = f"{hw.source}: {op.stage} op {op.name!r}"
    if a_bits > pe.act_bits:
        a_desc = f"format {op.a_format.name!r}, " if op.a_format is not None else ""
        raise HwsimError(f"{where}: activations are {a_desc}{a_bits}-bit but pe.act_bits is "
                         f"{pe.act_bits} (set activations.bits <= {pe.act_bits})")
    rtl = getattr(pe, "rtl", None)
    if (rtl is not None and rtl.formats and b_fmt is not None and not b_fmt.is_reference
            and b_fmt.name not in rtl.formats):
        # Its area and energy are of a build whose decoder has no such format. FP16 and plain
        # widths run as on the description without RTL (the cycle model's Booth digits).
        raise HwsimError(f"{where}: {OPERAND_FIELDS[op.b_kind]} format {b_fmt.name!r} is not "
                         f"run by pe.rtl.block {rtl.block} as built (pe.rtl.params), whose "
                         f"area and energy the PE takes; its formats: {', '.join(rtl.formats)}")
    widths = cycle_model(pe.kind).widths(pe, a_bits, b_fmt, b_bits, op.group_size is not None)
    if isinstance(widths, str):
        b_desc = f"format {b_fmt.name!r}" if b_fmt is not None else f"{b_bits}-bit width"
        advice = (f"; {_IN_THE_SET[op.b_kind]}"
                  if getattr(pe, "weight_formats", None) is not None else "")
        raise HwsimError(f"{where}: the {pe.kind} PE (pe.kind) cannot run "
                         f"{OPERAND_FIELDS[op.b_kind]} {b_desc}: {widths}{advice}")
    return widths
