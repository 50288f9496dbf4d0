"""Where points are evaluated: in this process, in a local process pool, or on Dask distributed.

Every executor has the same contract: `run(evaluate, configs)` yields ``(position, outcome)``
as points finish, in completion order, so the caller can store each result at once. Only a
bounded window of points is in flight, which keeps memory flat for large sweeps and means an
interruption loses at most the points that were running.

Dask distributed is the cluster engine: it installs from PyPI as pure Python, its
`LocalCluster` runs the same code on one machine (tests, laptops), and the same `Client`
connects to a scheduler on a cluster (``--address tcp://host:8786``; ``dask-scheduler`` and
``dask-worker`` start one, as do dask-jobqueue and dask-kubernetes).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, NamedTuple

from hwsim.errors import HwsimError

__all__ = [
    "EXECUTORS",
    "Executor",
    "Outcome",
    "SweepInterrupted",
    "check_executor",
    "dask_setup",
    "default_workers",
    "evaluate_point",
    "open_executor",
]

EXECUTORS = ("local", "dask")
Evaluate = Callable[[dict[str, Any]], Mapping[str, float]]


class Outcome(NamedTuple):
    """Result of one point: its metrics, or the error that stopped it."""

    metrics: dict[str, float] | None
    error: str | None


class SweepInterrupted(RuntimeError):
    """Evaluation stopped early (a worker died); finished points are stored, rerun to resume."""


# Processes of one machine's pool (a Dask cluster at --address brings its own): a bound, so a
# mistyped count is an error rather than an overflow deep in the process pool.
MAX_WORKERS = 1024


def default_workers() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def evaluate_point(evaluate: Evaluate, config: dict[str, Any]) -> Outcome:
    """Call `evaluate` on one point and turn failures into a recorded error.

    An invalid combination raises `HwsimError`, whose message is recorded as it is; any other
    exception is recorded with its type so a bug in one point does not end a long sweep.
    """
    try:
        raw = evaluate(config)
    except HwsimError as exc:
        return Outcome(None, str(exc))
    except Exception as exc:  # recorded with its type: the sweep goes on
        return Outcome(None, f"{type(exc).__name__}: {exc}")
    # A point with no metrics would be a blank row, counted as finished.
    if not isinstance(raw, Mapping) or not raw:
        shown = "an empty mapping" if isinstance(raw, Mapping) else type(raw).__name__
        return Outcome(None, f"the model returned {shown}, not a mapping of metric to number")
    metrics: dict[str, float] = {}
    for name, value in raw.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            return Outcome(None, f"metric {name!r} is not a number: {value!r}")
        if not math.isfinite(number):
            return Outcome(None, f"metric {name!r} is not finite: {number}")
        metrics[str(name)] = number
    return Outcome(metrics, None)


class Executor:
    """Base: evaluates in this process, one point after the other."""

    workers = 1

    def run(self, evaluate: Evaluate, configs: Iterable[dict[str, Any]]
            ) -> Iterator[tuple[int, Outcome]]:
        for position, config in enumerate(configs):
            yield position, evaluate_point(evaluate, config)


# prctl(PR_SET_PDEATHSIG, sig): Linux sends `sig` to this process when its parent dies.
_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """End this process when process `parent` ends, however it ends (even SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # it died before the request was made
                os._exit(1)
            return

    def watch() -> None:  # elsewhere: poll for the parent (then this process is adopted)
        while os.getppid() == parent:
            threading.Event().wait(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="hwsim-parent-watch", daemon=True).start()


def _worker_start(parent: int) -> None:
    """First thing in every worker process: die with the sweep, and leave Ctrl-C to it (the
    whole process group gets the SIGINT; the sweep stops the workers itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with(parent)


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Hold Ctrl-C while a worker may be spawned: the child inherits the blocked signal, so an
    interpreter still starting up never gets it (Python would print a fatal error); a pending
    Ctrl-C reaches this process when the block ends."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once: cancel what is queued and end the running points' processes."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)
    # Wait for the pool's manager thread to close its wake-up pipe: CPython before 3.12.8 writes
    # to that pipe at interpreter exit without a lock, and a close racing the write prints a
    # traceback (EBADF) after our one-line message (python/cpython#125451).
    if manager is not None and manager is not threading.current_thread():
        manager.join(timeout=10)


class _PoolExecutor(Executor):
    """A local process pool; `spawn` so workers share nothing with the parent's state."""

    def __init__(self, pool: ProcessPoolExecutor, workers: int) -> None:
        self.pool = pool
        self.workers = workers

    def run(self, evaluate: Evaluate, configs: Iterable[dict[str, Any]]
            ) -> Iterator[tuple[int, Outcome]]:
        try:
            yield from self._run(evaluate, configs)
        except BrokenProcessPool:  # raised by submit() as well as by result()
            raise SweepInterrupted(
                "a worker process died (killed, or out of memory); the points that finished "
                "are stored: rerun the same command to evaluate the rest"
            ) from None

    def _run(self, evaluate: Evaluate, configs: Iterable[dict[str, Any]]
             ) -> Iterator[tuple[int, Outcome]]:
        window = 4 * self.workers
        todo = iter(enumerate(configs))
        running: dict[Future, int] = {}

        def refill() -> None:
            while len(running) < window:
                item = next(todo, None)
                if item is None:
                    return
                with _sigint_blocked():  # submit() may spawn a worker
                    future = self.pool.submit(evaluate_point, evaluate, item[1])
                running[future] = item[0]

        refill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=running.__getitem__):
                position = running.pop(future)
                yield position, future.result()
            refill()


class _DaskExecutor(Executor):
    """Dask distributed: tasks go to the cluster's workers, results come back to be stored."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.workers = max(1, sum(client.nthreads().values()))
        self.pending: Any = None  # the `as_completed` of the running `run`

    def run(self, evaluate: Evaluate, configs: Iterable[dict[str, Any]]
            ) -> Iterator[tuple[int, Outcome]]:
        from distributed import as_completed

        window = 4 * self.workers
        todo = iter(enumerate(configs))
        position_of: dict[str, int] = {}

        def submit(item: tuple[int, dict[str, Any]]) -> Any:
            # pure=False: a point is evaluated once per request, never served from a cache
            # of another sweep that happened to share the cluster.
            future = self.client.submit(evaluate_point, evaluate, item[1], pure=False)
            position_of[future.key] = item[0]
            return future

        first = [submit(item) for _, item in zip(range(window), todo, strict=False)]
        self.pending = pending = as_completed(first, with_results=True, raise_errors=False)
        lost: list[str] = []
        for future, result in pending:
            position = position_of.pop(future.key)
            if future.status == "error":
                # evaluate_point catches what a point raises, so this is the worker itself
                # dying (KilledWorker after Dask's retries): skip it, keep the sweep going.
                lost.append(type(result[1]).__name__)
            else:
                yield position, result
            item = next(todo, None)
            if item is not None:
                pending.add(submit(item))
        if lost:
            raise SweepInterrupted(
                f"{len(lost)} point(s) were lost with their Dask workers ({lost[0]}: a worker "
                "died, out of memory?); every other point is stored: rerun the same command "
                "to retry them")

    def abandon(self) -> None:
        """Drop the points still running (Ctrl-C, an error storing a result): nothing waits
        for their results any more, and the cluster stops computing them."""
        if self.pending is None:
            return
        running = list(self.pending.futures)
        self.pending.clear()  # else it gathers results the closing client no longer has
        self.client.cancel(running)


# The loggers Dask shuts down with (scheduler, nanny, client, its tornado and asyncio loops).
_DASK_LOGGERS = ("distributed", "tornado", "asyncio")


@contextmanager
def _loggers_off(names: tuple[str, ...]) -> Iterator[None]:
    """Disable the loggers `names` and all their children while the block runs (a child's
    record reaches its parents' handlers whatever their levels, so each one is disabled)."""
    known = [logger for name, logger in list(logging.Logger.manager.loggerDict.items())
             if isinstance(logger, logging.Logger) and name.split(".")[0] in names]
    loggers = {*known, *map(logging.getLogger, names)}
    before = {logger: logger.disabled for logger in loggers}
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, disabled in before.items():
            logger.disabled = disabled


@contextmanager
def _dask_session(client: Any, cluster: Any = None) -> Iterator[_DaskExecutor]:
    """The executor of `client`; stopped quietly when the sweep stops early.

    Ctrl-C leaves Dask mid-flight: closing the client under running tasks makes the
    scheduler, the nanny and the client log cancellations and closed connections (with
    tracebacks) after the sweep's one-line message. So the running points are cancelled
    first and the client (and our own cluster) closed with Dask's loggers off; a sweep that
    runs on keeps them, so real worker errors are still shown.
    """
    executor = _DaskExecutor(client)
    try:
        yield executor
    except BaseException:
        with _loggers_off(_DASK_LOGGERS):
            executor.abandon()
            client.close()
            if cluster is not None:
                cluster.close()
        raise


class _CancelledTasks(logging.Filter):
    """Drops a worker's notes that a cancelled task ended: the sweep cancels tasks only
    when it stops early, and then one line says so."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ended with CancelledError" not in record.getMessage()


def dask_setup(worker: Any) -> None:
    """Dask's preload hook, run in each worker process of the cluster `open_executor` starts.

    Ctrl-C reaches the whole process group; the sweep stops the workers itself, so a worker
    ignores it (one the nanny restarts after a crash would otherwise print a traceback), and
    does not log the cancellation of its running point.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("distributed.worker.state_machine").addFilter(_CancelledTasks())


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C while the block starts processes: an ignored signal stays ignored in a
    child (across exec, and Python keeps it so), so a Dask worker never gets it, even before
    its `dask_setup` runs. A Ctrl-C in these seconds is lost; the next one stops the sweep."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def check_executor(kind: str, workers: int | None, address: str | None) -> None:
    """Raise `HwsimError` for executor arguments that do not fit together."""
    if kind not in EXECUTORS:
        hint = (" (hwsim runs sweeps on clusters with Dask distributed: use --executor dask)"
                if kind == "ray" else "")
        raise HwsimError(f"unknown executor {kind!r}; allowed: {', '.join(EXECUTORS)}{hint}")
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise HwsimError(f"--workers must be in 1..{MAX_WORKERS} (processes on this "
                         f"machine), got {workers}")
    if kind == "local" and address is not None:
        raise HwsimError("--address names a Dask scheduler: use it with --executor dask")
    if address is not None and workers is not None:
        raise HwsimError("--workers starts a local cluster; a cluster at --address has its "
                         "own workers (leave --workers out)")


@contextmanager
def open_executor(kind: str = "local", workers: int | None = None,
                  address: str | None = None) -> Iterator[Executor]:
    """An executor for the duration of a ``with`` block; clusters it started are shut down.

    Args:
        kind: ``"local"`` (a process pool; in this process when `workers` is 1) or ``"dask"``.
        workers: processes to use (default: the cores available). For Dask without an address
            a `LocalCluster` with this many single-threaded worker processes is started.
        address: a running Dask scheduler, e.g. ``"tcp://10.0.0.5:8786"`` (Dask only).

    Raises:
        HwsimError: an unknown executor, a bad worker count, or an address where none applies.
    """
    check_executor(kind, workers, address)
    if kind == "local":
        n = workers or default_workers()
        if n == 1:
            yield Executor()
            return
        import multiprocessing

        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_start, initargs=(os.getpid(),)) as pool:
            try:
                yield _PoolExecutor(pool, n)
            except BaseException:  # Ctrl-C, a lost worker, an error storing a result
                _stop_workers(pool)
                raise
        return

    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise HwsimError("the dask executor needs the [sweep] extra: "
                         "pip install 'hwsim[sweep]'") from None
    if address is not None:
        try:
            client = Client(address, timeout="10s")
        except ValueError as exc:  # no port, an unknown scheme
            raise HwsimError(f"--address {address}: not a scheduler address ({exc}); e.g. "
                             "tcp://10.0.0.5:8786") from None
        except (OSError, TimeoutError) as exc:
            raise HwsimError(
                f"--address {address}: cannot reach a Dask scheduler ({exc})") from None
        with client, _dask_session(client) as executor:
            yield executor
        return
    n = workers or default_workers()
    # ":0": any free port for the HTTP endpoints (None would mean the fixed 8787, which a
    # second cluster on the machine finds taken). Dask's scratch space (its workers' and its
    # lock files) goes into a folder of this run, removed after it: the default,
    # $TMPDIR/dask-scratch-space, stays behind.
    import dask

    with tempfile.TemporaryDirectory(prefix="hwsim-dask-") as scratch, \
            dask.config.set({"temporary-directory": scratch}):
        with _sigint_ignored():
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", preload=[__name__])
        with cluster, Client(cluster) as client, _dask_session(client, cluster) as executor:
            yield executor
