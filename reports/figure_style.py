"""One look for every figure hwsim draws: palettes, sizes, unit-scaled axes, file formats.

- Colours are colour-blind safe (Okabe & Ito's eight, then Paul Tol's muted set) and fixed per
  meaning: an operator class, a number format's family or a design has the same colour in the
  `run`, `roofline`, `quantize`, `tradeoff` and `sweep` figures. Formats of one family differ
  by marker as well, so ant4/dint4 or olive4/bipolar4 never look alike.
- Sizes and fonts are chosen to stay readable when a figure is scaled to one column (3.5 in).
- Axes show quantities in a unit scaled to their magnitude (`scale_axis`), never matplotlib's
  "1e8" offset; log axes use engineering prefixes.
- `save_figure` writes PNG, PDF and/or SVG without dates or version stamps, so identical
  inputs give byte-identical files.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas: no pyplot state.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hwsim.errors import HwsimError
from hwsim.files import comma_list
from hwsim.reports.units import pick_unit

__all__ = [
    "FIGURE_FORMATS",
    "OP_CLASS_COLORS",
    "categorical_styles",
    "figure_bytes",
    "format_style",
    "new_figure",
    "op_class_color",
    "parse_figure_formats",
    "save_figure",
    "scale_axis",
    "style",
]

FIGURE_FORMATS = ("png", "pdf", "svg")

# Okabe & Ito (2008), then Paul Tol's "muted" scheme: all distinguishable with the common
# colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000", "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77",
           "#CC6677", "#882255", "#AA4499", "#777777")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")

# Operator classes in a fixed order: the same class has the same colour in every figure.
OP_CLASS_COLORS = {
    "attention": "#0072B2", "attn_proj": "#56B4E9", "ffn": "#E69F00", "lm_head": "#009E73",
    "embed": "#CC79A7", "norm": "#D55E00", "residual": "#F0E442", "router": "#000000",
    "gemm": "#777777",
}

# Format families (the name's prefix) -> colour; formats of one family differ by marker.
_FAMILY_COLORS = (
    ("bitmod", "#D55E00"), ("ant", "#0072B2"), ("flint", "#0072B2"), ("pot", "#0072B2"),
    ("olive", "#E69F00"), ("dint", "#009E73"), ("bipolar", "#CC79A7"), ("mxfp", "#56B4E9"),
    ("mxint", "#56B4E9"), ("nvfp", "#882255"), ("nf", "#332288"), ("int", "#777777"),
    ("uint", "#777777"), ("fp", "#44AA99"), ("bf", "#000000"), ("ternary", "#999933"),
    ("binary", "#999933"),
)
_FAMILY_MARKERS = {"bitmod": "D", "ant": "s", "olive": "^", "dint": "v", "bipolar": "P",
                   "mxfp": "X", "mxint": "X", "nvfp": "h", "nf": "*", "int": "o", "fp": "p",
                   "bf": "<", "ternary": ">", "binary": ">"}

_RC = {
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "legend.fontsize": 7.5,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.5, "axes.spines.top": False, "axes.spines.right": False,
    "axes.formatter.useoffset": False, "axes.formatter.limits": (-4, 5),
    "svg.hashsalt": "hwsim", "svg.fonttype": "none", "pdf.fonttype": 42,
    "savefig.bbox": "tight", "savefig.pad_inches": 0.05,
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Draw (and save) inside this context: hwsim's fonts, grid, no axis offsets."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        yield


def new_figure(width: float = 5.0, height: float = 3.4, **kwargs: Any) -> Any:
    """A `Figure` on the Agg canvas with constrained layout (titles never collide)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def op_class_color(op_class: str) -> str:
    """The colour of an operator class (classes outside the table get a stable extra one)."""
    if op_class in OP_CLASS_COLORS:
        return OP_CLASS_COLORS[op_class]
    return PALETTE[8 + sum(map(ord, op_class)) % (len(PALETTE) - 8)]


def format_style(name: str) -> tuple[str, str]:
    """``(colour, marker)`` of a number format: colour by family, marker by family and bits."""
    lower = name.lower()
    for prefix, color in _FAMILY_COLORS:
        if lower.startswith(prefix):
            return color, _FAMILY_MARKERS.get(prefix, "o")
    return PALETTE[sum(map(ord, lower)) % len(PALETTE)], "o"


def categorical_styles(values: Iterable[Any]) -> dict[Any, tuple[str, str]]:
    """``{value: (colour, marker)}`` for the distinct values in order of first appearance:
    designs in a comparison, values of a sweep axis."""
    out: dict[Any, tuple[str, str]] = {}
    for v in values:
        if v not in out:
            i = len(out)
            out[v] = (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)])
    return out


def scale_axis(ax: Any, which: str, values: Iterable[Any], kind: str, label: str) -> float:
    """Label an axis ``label (unit)`` with the unit scaled to the largest of `values` (base SI:
    seconds or joules) and return the divisor to apply to the data drawn on it."""
    name, size = pick_unit(values, kind)
    (ax.set_xlabel if which == "x" else ax.set_ylabel)(f"{label} ({name})")
    return size


def parse_figure_formats(text: str | None, option: str = "--figure-format") -> tuple[str, ...]:
    """``"png,pdf"`` -> ``("png", "pdf")``; an unknown format is one clear error."""
    if text is None:
        return ("png",)
    items = [t.lower() for t in comma_list(text, option)]
    if any(t not in FIGURE_FORMATS for t in items):
        raise HwsimError(f"{option} {text!r}: expected a comma-separated list of "
                         f"{', '.join(FIGURE_FORMATS)}")
    twice = [t for t in FIGURE_FORMATS if items.count(t) > 1]
    if twice:
        raise HwsimError(f"{option} {text!r}: {', '.join(twice)} given twice")
    return tuple(items)


def _save_kwargs(fmt: str) -> dict[str, Any]:
    # No software version or date in any file: identical inputs give identical bytes.
    metadata = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None,
                                                   "CreationDate": None},
                "svg": {"Creator": None, "Date": None}}[fmt]
    return {"format": fmt, "metadata": metadata, "dpi": 150}


def _settle_layout(fig: Any) -> None:
    """Lay ``fig`` out once, on the Agg canvas, and keep that layout for every save.

    Constrained layout runs at each save starting from the positions the last one left, so
    a figure's bytes depended on the formats saved before it (an SVG written after a PNG
    differed from one written alone)."""
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    engine = fig.get_layout_engine()
    if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):  # not yet
        fig.canvas.draw()
        fig.set_layout_engine("none")  # keeps the positions, runs no layout again


def figure_bytes(fig: Any, fmt: str = "png") -> bytes:
    """The figure encoded as `fmt` (png, pdf or svg): the same bytes whichever formats were
    saved before (the layout is settled at the first save)."""
    buf = io.BytesIO()
    with style():
        _settle_layout(fig)
        fig.savefig(buf, **_save_kwargs(fmt))
    return buf.getvalue()


def save_figure(fig: Any, path: str | Path, formats: Sequence[str] = ("png",)) -> list[Path]:
    """Write `fig` as ``path`` with each suffix of `formats`; returns the paths written."""
    base = Path(path)
    written = []
    for fmt in formats:
        target = base.with_suffix(f".{fmt}")
        target.write_bytes(figure_bytes(fig, fmt))
        written.append(target)
    return written
