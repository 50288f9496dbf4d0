"""Small helpers shared by the Amaranth components (not public)."""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import C, Cat, Mux, Shape, Signal, Value
from amaranth.lib.wiring import In, Out

from hwsim.errors import HwsimError

__all__ = [
    "MAX_WIRE_BITS",
    "IntRanges",
    "SerialControl",
    "check_int",
    "check_ints",
    "decode_fp16",
    "lanes_of",
    "signed_bits",
    "stream_signature",
    "tree_max",
]


# Amaranth's RTLIL back end refuses a wire wider than this (an OverflowError, "unlikely to
# synthesize correctly"): a port of more bits is refused up front, naming the parameters.
MAX_WIRE_BITS = 2**16


def check_int(name: str, value: object, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi], else HwsimError naming the parameter."""
    # NOTE: isinstance(True, int) is True, so bool must be rejected before int.
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise HwsimError(f"parameter {name} must be an integer in [{lo}, {hi}], not {value!r}")
    return value


# Inclusive ranges of a block's integer parameters, by name. The block's constructor checks
# them and the RTL registry lists them (`hwsim.hw.rtl.registry`), so each is written once.
IntRanges = Mapping[str, tuple[int, int]]


def check_ints(ranges: IntRanges, **values: object) -> None:
    """`check_int` of each keyword value against its range in ``ranges``, in the given order."""
    for name, value in values.items():
        check_int(name, value, *ranges[name])


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

    With ``latency`` > 0 the datapath between the beat registers and the accumulator has that
    many register stages (`stage`): ``step`` and ``finish`` then come that many cycles later,
    the first output takes ``steps * beats + latency`` cycles and later ones follow every
    ``steps * beats``.

    Attributes (Amaranth values, valid after construction):
        accept: the input beat is taken at this edge (load your beat registers).
        step: the current step's contribution is added at this edge (at the accumulator).
        finish: ``step`` of the output's last step: load the output, clear the accumulator.
        index: step counter within the beat (0 .. steps - 1).
        run: the pipeline advances this cycle (enable of `stage` registers).
    """

    def __init__(self, m, port, *, steps: int, beats: int, latency: int = 0) -> None:
        self._m = m
        full = Signal()
        self.index = Signal(range(max(steps, 2)))
        beat = Signal(range(max(beats, 2)))
        last_step = self.index == steps - 1
        last_beat = beat == beats - 1
        if latency:
            # A pipelined datapath: the step and finish events travel `latency` register
            # stages (`stage`) beside it, and the whole block freezes while the finished
            # output waits to be taken, so no event is lost and full-rate timing is exact.
            hold = Signal()
            self.run = ~hold
            retire = self.run & full & last_step
            m.d.comb += port.in_ready.eq(self.run & (~full | retire))
            step_d = self.delay(self.run & full, latency, "step")
            finish_d = self.delay(retire & last_beat, latency, "finish")
            m.d.comb += hold.eq(finish_d & port.out_valid & ~port.out_ready)
            self.step = self.run & step_d
            self.finish = self.run & finish_d
            advance = self.run & full & ~last_step
        else:
            self.run = C(1, 1)
            out_block = last_step & last_beat & port.out_valid & ~port.out_ready
            retire = full & last_step & ~out_block
            m.d.comb += port.in_ready.eq(~full | retire)
            self.step = full & ~out_block
            self.finish = retire & last_beat
            advance = full & ~last_step
        self.accept = port.in_valid & port.in_ready
        m.d.sync += full.eq(self.accept | (full & ~retire))
        with m.If(retire):
            m.d.sync += [self.index.eq(0), beat.eq(Mux(last_beat, 0, beat + 1))]
        with m.Elif(advance):
            m.d.sync += self.index.eq(self.index + 1)
        with m.If(self.finish):
            m.d.sync += port.out_valid.eq(1)
        with m.Elif(port.out_ready):
            m.d.sync += port.out_valid.eq(0)

    def stage(self, value, name: str):
        """A pipeline register of ``value`` (or of each value of a list/tuple), advancing
        with the block."""
        if isinstance(value, tuple | list):
            return type(value)(self.stage(v, f"{name}_{i}") for i, v in enumerate(value))
        reg = Signal(value.shape(), name=name)
        with self._m.If(self.run):
            self._m.d.sync += reg.eq(value)
        return reg

    def delay(self, value, n: int, name: str):
        """``value`` through ``n`` pipeline registers."""
        for i in range(n):
            value = self.stage(value, f"{name}_d{i + 1}")
        return value

    def hold(self, *ports: Signal) -> list[Signal]:
        """Beat registers: a copy of each input port, loaded when a beat is accepted and held
        while the PE works on it (named ``<port>_r``)."""
        regs = [Signal(len(p), name=f"{p.name}_r") for p in ports]
        with self._m.If(self.accept):
            self._m.d.sync += [r.eq(p) for r, p in zip(regs, ports, strict=True)]
        return regs
