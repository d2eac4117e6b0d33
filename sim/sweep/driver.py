"""Run a sweep: skip finished cells, run the rest on a backend, store each as it lands, report.

Folder layout (`DIR`):
    cells/<key>/             a finished cell: metrics.csv, summary.json, overview.png, cell.json
    cells/<key>.error.json   a failed cell: its error and traceback (rerun on the next start)
    sweep.csv  summary.md  sweep.png
A cell folder appears only by an atomic rename of a complete one, so after a crash or Ctrl-C
every `cells/<key>/` is a whole result and resuming is "run what has no folder".
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sim.sweep.backends import Backend
from sim.sweep.cell import CellOutcome, CellTask
from sim.sweep.plot import plot_sweep
from sim.sweep.spec import Cell, Sweep
from sim.sweep.table import cell_rows, summary_markdown, write_csv


@dataclass
class SweepReport:
    cells: int
    skipped: int          # finished before this start
    done: int             # finished in this start
    failed: int
    interrupted: bool
    wall_seconds: float
    outputs: list[Path]


def run_sweep(sweep: Sweep, out: Path, backend: Backend, *, device: str | None = None, threads: int = 1,
              progress: bool = True) -> SweepReport:
    cells_dir = out / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    for stale in cells_dir.glob("*.partial"):  # a cell being stored when the driver died
        shutil.rmtree(stale, ignore_errors=True)
    finished = {c.key for c in sweep.cells if (cells_dir / c.key / "summary.json").exists()}
    tasks = [CellTask(c.key, c.label, str(sweep.base), sweep.assignments(c), c.seed, device, threads)
             for c in sweep.cells if c.key not in finished]
    cells = {c.key: c for c in sweep.cells}
    start = time.perf_counter()
    done = failed = 0
    interrupted = False
    bar = tqdm(total=len(sweep.cells), initial=len(finished), unit="cell", disable=not progress,
               desc=sweep.name, dynamic_ncols=True)
    _status(bar, done + len(finished), min(backend.slots, len(tasks)), failed)
    try:
        for outcome in backend.run(tasks):
            if outcome.status == "done":
                _store(cells_dir, outcome, cells[outcome.key])
                done += 1
            else:
                _store_failure(cells_dir, outcome)
                failed += outcome.status == "failed"
                interrupted |= outcome.status == "interrupted"
            bar.update(1)
            remaining = len(tasks) - done - failed
            _status(bar, done + len(finished), min(backend.slots, remaining), failed)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    outputs = report(sweep, out)
    return SweepReport(len(sweep.cells), len(finished), done, failed, interrupted,
                       time.perf_counter() - start, outputs)


def _status(bar: tqdm, done: int, running: int, failed: int) -> None:
    bar.set_postfix_str(f"done {done} · running {running} · failed {failed}", refresh=True)


def _store(cells_dir: Path, outcome: CellOutcome, cell: Cell) -> None:
    partial = cells_dir / f"{outcome.key}.partial"
    partial.mkdir(exist_ok=True)
    for name, data in outcome.files.items():
        (partial / name).write_bytes(data)
    record = {"key": cell.key, "seed": cell.seed, "values": dict(cell.values), "label": cell.label,
              "wall_seconds": round(outcome.wall_seconds, 3)}
    (partial / "cell.json").write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    final = cells_dir / outcome.key
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    (cells_dir / f"{outcome.key}.error.json").unlink(missing_ok=True)


def _store_failure(cells_dir: Path, outcome: CellOutcome) -> None:
    if outcome.status != "failed":
        return  # an interrupted cell leaves nothing: it simply runs again
    record = {"key": outcome.key, "error": outcome.error, "traceback": outcome.detail}
    path = cells_dir / f"{outcome.key}.error.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def collect(sweep: Sweep, out: Path) -> dict[str, dict[str, Any]]:
    """What the folder holds for each cell: a summary, an error, or nothing yet."""
    results: dict[str, dict[str, Any]] = {}
    for cell in sweep.cells:
        summary_path = out / "cells" / cell.key / "summary.json"
        error_path = out / "cells" / f"{cell.key}.error.json"
        if summary_path.exists():
            results[cell.key] = {"status": "done", "summary": json.loads(summary_path.read_text(encoding="utf-8"))}
        elif error_path.exists():
            results[cell.key] = {"status": "failed", "error": json.loads(error_path.read_text())["error"]}
    return results


def report(sweep: Sweep, out: Path) -> list[Path]:
    """sweep.csv, summary.md and sweep.png from whatever cells are finished."""
    rows = cell_rows(sweep, collect(sweep, out))
    write_csv(out / "sweep.csv", sweep, rows)
    (out / "summary.md").write_text(summary_markdown(sweep, rows), encoding="utf-8")
    plot = plot_sweep(sweep, rows, out)
    return [out / "sweep.csv", out / "summary.md", *([plot] if plot else [])]
