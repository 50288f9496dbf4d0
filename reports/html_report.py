"""One self-contained, interactive ``report.html`` per command (run, roofline, sweep, tradeoff).

The page needs no network: Bokeh's JavaScript is inlined (about 1.3 MB), the style sheet and the
table-sorting script are a few lines of our own. It holds

- the summary: every number with its unit; each cell also carries the exact value it shows
  (``data-key`` is its path in ``summary.json``, ``data-value`` the value there), so a reader
  (or a test) can hold the page against the JSON;
- interactive plots (hover shows the operator or design point and its values);
- tables whose columns sort on a click (numerically on ``data-value``).

Identical inputs give byte-identical pages: Bokeh's model ids are numbered from a fixed start
and its random document ids are replaced by ids in order of appearance.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.reports.output_files import write_file
from hwsim.reports.units import format_number, format_quantity

__all__ = [
    "HtmlTable",
    "SummaryItem",
    "lookup",
    "render_html",
    "summary_item",
    "write_html",
]

MAX_BYTES = 5 * 2**20  # a report stays small enough to mail


@dataclass(frozen=True)
class SummaryItem:
    """One number of the summary: label, its path in ``summary.json`` (dot-separated; list
    indexes as numbers), the value there and how it is shown."""

    label: str
    key: str
    value: Any
    shown: str
    column: str = ""  # e.g. the design: items sharing a label form one row, a column each


def lookup(data: Any, key: str) -> Any:
    """The value at a dot-separated `key` of nested dicts and lists (None when absent). A
    dict key may itself hold dots (a sweep axis such as ``buffers.weight.kib``): the longest
    key present wins."""
    parts = key.split(".")
    node = data
    while parts:
        if isinstance(node, list):
            try:
                node = node[int(parts.pop(0))]
            except (ValueError, IndexError):
                return None
            continue
        if not isinstance(node, dict):
            return None
        for n in range(len(parts), 0, -1):
            name = ".".join(parts[:n])
            if name in node:
                node = node[name]
                parts = parts[n:]
                break
        else:
            return None
    return node


def summary_item(summary: dict[str, Any], label: str, key: str, kind: str | None = None,
                 scale: float = 1.0, unit: str = "", column: str = "") -> SummaryItem | None:
    """The item at `key` of `summary` (None when absent or null). `kind` ("time"/"energy")
    shows it in a unit scaled to its magnitude after multiplying by `scale` (to seconds or
    joules); otherwise the number is shown with `unit`."""
    node = lookup(summary, key)
    if node is None:
        return None
    if isinstance(node, int | float) and not isinstance(node, bool):
        shown = (format_quantity(node * scale, kind) if kind
                 else f"{format_number(node * scale)}{(' ' + unit) if unit else ''}")
    else:
        shown = str(node)
    return SummaryItem(label, key, node, shown, column)


@dataclass(frozen=True)
class HtmlTable:
    """A sortable table: headers (units included) and rows of cells; a cell is text, or a
    number shown with `format_number` and sorted by its value."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""

    @classmethod
    def from_frame(cls, title: str, frame: Any, headers: dict[str, str] | None = None,
                   note: str = "") -> HtmlTable:
        """All columns of a DataFrame; `headers` renames (and so chooses) columns."""
        cols = list(headers) if headers else list(frame.columns)
        names = [headers[c] for c in cols] if headers else cols
        rows = tuple(tuple(_plain(v) for v in rec) for rec in
                     frame[cols].itertuples(index=False, name=None))
        return cls(title, tuple(names), rows, note)


def _plain(v: Any) -> Any:
    """NumPy scalars as Python numbers (json and formatting treat them alike)."""
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        return v.item()
    return v


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;
max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.4em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em}
.sub{color:#555;margin-top:0}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th{background:#f3f3f3;position:sticky;top:0}
td.t,th.t{text-align:left}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
.kv td:first-child{text-align:left;color:#444}
.scroll{max-height:32em;overflow:auto;border:1px solid #eee}
.note{color:#555;font-size:.85em}
.plots>div{margin:1em 0}
"""

# Click a header: sort its column (numbers by data-value, text by content); click again to
# reverse. No library, no network.
_SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function(table){
  table.querySelectorAll("th").forEach(function(th, col){
    th.addEventListener("click", function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function(h){ h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      rows.sort(function(a, b){
        var x = a.cells[col], y = b.cells[col];
        var u = x.dataset.value, v = y.dataset.value, r;
        if (u !== undefined && v !== undefined) { r = parseFloat(u) - parseFloat(v); }
        else { r = x.textContent.localeCompare(y.textContent); }
        return asc ? r : -r;
      });
      rows.forEach(function(row){ body.appendChild(row); });
    });
  });
});
"""


def _cell(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return f'<td class="t">{html.escape("-" if v is None else str(v))}</td>'
    if isinstance(v, int | float):
        if isinstance(v, float) and math.isnan(v):
            return '<td data-value="NaN">-</td>'
        return f'<td data-value="{v!r}">{html.escape(format_number(v))}</td>'
    return f'<td class="t">{html.escape(str(v))}</td>'


def _table_html(table: HtmlTable, table_id: str) -> str:
    numeric = [all(isinstance(r[j], int | float) and not isinstance(r[j], bool)
                   for r in table.rows if r[j] is not None)
               for j in range(len(table.headers))]
    head = "".join(f'<th class="{"" if n else "t"}">{html.escape(h)}</th>'
                   for h, n in zip(table.headers, numeric, strict=True))
    body = "\n".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (f"<h2>{html.escape(table.title)}</h2>{note}<div class=\"scroll\">"
            f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}\n</tbody></table></div>")


def _matrix_html(items: Sequence[SummaryItem], table_id: str) -> str:
    """Items as rows by label and columns by `SummaryItem.column` (one column when unset)."""
    columns = list(dict.fromkeys(it.column for it in items))
    labels = list(dict.fromkeys(it.label for it in items))
    at = {(it.label, it.column): it for it in items}
    head = ""
    if columns != [""]:
        head = ("<thead><tr><th class=\"t\"></th>"
                + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr></thead>")
    rows = []
    for label in labels:
        cells = []
        for c in columns:
            it = at.get((label, c))
            if it is None:
                cells.append("<td>-</td>")
                continue
            value = json.dumps(it.value) if not isinstance(it.value, str) else it.value
            cells.append(f'<td data-key="{html.escape(it.key)}" data-value="{html.escape(value)}"'
                         f">{html.escape(it.shown)}</td>")
        rows.append(f"<tr><td>{html.escape(label)}</td>{''.join(cells)}</tr>")
    return f'<table class="kv" id="{table_id}">{head}<tbody>{"".join(rows)}</tbody></table>'


def _summary_html(items: Sequence[SummaryItem]) -> str:
    plain = [it for it in items if not it.column]
    columned = [it for it in items if it.column]
    parts = ["<h2>Summary</h2>"]
    if plain:
        parts.append(_matrix_html(plain, "summary"))
    if columned:
        parts.append(_matrix_html(columned, "summary-columns"))
    return "".join(parts)


@contextlib.contextmanager
def _stable_bokeh_ids() -> Iterator[None]:
    """Bokeh numbers its models from a process-wide counter: start it at the same place."""
    import bokeh.util.serialization as serialization

    saved = serialization._simple_id
    serialization._simple_id = 999
    try:
        yield
    finally:
        serialization._simple_id = max(saved, serialization._simple_id)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _stable_uuids(text: str) -> str:
    """Replace random UUIDs (Bokeh's document and root ids) by ids in order of appearance."""
    seen: dict[str, str] = {}

    def repl(m: re.Match[str]) -> str:
        return seen.setdefault(m.group(0), f"00000000-0000-4000-8000-{len(seen) + 1:012d}")

    return _UUID.sub(repl, text)


def render_html(title: str, subtitle: str, items: Sequence[SummaryItem],
                plots: Sequence[Callable[[], Any]] = (), tables: Sequence[HtmlTable] = (),
                notes: Sequence[str] = ()) -> str:
    """The page: title, summary, plots, tables.

    `plots` are functions that build a Bokeh figure (or layout): they are called here, so
    their models get the same ids on every run.
    """
    parts = [f"<h1>{html.escape(title)}</h1>",
             f'<p class="sub">{html.escape(subtitle)}</p>' if subtitle else "",
             _summary_html(items)]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    head_js = ""
    if plots:
        from bokeh.embed import components
        from bokeh.resources import Resources

        with _stable_bokeh_ids():
            script, divs = components([build() for build in plots])
        head_js = Resources(mode="inline", components=["bokeh"]).render_js()
        parts.append('<h2>Plots</h2><p class="note">Hover a point or bar for its values; drag '
                     "to pan, scroll to zoom (tools at the right of each plot).</p>"
                     '<div class="plots">' + "".join(divs) + "</div>" + script)
    parts += [_table_html(t, f"table{i}") for i, t in enumerate(tables)]
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n{head_js}\n</head>\n"
            "<body>\n" + "\n".join(p for p in parts if p)
            + f"\n<script>{_SORT_JS}</script>\n</body>\n</html>\n")
    return _stable_uuids(page)


def write_html(path: str | Path, page: str) -> Path:
    """Write the page (UTF-8); a page over `MAX_BYTES` is a bug, not something to ship."""
    data = page.encode("utf-8")
    if len(data) > MAX_BYTES:
        raise ValueError(f"report.html would be {len(data) / 2**20:.1f} MB, over the "
                         f"{MAX_BYTES / 2**20:.0f} MB limit")
    return write_file(Path(path), data)
