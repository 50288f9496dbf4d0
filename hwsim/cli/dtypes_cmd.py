"""`hwsim dtypes`: list, show and compare number formats."""

from __future__ import annotations

from pathlib import Path

import typer

from hwsim.cli.paths import given_path
from hwsim.errors import HwsimError

app = typer.Typer(help="Number formats: list them, show code tables, compare quantization error.",
                  no_args_is_help=True)


def _console():
    from rich.console import Console

    return Console()


@app.command("list")
def list_cmd() -> None:
    """A table of every format: bits, range, scheme, default group, scale storage, source."""
    from hwsim.dtypes import get_format, list_formats
    from hwsim.reports.text_table import Column, TextTable, print_table

    columns = [Column("name", align="left"), Column("bits"),
               Column("range", align="left", priority=1),
               Column("scheme", align="left", priority=3),
               Column("group", align="left", priority=2),
               Column("scale", align="left", priority=4), Column("tie", align="left", priority=5),
               Column("source", align="left", priority=6, wrap=True)]
    rows = []
    for name in list_formats():
        f = get_format(name)
        vals = f.values if f.bits <= 16 else None
        rng = f"±{f.max_abs:.4g}" if vals is None else f"{vals[0]:g} .. {vals[-1]:g}"
        group = "row" if f.group_size is None and f.scheme in ("ant", "olive", "row_mean") \
            else "tensor" if f.scheme == "tensor_mean" else str(f.group_size or "-")
        rows.append([name, str(f.bits), rng, f.scheme, group, f.scale_format or "-", f.tie,
                     f.source])
    print_table(_console(), TextTable.build("hwsim number formats", columns, rows,
                                            more="`hwsim dtypes show NAME`"))


@app.command("show")
def show_cmd(name: str = typer.Argument(..., help="Format name, e.g. fp4_ea_pos.")) -> None:
    """The code table of a format: every code, its bit pattern and its value."""
    from rich.table import Table

    from hwsim.dtypes import FloatFormat, get_format

    f = get_format(name)
    console = _console()
    console.print(f"[bold]{f.name}[/]: {f.description if hasattr(f, 'description') else ''}")
    console.print(f"bits {f.bits}; layout {f.layout}; tie rule: {f.tie}; scheme: {f.scheme}")
    if isinstance(f, FloatFormat):  # too many codes to list: what they span
        count = (f"2^{f.bits} codes (not enumerated)" if f.bits > 16
                 else f"{len(f.values)} finite values")
        console.print(f"{count}, max {f.max_abs:g}")
        return
    for i, t in enumerate(f.types):
        table = Table(title=t.name + (f" (type {i})" if f.is_mixture else ""))
        table.add_column("code", justify="right")
        table.add_column("bits", justify="right")
        table.add_column("value", justify="right")
        for code in range(1 << t.bits):
            value = t.code_values[code]
            shown = f"{value:g}" if t.valid[code] else "(unused)"
            table.add_row(str(code), format(code, f"0{t.bits}b"), shown)
        if t.bits <= 8:
            console.print(table)
        else:
            console.print(f"{t.name}: {1 << t.bits} codes, range {t.describe_range()}")


def _synthetic(shape: tuple[int, int], seed: int):
    """Gaussian weights with a few large outliers, the usual shape of LLM weights."""
    import numpy as np

    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32) * 0.02
    n_out = max(1, w.size // 2000)
    idx = rng.choice(w.size, size=n_out, replace=False)
    w.reshape(-1)[idx] *= rng.uniform(10, 30, size=n_out).astype(np.float32)
    return w


def _load_npy(path: Path):
    import numpy as np

    from hwsim.limits import check_array

    try:
        with Path(path).open("rb") as f:  # NumPy takes any other file for a pickle
            header = f.read(6)
    except FileNotFoundError:
        raise HwsimError(f"--tensor: no such file {str(path)!r}") from None
    except OSError as exc:
        raise HwsimError(f"--tensor {str(path)!r}: cannot read ({exc.strerror or exc})") from None
    if header != b"\x93NUMPY":
        raise HwsimError(f"--tensor {str(path)!r}: not a .npy file (no NumPy header)")
    try:
        # Never unpickle user files; map the file first, so its size is checked before reading.
        w = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as exc:  # read above: its header, its layout or dtype
        raise HwsimError(f"--tensor {str(path)!r}: not a plain .npy array ({exc})") from None
    if w.ndim not in (1, 2):
        raise HwsimError(f"--tensor {str(path)!r}: expected a weight of 1 or 2 dimensions "
                         f"(out_features, in_features), got shape {w.shape}")
    if w.size == 0:
        raise HwsimError(f"--tensor {str(path)!r}: shape {w.shape} has no elements to quantize")
    check_array(w.shape, 8, f"--tensor {str(path)!r}")  # quantized in float64 at most
    w = np.array(w)  # read it: the mapped file must not stay open
    if w.ndim == 1:
        w = w[None, :]
    return w


@app.command("compare")
def compare_cmd(
    formats: str = typer.Option(
        "int4,int4_asym,fp4_e2m1,bitmod4,ant4,olive4,mxfp4,nvfp4,nf4,int8,bitmod3,int3",
        "--formats", "-f", help="Comma-separated format names."),
    tensor: Path | None = typer.Option(
        None, "--tensor", parser=given_path,
        help="A .npy weight (out_features, in_features); default: synthetic Gaussian with "
        "outliers."),
    shape: str | None = typer.Option(None, help="Shape of the synthetic tensor, ROWSxCOLS "
                                     "(default 1024x1024)."),
    seed: int | None = typer.Option(None, help="Seed of the synthetic tensor (default 0)."),
    group_size: int | None = typer.Option(None, "--group-size", "-g",
                                          help="Group size (default: each format's)."),
    out: Path = typer.Option(Path("out/dtypes-compare"), "--out", "-o",
                             parser=given_path,
                             help="Output folder: compare.csv, every column of the table."),
    csv: Path | None = typer.Option(None, "--csv", hidden=True,
                                    parser=given_path,
                                    help="Deprecated: also write the CSV to this file."),
) -> None:
    """Quantize one tensor in several formats and compare their error and storage cost."""
    import time

    import pandas as pd

    from hwsim.dtypes import get_format, quantize_named
    from hwsim.dtypes._format import check_group_size
    from hwsim.files import comma_list, output_folder
    from hwsim.limits import check_array
    from hwsim.reports.fidelity import flushed_note
    from hwsim.reports.text_table import Column, TextTable, print_table

    names = comma_list(formats, "--formats")
    fmts = [get_format(n) for n in names]  # fail on a bad name before any work
    seen: dict[str, str] = {}
    for given, f in zip(names, fmts, strict=True):
        if f.name in seen:  # int4 and INT4: one format, two identical rows
            raise HwsimError(f"--formats: {seen[f.name]!r} and {given!r} are one format, "
                             f"{f.name}; give it once")
        seen[f.name] = given
    if group_size is not None:
        check_group_size(group_size, "--group-size")
    if tensor is not None:
        if shape is not None or seed is not None:
            raise HwsimError(f"--{'shape' if shape is not None else 'seed'} describes the "
                             "synthetic tensor: leave it out with --tensor")
        w, what = _load_npy(tensor), str(tensor)
    else:
        shape = "1024x1024" if shape is None else shape
        seed = 0 if seed is None else seed
        try:
            rows, cols = (int(v) for v in shape.lower().split("x"))
        except ValueError:
            raise HwsimError(f"--shape: expected ROWSxCOLS like 1024x1024, not {shape!r}") from None
        if rows <= 0 or cols <= 0:
            raise HwsimError(f"--shape: both sizes must be positive, not {shape!r}")
        check_array((rows, cols), 8, "--shape")  # drawn in float64
        if not 0 <= seed < 2**32:
            raise HwsimError(f"--seed: {seed} is not a seed of NumPy's generator (0 .. 2**32 - 1)")
        w, what = _synthetic((rows, cols), seed), f"synthetic {rows}x{cols} (seed {seed})"
    if group_size is not None and w.ndim and group_size > w.shape[-1]:
        # quantize pads such a row to one group: the table would show a group it never had
        raise HwsimError(f"--group-size {group_size} is larger than the rows of {what} "
                         f"({w.shape[-1]} values): one group per row is --group-size "
                         f"{w.shape[-1]}")
    folder = output_folder(out)  # before the work: an unwritable one is said at once
    records = []
    flushed = []
    for f in fmts:
        start = time.perf_counter()
        r = quantize_named(w, f, group_size, what)
        seconds = time.perf_counter() - start
        if r.flushed_groups:
            flushed.append((f.name, r.flushed_groups, r.scales.size))
        records.append({
            "format": f.name, "group_size": r.group_size, "bits_per_weight": r.bits_per_weight,
            "mse": r.mse, "sqnr_db": r.sqnr_db, "max_abs_error": r.max_abs_error,
            "types": " ".join(f"{k}:{v}" for k, v in r.type_histogram().items() if v),
            "outlier_pairs": r.outlier_pairs, "mweights_per_s": w.size / seconds / 1e6,
        })
    df = pd.DataFrame.from_records(records)
    # A format without groups (ternary's one scale) leaves None: integers, not 128.0.
    df["group_size"] = df["group_size"].astype("Int64")
    columns = [Column("format", align="left"), Column("group", priority=3),
               Column("bits/w"), Column("MSE", priority=2), Column("SQNR", "dB"),
               Column("max err", priority=4),
               Column("types / outliers", align="left", priority=5, wrap=True)]
    rows = []
    for rec in records:
        extra = rec["types"] or (f"{rec['outlier_pairs']} outlier pairs"
                                 if rec["outlier_pairs"] is not None else "")
        rows.append([rec["format"], str(rec["group_size"] or "tensor"),
                     f"{rec['bits_per_weight']:.3f}", f"{rec['mse']:.3e}",
                     f"{rec['sqnr_db']:.2f}", f"{rec['max_abs_error']:.3e}", extra])
    console = _console()
    print_table(console, TextTable.build(f"quantization error on {what}", columns, rows,
                                         more=str(folder / "compare.csv")))
    # The speed is a measurement: a note, not a column, so that compare.csv (the whole table)
    # stays byte-identical for identical inputs.
    for f, r_flushed, n_groups in flushed:
        console.print(flushed_note(f, r_flushed, f"of {n_groups:,}"), highlight=False,
                      style="yellow")
    console.print("speed (Mweights/s): " + ", ".join(
        f"{rec['format']} {rec['mweights_per_s']:.1f}" for rec in records), highlight=False)
    table = df.drop(columns=["mweights_per_s"])
    targets = [(folder / "compare.csv", "--out")]
    if csv is not None:
        console.print("--csv is deprecated: use --out DIR (writes DIR/compare.csv)",
                      highlight=False, style="yellow")
        targets.append((csv, "--csv"))
    for path, option in targets:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(path, index=False)
        except OSError as exc:
            raise HwsimError(f"{option} {str(path)!r}: cannot write "
                             f"({exc.strerror or exc})") from None
        console.print(f"wrote {path}", highlight=False)
