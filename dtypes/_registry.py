"""The registry: every format by canonical name, aliases, and generic names.

Names are case-insensitive. Generic names are parsed on demand: ``intN`` / ``intN_asym``
(N = 2..16), ``bipolarN`` (N = 1..8), ``fpN_eXmY`` (finite OCP-style minifloat,
N = 1 + X + Y, X <= 7, at most 16 bits) and ``dint4_sXpY`` (dINT with special value +X.Y LSB;
``dint4_smXpY`` for a negative one).
"""

from __future__ import annotations

import difflib
import re
from functools import cache

import numpy as np

from hwsim.dtypes import _tables as T
from hwsim.dtypes._element import ElementFormat
from hwsim.dtypes._format import FloatFormat, Format
from hwsim.errors import HwsimError

__all__ = ["get_element", "get_format", "list_formats"]

AnyFormat = Format | FloatFormat

_GROUP = 128
_FP_SRC = "OCP MX v1.0 element types / IEEE; values as ml_dtypes"


def _absmax(elem: ElementFormat, *, group: int | None = _GROUP, scale: str = "fp16",
            family: str | None = None, description: str | None = None, source: str | None = None,
            aliases: tuple[str, ...] = (), two_term: bool = False) -> Format:
    return Format(
        name=elem.name, types=(elem,), scheme="absmax", group_size=group, scale_format=scale,
        family=family or elem.family, description=description or elem.description,
        source=source or elem.source, aliases=aliases, two_term=two_term,
    )


# Formats whose magnitudes are sums of at most two powers of two (one fraction bit): E2M1
# (0, 0.5, 1, 1.5, 2, 3, 4, 6) and BitMoD's FP3/FP4 with their ER/EA special values (FP3: 3, 6;
# FP4: 5, 8 E2M1 units). BitMoD's bit-serial PE spends exactly two terms on each.
_TWO_TERM = frozenset(["fp4_e2m1", "fp3"] + [f"fp{b}_{k}_{s}" for b in (3, 4)
                                             for k in ("er", "ea") for s in ("pos", "neg")])


# Named minifloats: (exp bits, mantissa bits, specials, aliases, MX emax).
_MINIFLOATS = {
    "fp4_e2m1": (2, 1, "finite", ("e2m1", "float4_e2m1fn"), 2),
    "fp6_e2m3": (2, 3, "finite", ("e2m3", "float6_e2m3fn"), 2),
    "fp6_e3m2": (3, 2, "finite", ("e3m2", "float6_e3m2fn"), 4),
    "fp8_e4m3": (4, 3, "fn", ("e4m3", "fp8_e4m3fn", "float8_e4m3fn"), 8),
    "fp8_e5m2": (5, 2, "ieee", ("e5m2", "float8_e5m2"), 15),
}


@cache
def _elements() -> dict[str, ElementFormat]:
    elems: dict[str, ElementFormat] = {}
    for name, (e, m, specials, _aliases, _emax) in _MINIFLOATS.items():
        elems[name] = T.minifloat(e, m, specials, name=name, source=_FP_SRC)
    elems["fp3"] = T.bitmod_fp3(None, "fp3")
    for kind, fp3_special, fp4_special in (("er", 3.0, 5.0), ("ea", 6.0, 8.0)):
        for sign, s in (("pos", 1.0), ("neg", -1.0)):
            elems[f"fp3_{kind}_{sign}"] = T.bitmod_fp3(s * fp3_special, f"fp3_{kind}_{sign}")
            elems[f"fp4_{kind}_{sign}"] = T.bitmod_fp4(s * fp4_special, f"fp4_{kind}_{sign}")
    elems["flint4"] = T.flint4()
    elems["pot4"] = T.pot4()
    elems["ant_int4"] = T.int_twos_complement(4, "ant_int4", "ANT (MICRO 2022)")
    olive = T.int_symmetric(4)
    values = olive.code_values.copy()
    values[8] = 0.0  # the identifier 0b1000 marks a victim, which decodes to 0
    elems["olive_int4"] = ElementFormat(
        name="olive_int4", bits=4, code_values=values, valid=np.ones(16, dtype=bool),
        tie="upper", layout="b3 b2 b1 b0 (0b1000 = victim identifier)", family="olive",
        description="OliVe normal values -7..7; 0b1000 marks a victim",
        source="OliVe (ISCA 2023)",
    )
    elems["olive_abfloat4"] = T.olive_outlier()
    elems["dint4"] = T.dint4()
    elems["nf4"] = T.nf4()
    elems["ternary"] = T.ternary()
    elems["binary"] = T.binary()
    elems["e8m0"] = T.e8m0()
    mxint8 = T.int_twos_complement(8, "mxint8_elem", "OCP Microscaling v1.0")
    elems["mxint8_elem"] = ElementFormat(
        name="mxint8_elem", bits=8, code_values=mxint8.code_values / 64.0, valid=mxint8.valid,
        tie="even", layout="b7 .. b0 (two's complement, x 2^-6)", family="mx",
        description="MXINT8 element: k/64 for k in -128..127", source="OCP Microscaling v1.0",
    )
    return elems


def get_element(name: str) -> ElementFormat:
    """Element format by name (tables without a scaling scheme, e.g. ``"e8m0"``)."""
    try:
        return _elements()[name]
    except KeyError:
        raise HwsimError(f"unknown element format {name!r}; known: {sorted(_elements())}") from None


@cache
def _formats() -> dict[str, AnyFormat]:
    el = _elements()
    fmts: list[AnyFormat] = [
        FloatFormat("fp32", 32, 8, 23, "IEEE single precision (reference)",
                    aliases=("float32", "f32")),
        FloatFormat("fp16", 16, 5, 10, "IEEE half precision (reference)",
                    aliases=("float16", "half", "f16")),
        FloatFormat("bf16", 16, 8, 7, "bfloat16 (reference)", aliases=("bfloat16",)),
    ]
    fmts += [_int(b) for b in range(2, 9)] + [_int_asym(b) for b in range(2, 9)]
    for name, (_e, _m, _s, aliases, _emax) in _MINIFLOATS.items():
        fmts.append(_absmax(el[name], aliases=aliases, scale=_wide_scale(el[name]),
                            two_term=name in _TWO_TERM))
    for name in ("fp3", "fp3_er_pos", "fp3_er_neg", "fp3_ea_pos", "fp3_ea_neg",
                 "fp4_er_pos", "fp4_er_neg", "fp4_ea_pos", "fp4_ea_neg"):
        fmts.append(_absmax(el[name], scale="int8", two_term=name in _TWO_TERM))
    for bits in (3, 4):
        types = tuple(el[f"fp{bits}_{k}_{s}"] for k in ("er", "ea") for s in ("pos", "neg"))
        fmts.append(Format(
            name=f"bitmod{bits}", types=types, scheme="mixture", group_size=_GROUP,
            scale_format="int8", selector_bits=2, family="bitmod", two_term=True,
            description=f"BitMoD mixture of FP{bits} ER/EA types, one per group of 128",
            source="BitMoD (HPCA 2025)",
        ))
    for name in ("flint4", "pot4"):
        e = el[name]
        fmts.append(Format(name=name, types=(e,), scheme="ant", group_size=None,
                           scale_format="fp16", family="ant", description=e.description,
                           source=e.source))
    fmts.append(Format(
        name="ant4", types=(el["ant_int4"], el["flint4"], el["pot4"]), scheme="ant",
        group_size=None, scale_format="fp16", family="ant",
        description="ANT adaptive: int4 / flint4 / pot4 chosen per tensor by MSE",
        source="ANT (MICRO 2022)",
    ))
    fmts.append(Format(
        name="olive4", types=(el["olive_int4"], el["olive_abfloat4"]), scheme="olive",
        group_size=None, scale_format="fp16", family="olive",
        description="OliVe outlier-victim pairs: int4 normals, abfloat outliers",
        source="OliVe (ISCA 2023)",
    ))
    fmts.append(_absmax(el["dint4"]))
    fmts += [_absmax(T.bipolar(b)) for b in range(2, 9)]
    for name, elem_name in (("mxfp4", "fp4_e2m1"), ("mxfp6_e2m3", "fp6_e2m3"),
                            ("mxfp6_e3m2", "fp6_e3m2"), ("mxfp8_e4m3", "fp8_e4m3"),
                            ("mxfp8_e5m2", "fp8_e5m2"), ("mxint8", "mxint8_elem")):
        emax = 0 if name == "mxint8" else _MINIFLOATS[elem_name][4]
        fmts.append(Format(
            name=name, types=(el[elem_name],), scheme="mx", group_size=32, scale_format="e8m0",
            family="mx", description=f"OCP MX: 32 x {elem_name} with an E8M0 scale",
            source="OCP Microscaling v1.0", params={"emax": emax},
        ))
    fmts.append(Format(
        name="nvfp4", types=(el["fp4_e2m1"],), scheme="nvfp4", group_size=16,
        scale_format="e4m3", family="mx",
        description="NVIDIA NVFP4: 16 x E2M1, E4M3 block scale, FP32 tensor scale",
        source="NVIDIA Blackwell NVFP4 (torchao reference)",
    ))
    fmts.append(_absmax(el["nf4"], group=64, scale="fp32"))
    fmts.append(Format(name="ternary", types=(el["ternary"],), scheme="tensor_mean",
                       group_size=None, scale_format="fp32", family="ternary",
                       description="BitNet b1.58: s = 1/mean|W| per tensor, round, clamp",
                       source="BitNet b1.58", aliases=("ternary158", "bitnet")))
    fmts.append(Format(name="binary", types=(el["binary"],), scheme="row_mean",
                       group_size=None, scale_format="fp16", family="ternary",
                       description="sign binarization, alpha = mean|W| per row",
                       source="BinaryConnect / BiLLM"))
    return {f.name: f for f in fmts}


def _wide_scale(elem: ElementFormat) -> str:
    """FP16 scales, except for wide element types, whose scale absmax / max_abs would be an
    FP16 subnormal for the weights of real models and lose its precision (E5M2: any absmax
    below 3.5; INT14: below 0.5, where a group of std-0.02 weights made int14 score worse than
    int12 and int16 worse than int10): FP32 there, beyond 1024 (INT12 and wider)."""
    return "fp32" if elem.max_abs > 1024 else "fp16"


def _int(bits: int) -> Format:
    e = T.int_symmetric(bits)
    return _absmax(e, aliases=(f"int{bits}_sym",), scale=_wide_scale(e))


def _int_asym(bits: int) -> Format:
    e = T.int_asym(bits)
    return Format(name=e.name, types=(e,), scheme="asym", group_size=_GROUP,
                  scale_format=_wide_scale(e),
                  family="int", description=e.description, source=e.source,
                  aliases=(f"uint{bits}",))


@cache
def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, f in _formats().items():
        out[name] = name
        for a in f.aliases:
            out[a] = name
    return out


_GENERIC_FP = re.compile(r"fp(\d+)_e(\d+)m(\d+)")
_GENERIC_INT = re.compile(r"int(\d+)(_asym)?")
_GENERIC_BIPOLAR = re.compile(r"bipolar(\d+)")
# dINT's unpinned special value as a parameter: dint4_s0p25 -> +0.25, dint4_sm0p5 -> -0.5.
_GENERIC_DINT = re.compile(r"dint4_s(m?)(\d+)p(\d+)")


@cache
def _generic(name: str) -> AnyFormat | None:
    if m := _GENERIC_FP.fullmatch(name):
        n, e, mb = (int(g) for g in m.groups())
        if n != 1 + e + mb:
            raise HwsimError(f"format {name!r}: {n} bits cannot hold 1 sign + {e} exponent + "
                             f"{mb} mantissa bits (need {1 + e + mb})")
        if not 1 <= e <= 7 or n > 16:
            # Eight exponent bits span float32's own range: the group scale, absmax / 2**127,
            # would be an FP32 subnormal (1.0 came back 0.99999994; float32 input overflowed).
            raise HwsimError(f"format {name!r}: exponent bits must be 1..7 (an 8-bit exponent "
                             "puts the group scale below FP32's normal range) and total bits "
                             "at most 16")
        elem = T.minifloat(e, mb, "finite", source="generic OCP-style minifloat")
        return _absmax(elem, scale=_wide_scale(elem))
    if m := _GENERIC_INT.fullmatch(name):
        bits = int(m.group(1))
        if not 2 <= bits <= 16:
            raise HwsimError(f"format {name!r}: integer bits must be 2..16, not {bits}")
        return _int_asym(bits) if m.group(2) else _int(bits)
    if m := _GENERIC_DINT.fullmatch(name):
        special = float(f"{m.group(2)}.{m.group(3)}") * (-1 if m.group(1) else 1)
        if not 0 < abs(special) < 1:
            raise HwsimError(f"format {name!r}: the dINT special value must be a sub-LSB "
                             f"magnitude (0 < |s| < 1), not {special:g}")
        return _absmax(T.dint4(special))
    if m := _GENERIC_BIPOLAR.fullmatch(name):
        bits = int(m.group(1))
        if not 1 <= bits <= 8:
            raise HwsimError(f"format {name!r}: bipolar bits must be 1..8, not {bits}")
        return _absmax(T.bipolar(bits))
    return None


def get_format(name: str | AnyFormat) -> AnyFormat:
    """The format called `name` (case-insensitive, aliases accepted); a format is returned as is.

    Raises:
        HwsimError: unknown name (the message lists the closest known names) or impossible
            parameters in a generic name.
    """
    if isinstance(name, Format | FloatFormat):
        return name
    if not isinstance(name, str):
        raise HwsimError(f"format name must be a string, not {name!r}")
    key = name.strip().lower().replace("-", "_")
    aliases = _aliases()
    if key in aliases:
        return _formats()[aliases[key]]
    generic = _generic(key)
    if generic is not None:
        return generic
    # Suggest only names `hwsim dtypes list` shows: an alias that is close suggests its format.
    close = difflib.get_close_matches(key, list(aliases), n=10, cutoff=0.5)
    shown = list(dict.fromkeys(aliases[c] for c in close))[:5]
    hint = f"did you mean {', '.join(shown)}?" if shown else "see `hwsim dtypes list`"
    raise HwsimError(f"unknown format {name!r}; {hint}")


def list_formats() -> list[str]:
    """Canonical names of the registered formats, in listing order."""
    return list(_formats())
