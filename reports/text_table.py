"""Terminal tables that never cut a number, whatever the terminal's width.

Every command prints its tables through `print_table`. A `TextTable` holds formatted cells and
column descriptions (header, unit, priority). To fit a width the table, in this order:

1. wraps headers at spaces and text columns marked ``wrap`` at spaces;
2. drops the columns of lowest priority (highest ``priority`` number) one at a time, and says
   which in a note under the table (where they can be read in full is the caller's ``more``);
3. when even the priority-0 columns do not fit, stacks: each row as ``header: value`` lines.

A number cell never wraps and is never shortened with an ellipsis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Column", "TextTable", "fit_columns", "print_table", "render_table"]

# Rich's default box with padding (0, 1): one border before every column and after the last,
# one space of padding each side of a cell.
_PER_COLUMN = 3
_EDGE = 1


@dataclass(frozen=True)
class Column:
    """One column: its header (the unit, if any, is shown as ``header (unit)``), how it is
    aligned, whether its text may wrap at spaces, and how soon it is dropped when narrow
    (0: never; larger numbers first)."""

    header: str
    unit: str = ""
    priority: int = 0
    align: str = "right"
    wrap: bool = False

    @property
    def title(self) -> str:
        return f"{self.header} ({self.unit})" if self.unit else self.header


@dataclass(frozen=True)
class TextTable:
    """A table ready to print: columns, rows of formatted cells, notes printed under it, and
    where the columns dropped at a narrow width can be read (``more``, e.g. "summary.json")."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()
    more: str = ""

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.title!r}: a row has {len(row)} cells for "
                                 f"{len(self.columns)} columns")

    @classmethod
    def build(cls, title: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]],
              notes: Sequence[str] = (), more: str = "") -> TextTable:
        return cls(title, tuple(columns), tuple(tuple(str(c) for c in r) for r in rows),
                   tuple(notes), more)


def _longest_word(text: str) -> int:
    return max((len(w) for w in text.split()), default=0)


def _min_width(table: TextTable, j: int) -> int:
    col = table.columns[j]
    cells = [row[j] for row in table.rows]
    if col.wrap:
        cell = max((_longest_word(c) for c in cells), default=0)
    else:
        cell = max((len(c) for c in cells), default=0)
    return max(cell, _longest_word(col.title), 1)


def _width(widths: Sequence[int]) -> int:
    return sum(widths) + _PER_COLUMN * len(widths) + _EDGE


def _natural_width(table: TextTable, j: int) -> int:
    return max([len(table.columns[j].title), *(len(row[j]) for row in table.rows)])


def column_widths(table: TextTable, shown: Sequence[int], width: int) -> list[int]:
    """Widths of the `shown` columns: each at its natural width (whole header, whole cells)
    while that fits, else the widest columns narrowed one character at a time, never below
    their minimum (longest number, longest header word)."""
    widths = [_natural_width(table, j) for j in shown]
    mins = [_min_width(table, j) for j in shown]
    while _width(widths) > width:
        slack = [w - m for w, m in zip(widths, mins, strict=True)]
        i = max(range(len(widths)), key=lambda i: (slack[i] > 0, widths[i]))
        if slack[i] <= 0:
            break
        widths[i] -= 1
    return widths


def fit_columns(table: TextTable, width: int) -> list[int] | None:
    """Indexes of the columns shown at `width` (in table order), or None to stack the rows."""
    shown = list(range(len(table.columns)))
    mins = {j: _min_width(table, j) for j in shown}
    # Drop order: highest priority number first; among equals, the rightmost first.
    droppable = sorted((j for j in shown if table.columns[j].priority > 0),
                       key=lambda j: (table.columns[j].priority, j), reverse=True)
    while _width([mins[j] for j in shown]) > width:
        if not droppable:
            return None
        shown.remove(droppable.pop(0))
    return shown


def _stacked_lines(table: TextTable, width: int) -> list[str]:
    import textwrap

    label = max(len(c.title) for c in table.columns)
    lines = []
    for i, row in enumerate(table.rows):
        if i:
            lines.append("")
        for col, cell in zip(table.columns, row, strict=True):
            indent = " " * (label + 2)
            text = f"{col.title.rjust(label)}: {cell}"
            if len(text) <= width or not col.wrap:
                lines.append(text)  # a number is never wrapped, even past the edge
            else:
                lines.extend(textwrap.wrap(text, width, subsequent_indent=indent,
                                           break_long_words=False, break_on_hyphens=False))
    return lines


def render_table(table: TextTable, width: int) -> list[Any]:
    """The rich renderables that print `table` within `width` columns (see the module doc)."""
    from rich.table import Table
    from rich.text import Text

    shown = fit_columns(table, width)
    out: list[Any] = []
    if shown is None:
        out.append(Text(table.title, style="italic", justify="center"))
        out.extend(Text(line) for line in _stacked_lines(table, width))
        out.append(Text(f"(narrow terminal: one line per column; {width} columns are too few "
                        "for the table)", style="dim"))
    else:
        rt = Table(title=table.title or None)
        for j, w in zip(shown, column_widths(table, shown, width), strict=True):
            col = table.columns[j]
            # Every column is at least as wide as its longest number (its minimum width), so
            # only headers and text columns marked `wrap` ever wrap, and only at spaces.
            rt.add_column(col.title, justify="left" if col.align == "left" else "right",
                          width=w, overflow="fold")
        for row in table.rows:
            rt.add_row(*(row[j] for j in shown))
        out.append(rt)
        dropped = [table.columns[j].title for j in range(len(table.columns)) if j not in shown]
        if dropped:
            where = f" (all of them in {table.more})" if table.more else ""
            out.append(Text(f"narrow terminal: not shown: {', '.join(dropped)}{where}",
                            style="dim"))
    out.extend(Text(note) for note in table.notes)
    return out


def print_table(console: Any, table: TextTable) -> None:
    """Print `table` on a rich console, fitted to its width."""
    for renderable in render_table(table, console.width):
        console.print(renderable, highlight=False, crop=False)
