"""Transactions for every RTL block: stimulus beats, golden-model outputs and model cycles.

Shared by the Amaranth tests and the cocotb testbenches (which get them as JSON). Expected
outputs come from `hwsim.hw.rtl.models`; expected cycles from `hwsim.sim.pe_cycles`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from hwsim.hw.rtl.bitmod import BITMOD_MAN_BITS, BitModConfig
from hwsim.hw.rtl.models import (
    bipolar_model,
    bitmod_accumulate_step,
    bitmod_model,
    dequant_model,
    dint_mac_model,
    fp16_dual_mac_model,
    fp16_int_fp16_acc_model,
    fp16_int_mac_model,
    fp16_mac_model,
    int_mac_model,
)
from hwsim.hw.rtl.streams import bitmod_beats, pack
from hwsim.hw.rtl.terms import FP16_MANT_BITS, SPECIALS, dtypes_name, weight_terms
from hwsim.sim import pe_cycles

# FP16 bit patterns with special meaning: ±0, subnormals (smallest, largest), smallest normal,
# largest finite, ±Inf, quiet NaN, signalling NaN, NaN with sign.
FP16_SPECIALS = (0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x7BFF, 0xFBFF,
                 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF)
FP16_MAX = 0x7BFF  # (2 - 2**-10) * 2**15 = 65504


@dataclass
class Case:
    """One test transaction set for a block."""

    name: str
    beats: list[dict[str, int]]
    expected: list[dict[str, int]]
    out_ports: list[str]
    cycles: int  # model cycles from accepting the first beat to loading the first result
    period: int  # model cycles between results at full rate

    def to_json(self) -> dict:
        return asdict(self)


def random_fp16(rng: np.random.Generator, shape, *, spread: int = 6) -> np.ndarray:
    """FP16 bit patterns of finite values: random sign, fraction and an exponent field within
    ``spread`` of the bias (so lanes often need alignment shifts), some zeros and subnormals."""
    sign = rng.integers(0, 2, shape) << 15
    exp = np.clip(15 + rng.integers(-spread, spread + 1, shape), 0, 30)
    frac = rng.integers(0, 1 << 10, shape)
    bits = sign | (exp << 10) | frac
    pick = rng.random(shape)
    bits = np.where(pick < 0.03, 0, bits)
    bits = np.where((pick >= 0.03) & (pick < 0.06), rng.integers(1, 1 << 10, shape), bits)
    return bits.astype(np.uint16)


def raw_fp16(rng: np.random.Generator, shape) -> np.ndarray:
    """Any finite FP16 bit pattern, exponents drawn uniformly (hits every alignment shift)."""
    bits = rng.integers(0, 1 << 16, shape)
    finite = ((bits >> 10) & 0x1F) != 31
    return np.where(finite, bits, bits & 0xBFFF).astype(np.uint16)


# ---------------------------------------------------------------- BitMoD PE / array

def bitmod_model_cycles(c: BitModConfig, mode: int = 0) -> tuple[int, int]:
    """(first result, period) in cycles of the build in ``mode``, from `hwsim.sim.pe_cycles`:
    the PE cycles, plus the pipeline's fill and, for an array, the operand register once."""
    fmt = dtypes_name(c.families[mode], 3)  # any member of a family has the same term count
    pe = int(pe_cycles.bitmod_pe_cycles(c.k, c.lanes, fmt, c.group_size, c.scale_bits,
                                        c.pes_per_dequantizer))
    fill = int(pe_cycles.pipeline_fill_cycles(c.pipeline))
    # An array tile adds the operand register stage; back to back, that stage and the
    # pipeline overlap the previous tile, so results follow every `pe` cycles.
    first = int(pe_cycles.array_tile_cycles(pe, fill)) if c.rows * c.cols > 1 else pe + fill
    return first, pe


def _bitmod_case(name, c: BitModConfig, w, a, scale, sneg, wtype, mode=0) -> Case:
    ref = bitmod_model(c, w, a, scale, sneg, wtype, mode)
    _check_fits(name, ref.out.ravel(), c.out_width)
    n = w.shape[0]
    out = pack(ref.out.reshape(n, -1), c.out_width)
    nf = pack(ref.nonfinite.reshape(n, -1).astype(np.int64), 1)
    expected = [{"out": int(out[i]), "nonfinite": int(nf[i])} for i in range(n)]
    # Cycles of the first output's mode (the cocotb designs run one mode).
    first, pe = bitmod_model_cycles(c, int(np.ravel(mode)[0]))
    return Case(name, bitmod_beats(c, w, a, scale, sneg, wtype, mode), expected,
                ["out", "nonfinite"], first, pe)


def _random_codes(rng, c: BitModConfig, mode) -> np.ndarray:
    """Random codes of each output's family, ``(n, beats, rows, lanes)``."""
    bits = np.array([f.bits for f in c.families])[np.asarray(mode)]
    return rng.integers(0, 1 << bits[:, None, None, None], (len(bits), c.beats, c.rows, c.lanes))


def _random_modes(rng, c: BitModConfig, n: int) -> np.ndarray:
    """One mode per output, every mode at least once when n allows."""
    return rng.permutation(np.resize(np.arange(c.modes), n))


def _scales(rng, c, n):
    shape = (n, c.beats, c.rows)
    return rng.integers(0, 1 << c.scale_bits, shape), rng.integers(0, 2, shape)


def _zero_idle_lanes(c: BitModConfig, w, a):
    """Feed zeros to the lanes of a partial last beat of each group, as the driver must."""
    pos = np.zeros(c.beats, np.int64)
    for g in range(c.groups):
        first = g * c.beats_full
        size = c.group_size if g < c.groups - 1 else c.k - g * c.group_size
        beats_g = c.beats_full if g < c.groups - 1 else c.beats_last
        pos[first:first + beats_g] = size - np.arange(beats_g) * c.lanes
    idle = np.arange(c.lanes)[None, :] >= pos[:, None]  # (beats, lanes)
    a = np.where(idle[None, :, None, :], 0, a)
    return w, a.astype(np.uint16)


def bitmod_exhaustive(c: BitModConfig, seed: int = 1) -> Case:
    """Every weight code of every mode with every special-value selector (fp) at least once
    per row."""
    rng = np.random.default_rng(seed)
    ws, wts, modes = [], [], []
    for mode, fam in enumerate(c.families):
        wtypes = range(len(SPECIALS)) if fam.is_fp else [0]
        per_sel = math.ceil((1 << fam.bits) / c.lanes)
        codes, sels = [], []
        for wt in wtypes:
            codes.append(np.resize(np.arange(1 << fam.bits), per_sel * c.lanes)
                         .reshape(per_sel, c.lanes))
            sels += [wt] * per_sel
        codes, sels = np.concatenate(codes), np.array(sels)
        n = math.ceil(len(codes) / c.beats)
        total = n * c.beats
        w = rng.integers(0, 1 << fam.bits, (total, c.rows, c.lanes))
        wt = rng.integers(0, len(wtypes), (total, c.rows))
        for r in range(c.rows):  # every row sees every code, rotated so rows differ
            order = np.roll(np.arange(len(codes)), r)
            w[:len(codes), r] = codes[order]
            wt[:len(codes), r] = sels[order]
        ws.append(w.reshape(n, c.beats, c.rows, c.lanes))
        wts.append(wt.reshape(n, c.beats, c.rows))
        modes += [mode] * n
    w, wt, mode = np.concatenate(ws), np.concatenate(wts), np.array(modes)
    n = len(mode)
    a = random_fp16(rng, (n, c.beats, c.cols, c.lanes))
    scale, sneg = _scales(rng, c, n)
    w, a = _zero_idle_lanes(c, w, a)
    return _bitmod_case("exhaustive_codes", c, w, a, scale, sneg, wt, mode)


def bitmod_random(c: BitModConfig, n: int = 3, seed: int = 2, raw: bool = False,
                  mode: int | None = None) -> Case:
    """Random full groups: random codes, selectors, scales and activations; random modes, or
    all outputs in ``mode``."""
    rng = np.random.default_rng(seed)
    mode = _random_modes(rng, c, n) if mode is None else np.full(n, mode)
    w = _random_codes(rng, c, mode)
    wt = rng.integers(0, 5, (n, c.beats, c.rows))
    a = (raw_fp16 if raw else random_fp16)(rng, (n, c.beats, c.cols, c.lanes))
    scale, sneg = _scales(rng, c, n)
    w, a = _zero_idle_lanes(c, w, a)
    return _bitmod_case("random_raw" if raw else "random", c, w, a, scale, sneg, wt, mode)


def bitmod_specials(c: BitModConfig, seed: int = 3) -> Case:
    """FP16 zero, subnormal, largest, Inf and NaN inputs scattered among random values; the
    second output holds no Inf/NaN (its flag must clear)."""
    rng = np.random.default_rng(seed)
    n = 3
    mode = _random_modes(rng, c, n)
    w = _random_codes(rng, c, mode)
    wt = rng.integers(0, 5, (n, c.beats, c.rows))
    a = random_fp16(rng, (n, c.beats, c.cols, c.lanes))
    pool = np.array(FP16_SPECIALS, np.uint16)
    pick = rng.random(a.shape) < 0.3
    a = np.where(pick, pool[rng.integers(0, len(pool), a.shape)], a)
    finite_only = np.where((a[1] >> 10 & 0x1F) == 31, 0x3C00, a[1])
    a[1] = finite_only
    scale, sneg = _scales(rng, c, n)
    w, a = _zero_idle_lanes(c, w, a)
    return _bitmod_case("fp16_specials", c, w, a, scale, sneg, wt, mode)


def bitmod_worst(c: BitModConfig) -> Case:
    """Largest magnitudes: every lane 65504 x the code with the largest term sum (over the
    modes), signs aligned so nothing cancels, the largest scale; one positive and one negative
    output."""
    best = (0, 0, 0, 0)
    for mode, fam in enumerate(c.families):
        codes = np.arange(1 << fam.bits)
        for wt in range(len(SPECIALS)):
            neg, t, nz = weight_terms(fam, codes, wt)
            sums = np.where(nz, 1 << t, 0).sum(-1)
            # Only a weight whose terms share one sign reaches its term sum in the product.
            same = np.all(~nz | (neg == neg[:, :1]), axis=-1)
            sums = np.where(same, sums, 0)
            i = int(sums.argmax())
            if sums[i] > best[0]:
                best = (int(sums[i]), i, wt, mode)
    _, code, wt, mode = best
    neg = bool(weight_terms(c.families[mode], np.array([code]), wt)[0][0, 0])
    n = 2
    w = np.full((n, c.beats, c.rows, c.lanes), code)
    wtv = np.full((n, c.beats, c.rows), wt)
    a = np.full((n, c.beats, c.cols, c.lanes), FP16_MAX | (0x8000 if neg else 0), np.uint16)
    a[1] ^= 0x8000  # second output: opposite sign
    scale = np.full((n, c.beats, c.rows), (1 << c.scale_bits) - 1)
    sneg = np.zeros((n, c.beats, c.rows), np.int64)
    return _bitmod_case("worst_case", c, w, a, scale, sneg, wtv, mode)


def bitmod_loop_stress(c: BitModConfig, n: int = 4, seed: int = 6) -> Case:
    """The floating group accumulator's corners: large significands, one sign, exponent and
    weight code per beat (lane sums near their bound, normalization shifts up to the largest),
    exponents moving by a few steps up and down between cycles (the operand above, level with
    and below the stored sum, by less and by more than the normalization shift)."""
    rng = np.random.default_rng(seed)
    mode = _random_modes(rng, c, n)
    w = np.repeat(_random_codes(rng, c, mode)[..., :1], c.lanes, axis=-1)  # one code per beat
    wt = rng.integers(0, 5, (n, c.beats, c.rows))
    shape = (n, c.beats, c.cols, c.lanes)
    sign = np.broadcast_to(rng.integers(0, 2, (n, c.beats, c.cols, 1)), shape) << 15
    exp = np.clip(15 + np.cumsum(rng.integers(-2, 3, shape[:3]), axis=1), 1, 30)
    frac = rng.integers(0x300, 1 << 10, shape)
    a = (sign | (exp[..., None] << 10) | frac).astype(np.uint16)
    scale, sneg = _scales(rng, c, n)
    w, a = _zero_idle_lanes(c, w, a)
    return _bitmod_case("loop_stress", c, w, a, scale, sneg, wt, mode)


def bitmod_pow2_sums(c: BitModConfig, seed: int = 7) -> Case:
    """One output per mode; every group starts with a lane sum of exactly -2**14 (two lanes of
    -1.0 times a one-term weight: the one kind of sum whose leading one differs from its
    complement's) and then adds an odd significand 3 octaves lower (so the normalization shift
    the -2**14 takes shows in the bits kept)."""
    from hwsim.hw.rtl.terms import weight_terms

    rng = np.random.default_rng(seed)
    n = c.modes
    w = np.zeros((n, c.beats, c.rows, c.lanes), np.int64)
    a = np.zeros((n, c.beats, c.cols, c.lanes), np.uint16)
    for mode, fam in enumerate(c.families):
        codes = np.arange(1 << fam.bits)
        neg, _, nz = weight_terms(fam, codes, 0)
        w[mode] = next(int(x) for x in codes if nz[x].sum() == 1 and not neg[x][nz[x]].any())
        for g in range(c.groups):
            first = g * c.beats_full
            a[mode, first, :, :2] = 0xBC00  # -1.0
            if first + 1 < c.beats:
                a[mode, first + 1, :, 0] = 0x3001  # (1 + 2**-10) / 8
    scale, sneg = _scales(rng, c, n)
    w, a = _zero_idle_lanes(c, w, a)
    return _bitmod_case("pow2_sums", c, w, a, scale, sneg, 0, np.arange(n))


_MAX_MANT = (1 << FP16_MANT_BITS) - 1  # FP16 significands (hidden bit included): normal ones
_MIN_NORMAL_MANT = 1 << FP16_MANT_BITS - 1  # are _MIN_NORMAL_MANT.._MAX_MANT
_MAX_FIELD = 30  # the largest finite FP16 exponent field (31: Inf/NaN)


def loop_boundary_sums(c: BitModConfig) -> list[int]:
    """The sums the floating accumulator's loop must classify at its boundaries: -1, 0, +1;
    each power of two from 2**(m - 2) to 2**(w - 2), with its neighbours and negatives (its
    normalization thresholds are 2**(m - 1) .. 2**(w - 2), `BITMOD_MAN_BITS` = m, the sum's
    width w = the wider of lane sum and mantissa, plus a carry; 2**(m - 2) is the largest
    value below the first); and the largest sum of each sign, the extreme mantissa (the most
    negative: -2**(m - 1), the floor of a normalized -(2**m - 1)) plus the extreme lane sum."""
    mb = BITMOD_MAN_BITS
    width = max(c.partial_width, mb) + 1
    sums = {-1, 0, 1}
    for j in range(mb - 2, width - 1):
        sums |= {sign * (1 << j) + d for sign in (1, -1) for d in (-1, 0, 1)}
    lane_bound = c.lanes * (_MAX_MANT << c.align_bits)
    sums |= {(1 << mb - 1) - 1 + lane_bound, -(1 << mb - 1) - lane_bound}
    return sorted(sums)


def _lane_values(ab: int) -> list[tuple[int, int, int]]:
    """(largest, smallest, step) of the magnitudes one lane takes at each alignment shift s
    (until only 1 is left): a normal significand m with ``ab`` guard bits, floor(m * 2**ab /
    2**s)."""
    out = []
    for s in range(FP16_MANT_BITS + ab):
        if s <= ab:
            step = 1 << (ab - s)
            out.append((_MAX_MANT * step, _MIN_NORMAL_MANT * step, step))
        else:
            out.append((_MAX_MANT >> (s - ab), _MIN_NORMAL_MANT >> (s - ab), 1))
    return out


def _lane_split(total: int, lanes: int, ab: int) -> list[tuple[int, int, int]] | None:
    """Lanes (negative, shift, significand) whose aligned signed sum is ``total``, one of them
    unshifted (it sets the cycle's exponent): the lead lane tries a few magnitudes of either
    sign, the others take the largest magnitude left, greedily; None if ``lanes`` are too few."""
    values = _lane_values(ab)
    top, low, step = values[0]
    near = min(max(abs(total) // step, low // step), top // step)
    for lead in dict.fromkeys((near, near + 1, low // step, top // step)):
        for sign in (1, -1) if total >= 0 else (-1, 1):
            if not low <= lead * step <= top:
                continue
            picked = [(sign < 0, 0, lead)]
            rest = total - sign * lead * step
            while rest and len(picked) < lanes:
                mag = abs(rest)
                s, (hi, _, st) = next((s, v) for s, v in enumerate(values) if v[1] <= mag)
                val = min(hi, mag // st * st)
                picked.append((rest < 0, s, (val // st) << max(s - ab, 0)))
                rest -= val if rest > 0 else -val
            if not rest:
                return picked
    return None


def _one_term_codes(fam) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """(code, term exponent) of a positive weight whose only non-zero term is the family's
    first, and of one whose only one is its last (a Booth int's top digit; None for fp)."""
    from hwsim.hw.rtl.terms import weight_terms

    codes = np.arange(1 << fam.bits)
    neg, exp, nz = weight_terms(fam, codes, 0)
    found = [None, None]
    for x in codes:
        if nz[x].sum() == 1 and not neg[x][nz[x]].any():
            j = int(np.flatnonzero(nz[x])[0])
            for end, want in enumerate((0, fam.terms - 1)):
                if j == want and found[end] is None:
                    found[end] = (int(x), int(exp[x, j]))
    return found[0], found[1]


def bitmod_loop_boundaries(c: BitModConfig, seed: int = 8) -> Case:
    """The floating accumulator's loop at every sum T of `loop_boundary_sums`: per T, one
    output whose group adds two lane sums P_A + P_B = T at one exponent (P_A is stored
    exactly: |P_A| < 2**(m - 1)) and, in the next cycle, a probe (one lane worth 1.5 LSBs of
    the exponent the model holds then: a normalization a step too far or too short changes
    what it keeps), and one output whose group ends on T, its last cycle (where the
    unnormalized loop hands its unnormalized sum to the dequantizer). The extremes start from
    the extreme mantissa, a normalized +-(2**m - 1) one exponent lower, in the cycle just
    before (a cycle between would renormalize -2**(m - 1)); they have no end output.
    Consecutive data cycles need a weight whose only term is its last (a Booth int's top
    digit) before one whose only term is its first: the outputs run the modes that have
    one in turn (all modes, with empty cycles between, in a build without). Exponents are
    random, one group per output. Asserts through the golden model that each group's sum is
    T in B's cycle."""
    if c.groups != 1 or c.beats < 3 or c.rows * c.cols != 1:
        raise ValueError("loop boundaries: one PE, one group of at least 3 beats per output")
    rng = np.random.default_rng(seed)
    codes = [_one_term_codes(f) for f in c.families]
    outputs = _loop_boundary_outputs(c, codes, rng)
    n = len(outputs)
    grid = _LoopGrid(c, codes, np.array([o[1] for o in outputs]),
                     np.zeros((n, c.beats, 1, c.lanes), np.int64),
                     np.zeros((n, c.beats, 1, c.lanes), np.uint16))
    for o, (_, _, parts, _) in enumerate(outputs):
        for part in parts:
            grid.place(o, *part)
    scale = rng.integers(1, 1 << c.scale_bits, (n, c.beats, 1))
    sneg = rng.integers(0, 2, (n, c.beats, 1))
    _place_probes_and_check(grid, outputs, scale, sneg)
    return _bitmod_case("loop_boundaries", c, grid.w, grid.a, scale, sneg, 0, grid.mode)


# One output of `bitmod_loop_boundaries`: (T, mode, its lane sums as (beat, the last-term
# code?, value, exponent), whether a probe follows).
_LoopOutput = tuple[int, int, list[tuple[int, bool, int, int]], bool]


def _loop_boundary_outputs(c: BitModConfig, codes: list, rng: np.random.Generator
                           ) -> list[_LoopOutput]:
    """The outputs of `bitmod_loop_boundaries`, two per sum T (one T = P_A + P_B with a probe
    after it, one ending its group on T), one per extreme; random exponents."""
    mb, ab = BITMOD_MAN_BITS, c.align_bits
    ends = [m for m in range(c.modes) if codes[m][1]] or list(range(c.modes))
    cap = (1 << mb - 1) - 1
    # P_A when T / 2 does not split over the lanes: 2**(m - 2) (the smallest threshold) and
    # its neighbour below, either sign, then the largest exact mantissa.
    half = 1 << mb - 2
    fallbacks = (half - 1, -(half - 1), half, -half, cap, -cap)
    # Exponents of the sums: every lane's field (exponent - term exponent - its shift, up to
    # FP16_MANT_BITS - 1 + ab) at least 1, the extremes' B (one above) at most _MAX_FIELD.
    low = 1 + max(t for pair in codes for _, t in filter(None, pair)) + FP16_MANT_BITS - 1 + ab
    outputs: list[_LoopOutput] = []
    for i, total in enumerate(loop_boundary_sums(c)):
        e = int(rng.integers(low, _MAX_FIELD))
        mode = ends[i % len(ends)]
        if abs(total) > cap + c.lanes * (_MAX_MANT << ab) - 1:  # an extreme
            if not any(codes[m][1] for m in range(c.modes)):
                raise ValueError(f"loop boundaries: {c.weights} has no weight ending on its "
                                 "last term (the extreme sums need one)")
            p_a = ((1 << mb) - 1) * (1 if total > 0 else -1)
            p_b = total - (p_a >> 1)
            outputs.append((total, mode, [(0, True, p_a, e), (1, False, p_b, e + 1)], True))
            continue
        p_a = next((p for p in (min(max(total // 2, -cap), cap), *fallbacks)
                    if p and all(_lane_split(x, c.lanes, ab) for x in (p, total - p))), None)
        if p_a is None:
            raise ValueError(f"loop boundaries: {total} needs more than {c.lanes} lanes")
        last = codes[mode][1] is not None
        outputs.append((total, mode, [(0, False, p_a, e), (1, last, total - p_a, e)], True))
        outputs.append((total, mode, [(c.beats - 2, last, p_a, e),
                                      (c.beats - 1, last, total - p_a, e)], False))
    return outputs


@dataclass
class _LoopGrid:
    """The weights and activations of `bitmod_loop_boundaries`' outputs, filled one lane sum
    at a time."""

    c: BitModConfig
    codes: list
    mode: np.ndarray
    w: np.ndarray
    a: np.ndarray

    def place(self, o: int, beat: int, last: bool, value: int, exp: int) -> None:
        """Output ``o``'s ``beat``: lanes whose aligned sum is ``value`` at exponent ``exp``,
        each times the one-term weight of its mode (the last-term one if ``last``)."""
        c, ab = self.c, self.c.align_bits
        split = _lane_split(value, c.lanes, ab)
        if split is None:
            raise ValueError(f"loop boundaries: {value} needs more than {c.lanes} lanes")
        code, t = self.codes[self.mode[o]][int(last)]
        self.w[o, beat, 0] = code
        for lane, (neg, s, mant) in enumerate(split):
            field = exp - t - s
            assert 1 <= field <= _MAX_FIELD, (exp, t, s)
            self.a[o, beat, 0, lane] = ((int(neg) << 15) | (field << FP16_MANT_BITS - 1)
                                        | (mant - _MIN_NORMAL_MANT))


def _place_probes_and_check(grid: _LoopGrid, outputs: list[_LoopOutput], scale: np.ndarray,
                            sneg: np.ndarray) -> None:
    """The probe goes in once the model's exponent X before its cycle is known (a first pass
    of the golden model); then a second pass asserts that each group's sum is T in B's
    cycle."""
    c, ab = grid.c, grid.c.align_bits
    for final in (False, True):
        ref = bitmod_model(c, grid.w, grid.a, scale, sneg, 0, grid.mode)
        for o, (total, m, parts, probe) in enumerate(outputs):
            b_beat, b_last = parts[1][:2]
            terms = c.families[m].terms
            b_cycle = (b_beat, terms - 1 if b_last else 0)
            man, exp = np.zeros(1, np.int64), np.zeros(1, np.int64)
            for b in range(c.beats):
                for t in range(terms):
                    p, ex = ref.partial[o, b, 0, 0, t], ref.emax[o, b, 0, 0, t]
                    if (b, t) == b_cycle and final:
                        assert (int(exp[0]), int(man[0]) + int(p)) == (int(ex), total), total
                    if (b, t) == (2, 0) and probe and not final:
                        # 1.5 x 2**(FP16_MANT_BITS - 1 + ab), that many LSBs below X.
                        grid.place(o, 2, False, 3 * _MIN_NORMAL_MANT // 2 << ab,
                                   int(exp[0]) - (FP16_MANT_BITS - 1) - ab)
                    man, exp = bitmod_accumulate_step(man, exp, np.array([p]), np.array([ex]))


def bitmod_pending_cancellations(c: BitModConfig, n: int = 24, seed: int = 3) -> Case:
    """Per output (one group of 3 beats): two negative lane sums at one exponent whose sum
    needs a normalization shift (|T| >= 2**(m - 1)), the next beat an operand 1-3 exponents
    above the model's exponent X that nearly cancels it (its value -(man >> d) plus a small
    odd number). Under stalls (`run_stream`'s seed) a cycle without a step falls between
    them: the lagged loop (``loop="decoded"``) applies its pending shift there, and the next
    step's masks read the shifted low-zero tests; the near-cancellation keeps the bits a
    wrong mask drops (random sums do not: the next normalization drops them anyway)."""
    if c.groups != 1 or c.beats < 3 or c.rows * c.cols != 1 or len(c.families) != 1:
        raise ValueError("pending cancellations: one PE, one family, one group of >= 3 beats")
    rng = np.random.default_rng(seed)
    codes = [_one_term_codes(f) for f in c.families]
    if codes[0][1] is None:
        raise ValueError("pending cancellations: needs a family with a last-term-only code")
    grid = _LoopGrid(c, codes, np.zeros(n, np.int64),
                     np.zeros((n, c.beats, 1, c.lanes), np.int64),
                     np.zeros((n, c.beats, 1, c.lanes), np.uint16))
    mb = BITMOD_MAN_BITS
    o = 0
    while o < n:
        e0 = int(rng.integers(12, 18))
        a = -int(rng.integers(1 << (mb - 2), 1 << (mb - 1)))
        b = -int(rng.integers(1 << (mb - 2), 1 << mb))
        man, x = np.zeros(1, np.int64), np.zeros(1, np.int64)
        for p, e in ((a, e0), (b, e0), (0, 0)):  # the last: beat 1's empty last term
            man, x = bitmod_accumulate_step(man, x, np.array([p]), np.array([e]))
        d = int(rng.integers(1, 4))
        probe = -(int(man[0]) >> d) + int(rng.choice([1, 3, 5, -1, -3]))
        try:  # a's term last in beat 0, b's first in beat 1: consecutive cycles
            grid.place(o, 0, True, a, e0)
            grid.place(o, 1, False, b, e0)
            grid.place(o, 2, False, probe, int(x[0]) + d)
        except (ValueError, AssertionError):  # not representable in the lanes: draw again
            grid.w[o], grid.a[o] = 0, 0
            continue
        o += 1
    scale = rng.integers(1, 1 << c.scale_bits, (n, c.beats, 1))
    sneg = rng.integers(0, 2, (n, c.beats, 1))
    return _bitmod_case("pending_cancellations", c, grid.w, grid.a, scale, sneg, 0, grid.mode)


def bitmod_edges(c: BitModConfig, mode: int = 0, seed: int = 4) -> Case:
    """Exhaustive where it is finite: every (weight code, selector, FP16 edge value) of the
    mode's family on every lane position. The selector is per beat (shared by a row's lanes),
    so the beats run selector by selector; within one, lane l of beat b takes (code, edge)
    pair (b + l * P // lanes) mod P of the P pairs, which gives every lane every pair once."""
    rng = np.random.default_rng(seed)
    fam = c.families[mode]
    sels = range(len(SPECIALS)) if fam.is_fp else [0]
    codes = np.arange(1 << fam.bits)
    edges = np.array(FP16_SPECIALS, np.uint16)
    pairs = len(codes) * len(edges)
    b = np.arange(pairs)[:, None]
    idx = (b + np.arange(c.lanes)[None, :] * (pairs // c.lanes)) % pairs  # (pairs, lanes)
    w_one = codes[idx // len(edges)]
    a_one = edges[idx % len(edges)]
    w = np.concatenate([w_one] * len(sels))  # (beats, lanes)
    a = np.concatenate([a_one] * len(sels))
    wt = np.repeat(np.array(list(sels)), pairs)
    total = len(w)
    n = math.ceil(total / c.beats)
    pad = n * c.beats - total
    w = np.concatenate([w, rng.integers(0, 1 << fam.bits, (pad, c.lanes))])
    a = np.concatenate([a, random_fp16(rng, (pad, c.lanes))])
    wt = np.concatenate([wt, rng.integers(0, len(sels), pad)])
    w = np.broadcast_to(w.reshape(n, c.beats, 1, c.lanes), (n, c.beats, c.rows, c.lanes))
    a = np.broadcast_to(a.reshape(n, c.beats, 1, c.lanes), (n, c.beats, c.cols, c.lanes))
    wt = np.broadcast_to(wt.reshape(n, c.beats, 1), (n, c.beats, c.rows))
    scale, sneg = _scales(rng, c, n)
    w, a = _zero_idle_lanes(c, np.array(w), np.array(a))
    return _bitmod_case(f"edges_{fam.name}", c, w, a, scale, sneg, np.array(wt),
                        np.full(n, mode))


def bitmod_cases(c: BitModConfig) -> list[Case]:
    return [bitmod_exhaustive(c), bitmod_random(c), bitmod_random(c, raw=True, seed=5),
            bitmod_specials(c), bitmod_worst(c), bitmod_loop_stress(c), bitmod_pow2_sums(c)]


# ---------------------------------------------------------------- other blocks

def dequant_cases(in_width: int = 56, scale_bits: int = 8, n: int = 40, seed: int = 4
                  ) -> list[Case]:
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (in_width - 1)), (1 << (in_width - 1)) - 1
    psum = np.array([lo, hi, 0, -1, 1] + [int(x) for x in rng.integers(-(1 << 62), 1 << 62, n)],
                    dtype=object) >> max(0, 63 - in_width)
    psum[0], psum[1] = lo, hi  # extremes after the shift
    m = len(psum)
    scale = rng.integers(0, 1 << scale_bits, m)
    scale[:2] = (1 << scale_bits) - 1
    scale[2] = 0
    sneg = rng.integers(0, 2, m)
    ref = dequant_model(psum, scale, sneg)
    mask = (1 << in_width) - 1
    beats = [{"psum": int(p) & mask, "scale": int(s), "scale_neg": int(g)}
             for p, s, g in zip(psum, scale, sneg, strict=True)]
    omask = (1 << (in_width + scale_bits)) - 1
    expected = [{"out": int(v) & omask} for v in ref]
    cyc = int(pe_cycles.dequant_cycles(scale_bits))
    return [Case("dequant", beats, expected, ["out"], cyc, cyc)]


def _check_fits(name: str, values, width: int) -> None:
    """The model's outputs must fit the RTL's signed width: the expected values are masked to
    it, so a width computed too small would otherwise wrap the RTL and the model alike."""
    lo, hi = -(1 << (width - 1)), 1 << (width - 1)
    bad = [int(v) for v in values if not lo <= int(v) < hi]
    assert not bad, f"{name}: model outputs {bad[:3]} do not fit {width} bits"


def _mac_case(name, a, w, ref, out_width, cyc, lanes, act_bits, weight_bits,
              nonfinite=None, fill=0) -> Case:
    """A MAC's beats (``a``, ``w``) and expected ``out`` (and ``nonfinite`` flags if given);
    the first result after ``cyc + fill`` cycles (the pipeline's fill), then every ``cyc``."""
    _check_fits(name, ref, out_width)
    n, beats = a.shape[:2]
    pa, pw = pack(a, act_bits), pack(w, weight_bits)
    beats_l = [{"a": int(pa[i, b]), "w": int(pw[i, b])} for i in range(n) for b in range(beats)]
    mask = (1 << out_width) - 1
    expected = [{"out": int(v) & mask} for v in ref]
    ports = ["out"]
    if nonfinite is not None:
        for e, f in zip(expected, nonfinite, strict=True):
            e["nonfinite"] = int(f)
        ports.append("nonfinite")
    return Case(name, beats_l, expected, ports, cyc + fill, cyc)


def _mac_fill(pipeline: int) -> int:
    return int(pe_cycles.pipeline_fill_cycles(pipeline))


def dint_mac_cases(lanes=1, k=128, special_half_lsb=1, seed=6, pipeline=None) -> list[Case]:
    from hwsim.hw.rtl.mac import MAC_PIPELINE, dint_mac_bound, mac_out_width

    out_width = mac_out_width(lanes, k, dint_mac_bound(special_half_lsb))
    rng = np.random.default_rng(seed)
    beats = math.ceil(k / lanes)
    # Every (activation, code) pair of a few activations and all 16 codes, then random ones.
    codes = np.resize(np.arange(16), (2, beats, lanes))
    a_ex = rng.integers(-128, 128, (2, beats, lanes))
    a_r = rng.integers(-128, 128, (3, beats, lanes))
    w_r = rng.integers(0, 16, (3, beats, lanes))
    a_w = np.full((2, beats, lanes), -128)
    w_w = np.stack([np.full((beats, lanes), 0b1001), np.full((beats, lanes), 0b0111)])
    a = np.concatenate([a_ex, a_r, a_w])
    w = np.concatenate([codes, w_r, w_w])
    a, w = _pad_lanes(a, w, k, lanes)
    ref = dint_mac_model(a, w, special_half_lsb)
    cyc = int(pe_cycles.dint_mac_cycles(k, lanes))
    fill = _mac_fill(MAC_PIPELINE if pipeline is None else pipeline)
    return [_mac_case("dint_mac", a, w, ref, out_width, cyc, lanes, 8, 4, fill=fill)]


def int_mac_cases(lanes=1, k=128, act_bits=8, weight_bits=8, seed=7, pipeline=None
                  ) -> list[Case]:
    from hwsim.hw.rtl.mac import MAC_PIPELINE, int_mac_bound, mac_out_width

    out_width = mac_out_width(lanes, k, int_mac_bound(act_bits, weight_bits))
    rng = np.random.default_rng(seed)
    beats = math.ceil(k / lanes)
    alo, ahi = -(1 << (act_bits - 1)), 1 << (act_bits - 1)
    wlo, whi = -(1 << (weight_bits - 1)), 1 << (weight_bits - 1)
    a = np.concatenate([rng.integers(alo, ahi, (3, beats, lanes)), np.full((2, beats, lanes), alo)])
    w = np.concatenate([rng.integers(wlo, whi, (3, beats, lanes)),
                        np.stack([np.full((beats, lanes), wlo), np.full((beats, lanes), whi - 1)])])
    a, w = _pad_lanes(a, w, k, lanes)
    ref = int_mac_model(a, w)
    cyc = int(pe_cycles.mac_pe_cycles(k, lanes))
    fill = _mac_fill(MAC_PIPELINE if pipeline is None else pipeline)
    return [_mac_case("int_mac", a, w, ref, out_width, cyc, lanes, act_bits, weight_bits,
                      fill=fill)]


def fp16_int_mac_cases(lanes=1, k=128, weight_bits=8, align_bits=3, seed=9, pipeline=None,
                       accumulator="exact") -> list[Case]:
    """Every weight code against FP16 specials and random values, random and raw-exponent
    outputs, one output with no Inf/NaN after one with them, and the worst case of each sign
    (with an FP16 accumulator: overflow to Inf)."""
    from hwsim.hw.rtl.fp16_mac import FP16_MAC_PIPELINE, fp16_int_mac_bound
    from hwsim.hw.rtl.mac import mac_out_width

    out_width = mac_out_width(lanes, k, fp16_int_mac_bound(weight_bits, align_bits))
    rng = np.random.default_rng(seed)
    beats = math.ceil(k / lanes)
    shape = (beats, lanes)
    lo, hi = -(1 << (weight_bits - 1)), 1 << (weight_bits - 1)
    n_codes = 1 << weight_bits
    reps = math.ceil(n_codes / (beats * lanes))
    codes = np.resize(np.arange(lo, hi), (reps, *shape))  # every code at least once
    pool = np.array(FP16_SPECIALS, np.uint16)
    specials = np.where(rng.random((reps, *shape)) < 0.4,
                        pool[rng.integers(0, len(pool), (reps, *shape))],
                        random_fp16(rng, (reps, *shape)))
    w = np.concatenate([codes, rng.integers(lo, hi, (3, *shape)),
                        np.full((2, *shape), lo)])
    a = np.concatenate([specials, random_fp16(rng, (2, *shape)), raw_fp16(rng, (1, *shape)),
                        np.full((1, *shape), FP16_MAX | 0x8000, np.uint16),
                        np.full((1, *shape), FP16_MAX, np.uint16)]).astype(np.uint16)
    a, w = _pad_lanes(a, w, k, lanes)
    cyc = int(pe_cycles.mac_pe_cycles(k, lanes))
    fill = _mac_fill(FP16_MAC_PIPELINE if pipeline is None else pipeline)
    if accumulator == "fp16":  # one lane; out is an FP16 bit pattern
        out, nf = fp16_int_fp16_acc_model(a[..., 0], w[..., 0])
        pw = pack(w, weight_bits)
        beats = [{"a": int(a[i, b, 0]), "w": int(pw[i, b])} for i in range(len(a))
                 for b in range(a.shape[1])]
        expected = [{"out": int(o), "nonfinite": int(f)} for o, f in zip(out, nf, strict=True)]
        return [Case("fp16_int_mac", beats, expected, ["out", "nonfinite"], cyc + fill, cyc)]
    out, nf = fp16_int_mac_model(a.astype(np.uint16), w, align_bits)
    return [_mac_case("fp16_int_mac", a, w, out, out_width, cyc, lanes, 16, weight_bits, nf,
                      fill=fill)]


def fp16_mac_cases(k=16, seed=10, pipeline=None) -> list[Case]:
    """FP16 x FP16 products near 1 (alignment and rounding of every kind), any finite
    patterns (overflow to Inf, underflow to subnormals and zero), tiny operands (subnormal
    sums), FP16 specials sprinkled in (Inf/NaN propagation, Inf - Inf, 0 x Inf), and products
    that cancel pairwise (exact zero sums and their sign)."""
    from hwsim.hw.rtl.fp16_mac import FP16_FP_MAC_PIPELINE

    rng = np.random.default_rng(seed)
    shape = (k,)
    pool = np.array(FP16_SPECIALS, np.uint16)
    sprinkled = np.where(rng.random((3, k)) < 0.15, pool[rng.integers(0, len(pool), (3, k))],
                         random_fp16(rng, (3, k)))
    tiny = (rng.integers(0, 2, (2, k)) << 15) | (rng.integers(0, 9, (2, k)) << 10) \
        | rng.integers(0, 1 << 10, (2, k))
    a = np.concatenate([random_fp16(rng, (4, *shape)), raw_fp16(rng, (2, *shape)),
                        sprinkled, tiny, random_fp16(rng, (2, *shape))]).astype(np.uint16)
    w = np.concatenate([random_fp16(rng, (4, *shape)), raw_fp16(rng, (2, *shape)),
                        random_fp16(rng, (3, *shape)), tiny[::-1],
                        random_fp16(rng, (2, *shape))]).astype(np.uint16)
    half = k // 2 * 2  # last two outputs: products +p, -p, +q, -q, ...
    a[-2:, 1:half:2] = a[-2:, 0:half:2]
    w[-2:, 1:half:2] = w[-2:, 0:half:2] ^ 0x8000
    ref = fp16_mac_model(a, w)
    beats = [{"a": int(a[i, j]), "w": int(w[i, j])} for i in range(len(a)) for j in range(k)]
    cyc = int(pe_cycles.mac_pe_cycles(k, 1))
    fill = _mac_fill(FP16_FP_MAC_PIPELINE if pipeline is None else pipeline)
    return [Case("fp16_mac", beats, [{"out": int(v)} for v in ref], ["out"], cyc + fill, cyc)]


# Per row of `_dual_specials`: (beat, FP16 activation, code) placed on finite activations:
# Inf times a non-zero INT8 weight / FP4 pair (1.5, 0 in mode 1: Inf and Inf x 0); Inf times
# a zero code (NaN); Inf - Inf; a NaN; Inf times the most negative INT8 / the FP4 pair
# (-0, +0); the extreme finite values.
_DUAL_SPECIALS = (
    ((3, 0x7C00, 0x30),),
    ((5, 0xFC00, 0x00),),
    ((2, 0x7C00, 0x11), (7, 0x7C00, 0x99)),
    ((1, 0x7C01, 0x22), (4, 0xFFFF, 0x00)),
    ((6, 0xFC00, 0x80),),
    ((0, 0x7BFF, 0x45), (1, 0xFBFF, 0x5D), (2, 0x0400, 0x0F), (3, 0x8001, 0xF1),
     (4, 0x03FF, 0x7F), (5, 0x8000, 0xFF)),
)


def _dual_specials(rng, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(activations, codes) of the `_DUAL_SPECIALS` rows: random finite elsewhere."""
    a = random_fp16(rng, (len(_DUAL_SPECIALS), k))
    w = rng.integers(0, 256, a.shape)
    for row, places in enumerate(_DUAL_SPECIALS):
        for beat, act, code in places:
            a[row, beat % k], w[row, beat % k] = act, code
    return a, w


def fp16_dual_mac_cases(k=16, seed=11, pipeline=None) -> list[Case]:
    """In each mode: every 8-bit code (256 INT8 weights; all 16 x 16 pairs of FP4 codes, ±0
    among them) on finite activations, the FP16 specials of `_DUAL_SPECIALS`, random codes on
    any finite activations and on tiny ones (subnormal sums; products of half the smallest
    subnormal, which round to zero of their sign); then outputs whose beats mix the modes and
    overflow to Inf of each sign."""
    from hwsim.hw.rtl.fp16_dual_mac import FP16_DUAL_MAC_PIPELINE

    rng = np.random.default_rng(seed)
    reps = math.ceil(256 / k)
    codes = np.resize(np.arange(256), (reps, k))  # every code at least once
    small = np.concatenate([rng.integers(0, 0x20, (1, k)), np.full((1, k), 0x8001)]) \
        | (rng.integers(0, 2, (2, k)) << 15) * np.array([[1], [0]])
    halves = np.stack([rng.integers(0, 8, k) * 0x11, np.full(k, 0x11)])  # FP4 pairs >= 0
    top = np.full((2, k), FP16_MAX) | np.array([[0], [0x8000]])
    a_parts, w_parts, modes = [], [], []
    for mode in (0, 1):
        sa, sw = _dual_specials(rng, k)
        a_parts += [random_fp16(rng, (reps, k)), sa, raw_fp16(rng, (2, k)), small]
        w_parts += [codes, sw, rng.integers(0, 256, (2, k)),
                    halves if mode else halves & 0x07]
        modes.append(np.full(reps + len(sa) + 4, mode))
    # Mixed modes; then the most negative INT8 and the FP4 pair (6, -6) at ±65504 overflow.
    a_parts += [random_fp16(rng, (2, k)), top, top]
    w_parts += [rng.integers(0, 256, (2, k)), np.full((2, k), 0x80), np.full((2, k), 0x7F)]
    a = np.concatenate(a_parts).astype(np.uint16)
    w = np.concatenate(w_parts)
    mode = np.concatenate([*(np.broadcast_to(m[:, None], (len(m), k)) for m in modes),
                           rng.integers(0, 2, (2, k)), np.zeros((2, k), np.int64),
                           np.ones((2, k), np.int64)]).astype(np.int64)
    out, out_hi, nf = fp16_dual_mac_model(a, w, mode)
    beats = [{"a": int(a[i, j]), "w": int(w[i, j]), "mode": int(mode[i, j])}
             for i in range(len(a)) for j in range(k)]
    expected = [{"out": int(o), "out_hi": int(h), "nonfinite": int(f)}
                for o, h, f in zip(out, out_hi, nf, strict=True)]
    cyc = int(pe_cycles.mac_pe_cycles(k, 1))
    fill = _mac_fill(FP16_DUAL_MAC_PIPELINE if pipeline is None else pipeline)
    return [Case("fp16_dual_mac", beats, expected, ["out", "out_hi", "nonfinite"], cyc + fill,
                 cyc)]


def bipolar_cases(lanes=8, weight_bits=4, act_bits=8, k=64, seed=8) -> list[Case]:
    from hwsim.hw.rtl.bipolar import bipolar_out_width

    out_width = bipolar_out_width(lanes, weight_bits, act_bits, k)
    rng = np.random.default_rng(seed)
    beats = math.ceil(k / lanes)
    alo, ahi = -(1 << (act_bits - 1)), 1 << (act_bits - 1)
    u_all = np.resize(np.arange(1 << weight_bits), (2, beats, lanes))  # every code
    a = np.concatenate([rng.integers(alo, ahi, (4, beats, lanes)), np.full((2, beats, lanes), alo)])
    u = np.concatenate([u_all, rng.integers(0, 1 << weight_bits, (2, beats, lanes)),
                        np.zeros((1, beats, lanes), np.int64),
                        np.full((1, beats, lanes), (1 << weight_bits) - 1)])
    a, u = _pad_lanes(a, u, k, lanes)
    ref = bipolar_model(a, u, weight_bits, act_bits)
    cyc = int(pe_cycles.bipolar_pe_cycles(k, lanes, weight_bits, act_bits))
    return [_mac_case("bipolar_pe", a, u, ref, out_width, cyc, lanes, act_bits, weight_bits)]


def _pad_lanes(a, w, k, lanes):
    """Zero the activations of the idle lanes of a partial last beat (k not a multiple)."""
    beats = a.shape[1]
    idx = np.arange(beats)[:, None] * lanes + np.arange(lanes)[None, :]
    return np.where(idx[None] < k, a, 0), w
