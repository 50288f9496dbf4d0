"""A sweep folder carries no absolute path: the same inputs in two folders give the same
bytes, and a moved folder resumes without simulating again."""

from __future__ import annotations

import shutil

from hwsim.sweep import load_sweep, run_sweep
from hwsim.sweep.hwsim_eval import METRICS

CONFIG = ('{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, '
          '"num_hidden_layers": 1, "vocab_size": 128, "intermediate_size": 128}')
WORKLOAD = "model: cfg/config.json\nprompt_tokens: 8\ngenerate_tokens: 3\n"
SWEEP = """workload: w.yaml
hardware: bitmod
axes:
  - {field: array.rows, values: [8, 16]}
objectives: [latency_ms]
"""


def _inputs(folder):
    (folder / "cfg").mkdir(parents=True)
    (folder / "cfg" / "config.json").write_text(CONFIG)
    (folder / "w.yaml").write_text(WORKLOAD)
    (folder / "s.yaml").write_text(SWEEP)
    return folder / "s.yaml"


def _files(out):
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file()}


def test_two_folders_give_identical_bytes_and_a_moved_folder_resumes(tmp_path):
    outs = []
    for name in ("a", "b"):
        sweep = _inputs(tmp_path / name)
        out = tmp_path / name / "out"
        run = run_sweep(load_sweep(sweep, metrics=METRICS), out, workers=1)
        assert (run.points, run.evaluated, run.failed) == (2, 2, 0)
        outs.append(out)
    first, second = (_files(out) for out in outs)
    assert first == second
    assert not any(str(tmp_path).encode() in data for data in first.values())

    moved = tmp_path / "moved"
    shutil.move(tmp_path / "a", moved)
    run = run_sweep(load_sweep(moved / "s.yaml", metrics=METRICS), moved / "out", workers=1)
    assert (run.points, run.evaluated, run.reused) == (2, 0, 2)


def test_a_changed_model_config_makes_new_points(tmp_path):
    sweep = _inputs(tmp_path)
    run_sweep(load_sweep(sweep, metrics=METRICS), tmp_path / "out", workers=1)
    (tmp_path / "cfg" / "config.json").write_text(CONFIG.replace('"num_hidden_layers": 1',
                                                                 '"num_hidden_layers": 2'))
    run = run_sweep(load_sweep(sweep, metrics=METRICS), tmp_path / "out", workers=1)
    assert (run.evaluated, run.reused) == (2, 0)
