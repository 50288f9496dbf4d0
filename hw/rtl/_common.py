"""Small helpers shared by the Amaranth components (not public)."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Mux, Shape, Signal, Value
from amaranth.lib.wiring import In, Out

from hwsim.errors import HwsimError

__all__ = [
    "SerialControl",
    "check_int",
    "decode_fp16",
    "lanes_of",
    "signed_bits",
    "stream_signature",
    "tree_max",
]


def check_int(name: str, value: object, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi], else HwsimError naming the parameter."""
    # NOTE: isinstance(True, int) is True, so bool must be rejected before int.
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise HwsimError(f"parameter {name} must be an integer in [{lo}, {hi}], not {value!r}")
    return value


def signed_bits(bound: int) -> int:
    """Bits of a two's-complement signal holding every integer in [-bound, bound]."""
    return int(bound).bit_length() + 1


def lanes_of(value: Value, count: int, width: int) -> list[Value]:
    """Split a packed port into ``count`` fields of ``width`` bits, field 0 in the LSBs."""
    return [value[i * width:(i + 1) * width] for i in range(count)]


def stream_signature(inputs: dict[str, int | Shape], outputs: dict[str, int | Shape]) -> dict:
    """Members of a block with one valid/ready stream in and one out (the library's convention):
    ``in_valid``, ``in_ready``, the input data ports, ``out_valid``, ``out_ready``, the outputs."""
    return {
        "in_valid": In(1),
        "in_ready": Out(1),
        **{name: In(shape) for name, shape in inputs.items()},
        "out_valid": Out(1),
        "out_ready": In(1),
        **{name: Out(shape) for name, shape in outputs.items()},
    }


def decode_fp16(x: Value) -> tuple[Value, Value, Value, Value]:
    """(sign, exp_eff, mant, nonfinite) of an FP16 bit pattern, as `terms.fp16_fields` decodes it:
    value = (-1)**sign * mant * 2**(exp_eff - 25); Inf/NaN give mant = 0."""
    e, frac, sign = x[10:15], x[0:10], x[15]
    nonfinite = e == 31
    exp_eff = Mux(e == 0, 1, e)
    mant = Mux(nonfinite, 0, Cat(frac, e != 0))
    return sign, exp_eff, mant, nonfinite


def tree_max(values: list[Value]) -> Value:
    """Unsigned maximum of several values as a balanced comparator tree."""
    if not values:
        return C(0, 1)
    while len(values) > 1:
        nxt = [Mux(a > b, a, b) for a, b in zip(values[0::2], values[1::2], strict=False)]
        if len(values) % 2:
            nxt.append(values[-1])
        values = nxt
    return values[0]


class SerialControl:
    """Beat register handshake of a PE that spends ``steps`` cycles per beat, ``beats`` per output.

    A beat accepted at edge e is worked on in the ``steps`` cycles after it; the last step of
    the last beat loads the output register, and the next beat can be accepted in that same
    cycle, so one output occupies the PE for ``steps * beats`` cycles.

    Attributes (Amaranth values, valid after construction):
        accept: the input beat is taken at this edge (load your beat registers).
        step: the current step's contribution is added at this edge.
        finish: ``step`` of the output's last step: load the output, clear the accumulator.
        index: step counter within the beat (0 .. steps - 1).
    """

    def __init__(self, m, port, *, steps: int, beats: int) -> None:
        self._m = m
        full = Signal()
        self.index = Signal(range(max(steps, 2)))
        beat = Signal(range(max(beats, 2)))
        last_step = self.index == steps - 1
        last_beat = beat == beats - 1
        out_block = last_step & last_beat & port.out_valid & ~port.out_ready
        retire = full & last_step & ~out_block
        m.d.comb += port.in_ready.eq(~full | retire)
        self.accept = port.in_valid & port.in_ready
        self.step = full & ~out_block
        self.finish = retire & last_beat
        m.d.sync += full.eq(self.accept | (full & ~retire))
        with m.If(retire):
            m.d.sync += [self.index.eq(0), beat.eq(Mux(last_beat, 0, beat + 1))]
        with m.Elif(full & ~last_step):
            m.d.sync += self.index.eq(self.index + 1)
        with m.If(self.finish):
            m.d.sync += port.out_valid.eq(1)
        with m.Elif(port.out_ready):
            m.d.sync += port.out_valid.eq(0)

    def hold(self, *ports: Signal) -> list[Signal]:
        """Beat registers: a copy of each input port, loaded when a beat is accepted and held
        while the PE works on it (named ``<port>_r``)."""
        regs = [Signal(len(p), name=f"{p.name}_r") for p in ports]
        with self._m.If(self.accept):
            self._m.d.sync += [r.eq(p) for r, p in zip(regs, ports, strict=True)]
        return regs
