"""Bit-exact NumPy golden model of low-bit number formats.

The public surface::

    from hwsim.dtypes import get_format, list_formats, quantize, bits_per_weight
    fmt = get_format("fp4_ea_pos")
    fmt.bits, fmt.values, fmt.codes
    fmt.decode(fmt.encode(x))              # nearest representable values (format's tie rule)
    r = quantize(w, "bitmod4", group_size=128)
    r.dequantized, r.codes, r.scales, r.bits_per_weight, r.mse, r.sqnr_db

Formats are frozen descriptions (`Format`, `FloatFormat`, with `ElementFormat` code
tables); `quantize` is vectorized over whole tensors. Knows nothing of models or hardware.
"""

from hwsim.dtypes._element import ElementFormat
from hwsim.dtypes._format import SCHEMES, FloatFormat, Format, format_group_problem
from hwsim.dtypes._grid import TIE_RULES
from hwsim.dtypes._metrics import error_metrics, sqnr_db
from hwsim.dtypes._quantize import QuantResult, bits_per_weight, quantize, quantize_named
from hwsim.dtypes._registry import AnyFormat, get_element, get_format, list_formats
from hwsim.dtypes._scale import SCALE_BITS

__all__ = [
    "SCALE_BITS",
    "SCHEMES",
    "TIE_RULES",
    "AnyFormat",
    "ElementFormat",
    "FloatFormat",
    "Format",
    "QuantResult",
    "bits_per_weight",
    "error_metrics",
    "format_group_problem",
    "get_element",
    "get_format",
    "list_formats",
    "quantize",
    "quantize_named",
    "sqnr_db",
]
