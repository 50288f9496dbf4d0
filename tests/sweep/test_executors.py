"""Executors: what a point returns becomes an outcome; Dask is reached before anything is
written and stops quietly when the sweep is interrupted."""

from __future__ import annotations

import pytest
from sweep_support import METRICS, TOY

from hwsim.errors import HwsimError
from hwsim.sweep import run_sweep, sweep_from_dict
from hwsim.sweep.executors import Outcome, evaluate_point


def _spec(**params):
    return sweep_from_dict({"params": {"x": 0, "y": 1, "kind": "a", **params},
                            "axes": [{"field": "x", "range": {"start": 1, "stop": 12}}],
                            "objectives": ["latency_s", "energy_pj"]},
                           sections=("params",), metrics=METRICS, source="ex.yaml")


@pytest.mark.parametrize(("returned", "error"), [
    ({}, "the model returned an empty mapping, not a mapping of metric to number"),
    (None, "the model returned NoneType, not a mapping of metric to number"),
    ([1.0], "the model returned list, not a mapping of metric to number"),
])
def test_a_model_returning_no_metrics_is_a_failed_point(returned, error):
    # {} was stored as a finished point with a blank row; None was an AttributeError.
    assert evaluate_point(lambda config: returned, {}) == Outcome(None, error)


@pytest.mark.parametrize(("address", "message"), [
    ("nope", "--address nope: not a scheduler address (missing port number in address "
             "'nope'); e.g. tcp://10.0.0.5:8786"),
    ("foo://host:1", "--address foo://host:1: not a scheduler address (unknown address "
                     "scheme 'foo'"),
])
def test_a_bad_address_is_an_error_before_anything_is_written(tmp_path, address, message):
    # A malformed address was a ValueError traceback, after plan.json and sweep.yaml.
    out = tmp_path / "out"
    with pytest.raises(HwsimError) as info:
        run_sweep(_spec(), out, evaluator=TOY, executor="dask", address=address,
                  sweep_text="s\n")
    assert str(info.value).startswith(message)
    assert not out.exists()


def test_an_unreachable_scheduler_is_an_error_before_anything_is_written(tmp_path,
                                                                        monkeypatch):
    # The real client waits 10 s for a scheduler that is not there: the same OSError, sooner.
    import distributed

    def unreachable(address, timeout):
        raise OSError(f"Timed out trying to connect to {address} after {timeout}")

    monkeypatch.setattr(distributed, "Client", unreachable)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(HwsimError) as info:
        run_sweep(_spec(), out, evaluator=TOY, executor="dask", address="tcp://10.0.0.5:8786",
                  sweep_text="s\n")
    assert str(info.value) == ("--address tcp://10.0.0.5:8786: cannot reach a Dask scheduler "
                               "(Timed out trying to connect to tcp://10.0.0.5:8786 after 10s)")
    assert list(out.iterdir()) == []  # plan.json and sweep.yaml were left behind


@pytest.mark.slow
def test_ctrl_c_on_dask_prints_nothing_of_dasks_own(tmp_path, capfd):
    # Ctrl-C with points running printed the workers' "Async instruction ... ended with
    # CancelledError" warnings (and at times the client's CommClosedError traceback) before
    # the sweep's one line. A progress callback stands in for the keyboard (the signal
    # itself, to the whole process group, is test_signals.py's).
    def progress(done, total):
        if done >= 2:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(_spec(sleep=0.5), out, evaluator=TOY, executor="dask", workers=2,
                  progress=progress)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "", captured.err
    assert 2 <= len(list((out / "points").glob("*.json"))) < 12  # stored, then stopped
