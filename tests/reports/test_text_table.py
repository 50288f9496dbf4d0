"""Terminal tables: a number is never cut, at any width; narrow widths drop or stack."""

import io
import re

import pytest
from rich.console import Console

from hwsim.reports.text_table import Column, TextTable, fit_columns, print_table

WIDTHS = (60, 80, 200)


def render(table: TextTable, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    print_table(console, table)
    return console.file.getvalue()


def wide_table() -> TextTable:
    columns = [Column("design", align="left"), Column("latency", "ms"),
               Column("energy per token", "mJ", priority=1),
               Column("decode tokens per second", priority=2),
               Column("a long descriptive note", align="left", priority=3, wrap=True),
               Column("area", "mm²", priority=4)]
    rows = [["bitmod", "135200.5", "74.6", "6.737", "runs the workload's weights as written",
             "5.83"],
            ["fp16-baseline", "10680.25", "202.6", "2.052", "its own fp16 weights", "5.8"]]
    return TextTable.build("a table wider than 80 columns", columns, rows, more="summary.json")


@pytest.mark.parametrize("width", WIDTHS)
def test_no_number_is_cut_at_any_width(width):
    table = wide_table()
    text = render(table, width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    shown = fit_columns(table, width)
    for row in table.rows:
        for j, cell in enumerate(row):
            if (shown is None or j in shown) and not table.columns[j].wrap:
                assert cell in text, (cell, width)
    if shown is not None and len(shown) < len(table.columns):
        dropped = [c.title for j, c in enumerate(table.columns) if j not in shown]
        note = " ".join(text.split())
        assert f"not shown: {', '.join(dropped)} (all of them in summary.json)" in note


def test_columns_drop_in_priority_order():
    table = wide_table()
    assert fit_columns(table, 200) == [0, 1, 2, 3, 4, 5]
    shown = fit_columns(table, 60)
    # The highest priority numbers go first: area (4), then the note (3), ...
    assert shown is not None and shown[:2] == [0, 1]
    assert 5 not in shown


def test_stacks_when_even_the_kept_columns_do_not_fit():
    columns = [Column("design", align="left"), Column("latency", "ms"), Column("energy", "mJ")]
    rows = [["a-very-long-design-name-from-a-file", "135200.5", "74.6"]]
    table = TextTable.build("t", columns, rows)
    assert fit_columns(table, 40) is None
    text = render(table, 40)
    assert "latency (ms): 135200.5" in text
    assert "energy (mJ): 74.6" in text
    assert "one line per column" in text


def test_headers_wrap_at_spaces_never_mid_word():
    text = render(wide_table(), 80)
    words = re.findall(r"[A-Za-z]+", text)
    for word in ("latency", "energy", "token", "decode", "tokens", "second"):
        assert word in words


def test_a_row_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="a row has 1 cells for 2 columns"):
        TextTable.build("t", [Column("a"), Column("b")], [["x"]])


def test_of_equal_priorities_the_rightmost_column_goes_first():
    columns = [Column("design", align="left"), Column("aa", priority=1),
               Column("bb", priority=1)]
    table = TextTable.build("t", columns, [["d", "1", "2"]])
    # Minimum widths 6 + 2 + 2, 3 per column, 1 edge: all three need 20, two need 15.
    assert fit_columns(table, 20) == [0, 1, 2]
    assert fit_columns(table, 16) == [0, 1]
