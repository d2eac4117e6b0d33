"""Where cells run: a local pool of worker processes, or Ray tasks on a cluster.

Both take the same `CellTask`s, run the same `run_cell`, and yield `CellOutcome`s as cells
finish, so the driver (resume, storage, progress, tables) is one code path for both.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from sim.sweep.cell import CellOutcome, CellTask, run_cell


class BackendError(RuntimeError):
    """The backend cannot start (Ray missing, no cluster at the address)."""


class Backend(Protocol):
    slots: int  # how many cells run at once

    def run(self, tasks: Iterable[CellTask]) -> Iterator[CellOutcome]: ...

    def close(self) -> None: ...


def _worker_init() -> None:
    # The driver owns Ctrl-C: it stops the workers itself, so a terminal's SIGINT (which reaches the
    # whole process group) does not print a traceback from every worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ProcessPool:
    """`--workers N` processes on this machine (spawned, so no torch state is forked)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise BackendError(f"--workers must be at least 1, got {workers}")
        self.slots = workers

    def run(self, tasks: Iterable[CellTask]) -> Iterator[CellOutcome]:
        context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(self.slots, mp_context=context, initializer=_worker_init)
        futures: dict[Future, CellTask] = {executor.submit(run_cell, task): task for task in tasks}
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield _result(future, futures[future])
        except BaseException:
            for child in multiprocessing.active_children():  # the cells in flight are lost; resume reruns them
                child.terminate()
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        executor.shutdown()

    def close(self) -> None:
        pass


def _result(future: Future, task: CellTask) -> CellOutcome:
    try:
        return future.result()
    except BrokenProcessPool:
        return CellOutcome(task.key, "failed", 0.0, error="the worker process died (out of memory, or killed); "
                                                          "rerun the sweep to retry this cell")


class RayCluster:
    """Cells as Ray tasks. `address`: "local" starts a private Ray instance on this machine, "auto"
    joins the cluster this machine belongs to, anything else is a cluster address. Workers need
    loragossip installed and the base config (and its data) at the same path."""

    def __init__(self, address: str, cpus_per_cell: int, gpus_per_cell: float) -> None:
        try:
            import ray
        except ImportError as exc:
            raise BackendError("--ray needs Ray: pip install 'loragossip[ray]'") from exc
        self._ray = ray
        self._started = False
        self.resources = {"num_cpus": cpus_per_cell, "num_gpus": gpus_per_cell}
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            try:
                if address == "local":
                    ray.init(**options)
                else:
                    ray.init(address=address, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BackendError(f"--ray {address}: cannot reach a Ray cluster: {exc}") from exc
            self._started = True
        cpus = ray.cluster_resources().get("CPU", 1.0)
        self.slots = max(1, int(cpus // max(cpus_per_cell, 1)))

    def run(self, tasks: Iterable[CellTask]) -> Iterator[CellOutcome]:
        ray = self._ray
        remote = ray.remote(max_retries=0, **self.resources)(run_cell)
        refs = {remote.remote(task): task for task in tasks}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield self._result(ref, refs[ref])
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

    def _result(self, ref: object, task: CellTask) -> CellOutcome:
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:  # the worker died, or Ray could not run the task
            return CellOutcome(task.key, "failed", 0.0, error=f"{type(exc).__name__}: {exc}".splitlines()[0])

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def default_workers(cpus_per_cell: int) -> int:
    """As many cells at once as the machine has cores for."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(cpus_per_cell, 1))
