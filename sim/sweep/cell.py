"""Run one sweep cell: the one function both backends execute, in a worker process or a Ray task.

It rebuilds the cell's config from the base file and its assignments (so a task is a few
strings, cheap to ship to another machine), runs an ordinary simulation in a scratch folder,
and returns the files it wrote as bytes: the driver alone writes into the sweep's folder, so
workers need no shared file system and a half-written cell never looks finished.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("done", "failed", "interrupted")


@dataclass(frozen=True)
class CellTask:
    key: str
    label: str
    base: str                                   # absolute path of the base sim config
    assignments: tuple[tuple[str, Any], ...]     # fixed and swept values, applied in order
    seed: int
    device: str | None = None
    threads: int = 1                            # torch intra-op threads: the CPUs the cell asked for


@dataclass
class CellOutcome:
    key: str
    status: str                                 # one of STATUSES
    wall_seconds: float
    summary: dict[str, Any] | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    error: str = ""                             # one line: exception type and message
    detail: str = ""                            # the traceback, for the cell's error file


def run_cell(task: CellTask) -> CellOutcome:
    """Never raises for a failing simulation: the failure is the outcome, and the sweep goes on."""
    import torch

    from sim.config import read_toml
    from sim.experiment import run_experiment
    from sim.sweep.spec import resolve_cell

    torch.set_num_threads(task.threads)
    start = time.perf_counter()
    try:
        base = Path(task.base)
        config = resolve_cell(base, read_toml(base), (*task.assignments, ("run.name", task.label)))
        with tempfile.TemporaryDirectory(prefix="loragossip-cell-") as scratch:
            summary = run_experiment(config, Path(scratch), seed=task.seed, progress=False, device=task.device)
            files = {p.name: p.read_bytes() for p in Path(scratch).iterdir() if p.is_file()}
    except KeyboardInterrupt:
        return CellOutcome(task.key, "interrupted", time.perf_counter() - start)
    except Exception as exc:  # a failing cell is recorded, never fatal to the sweep
        return CellOutcome(task.key, "failed", time.perf_counter() - start,
                           error=f"{type(exc).__name__}: {exc}".splitlines()[0], detail=traceback.format_exc())
    status = "interrupted" if summary.get("interrupted") else "done"
    return CellOutcome(task.key, status, time.perf_counter() - start, summary=summary, files=files)
