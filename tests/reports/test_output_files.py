"""The record every command keeps of its outputs, and the removal of an earlier run's."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.reports.html_report import write_html
from hwsim.reports.output_files import digest, remove_stale_files, write_summary


def test_stale_files_are_removed_where_their_bytes_are_the_recorded_ones(tmp_path):
    for name in ("old.png", "edited.png", "kept.csv"):
        (tmp_path / name).write_bytes(b"earlier")
    earlier = {n: digest(b"earlier") for n in ("old.png", "edited.png", "kept.csv")}
    (tmp_path / "edited.png").write_bytes(b"someone else's since")
    remove_stale_files(tmp_path, earlier, ["kept.csv"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.png", "kept.csv"]


def test_a_file_that_cannot_be_removed_is_named_after_trying_every_one(tmp_path):
    # The first failure stopped the removal: the files after it stayed, and the new record
    # no longer listing them, no later run would remove them.
    (tmp_path / "a.png").mkdir()           # unlink fails on a folder
    (tmp_path / "b.png").write_bytes(b"x")
    with pytest.raises(HwsimError, match=r"could not be removed: a\.png \(.*\); remove them"):
        remove_stale_files(tmp_path, {"a.png": None, "b.png": None}, [])
    assert not (tmp_path / "b.png").exists()


@pytest.mark.parametrize("write", [
    lambda out: write_summary(out, {"latency_ms": 2.0}, []),
    lambda out: write_html(out / "report.html", "<html>new</html>"),
], ids=["summary.json", "report.html"])
def test_a_failed_write_leaves_the_earlier_file_whole(tmp_path, monkeypatch, write):
    # Written in place, a full disk or a kill mid-write left a truncated summary.json (which
    # the next run reads back) or report.html under the final name.
    for name in ("summary.json", "report.html"):
        (tmp_path / name).write_text("earlier, whole")

    def fail(self, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(OSError, match="No space") as info:
        write(tmp_path)
    assert Path(info.value.filename).name in ("summary.json", "report.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "summary.json"]
    assert {p.read_text() for p in tmp_path.iterdir()} == {"earlier, whole"}
