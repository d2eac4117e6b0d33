"""Sweep wall time: one 16-cell sweep on a pool of 1 worker, of 2, and on Ray in local mode (issue 18).

    python -m bench.sweep [--repeat 2] [--rounds 10]

The sweep is 2 rules × 2 degrees × 4 seeds of a short lock-step digits run. Each backend runs
the whole sweep from an empty output folder, pool start-up (or `ray.init`) included, since a
user pays for it too; backends take turns within each repeat and the best of the repeats is
kept, so a slow spell of a shared machine hits all of them alike. The three `sweep.csv` files
must be identical (the backends run the same cell function).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sim.sweep.backends import Backend, ProcessPool, RayCluster
from sim.sweep.driver import run_sweep
from sim.sweep.spec import load_sweep

BASE = """
[run]
name = "bench-sweep"
mode = "sync"
rounds = {rounds}
eval_every = {rounds}.0
[peers]
count = 16
[topology]
degree = 4
[genesis.training]
local_steps = 2
"""

SWEEP = """
base = "base.toml"
seeds = [1, 2, 3, 4]
[grid]
"genesis.aggregation.rule" = ["mean", "median"]
"topology.degree" = [2, 4]
"""


def _timed(make_backend: Callable[[], Backend], sweep_path: Path, out: Path) -> float:
    start = time.perf_counter()
    backend = make_backend()
    try:
        report = run_sweep(load_sweep(sweep_path), out, backend, progress=False)
    finally:
        backend.close()
    if report.done != report.cells:
        raise RuntimeError(f"{out}: {report.failed} of {report.cells} cells failed")
    return time.perf_counter() - start


def _folder(root: Path, repeat: int, backend: str) -> Path:
    return root / f"{repeat}-{backend.replace(' ', '').replace(',', '-')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    backends: dict[str, Callable[[], Backend]] = {
        "pool, 1 worker": lambda: ProcessPool(1),
        "pool, 2 workers": lambda: ProcessPool(2),
        "ray local, 2 CPUs": lambda: RayCluster("local", cpus_per_cell=1, gpus_per_cell=0.0),
    }
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "base.toml").write_text(BASE.format(rounds=args.rounds))
        sweep_path = root / "sweep.toml"
        sweep_path.write_text(SWEEP)
        cells = len(load_sweep(sweep_path).cells)
        best = dict.fromkeys(backends, float("inf"))
        for repeat in range(args.repeat):
            for name, make in backends.items():
                best[name] = min(best[name], _timed(make, sweep_path, _folder(root, repeat, name)))
        tables = {(_folder(root, 0, name) / "sweep.csv").read_text() for name in backends}
    print(f"{cells} cells, {args.rounds} lock-step rounds of 16 digits peers each; best of {args.repeat}")
    print("| backend | wall s | against 1 worker |\n|---|---|---|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.1f} | {best['pool, 1 worker'] / seconds:.2f}× |")
    print(f"Ray local against the 2-worker pool: {best['ray local, 2 CPUs'] - best['pool, 2 workers']:+.1f} s "
          f"({best['ray local, 2 CPUs'] / best['pool, 2 workers']:.2f}×)")
    print("sweep.csv identical across backends:", len(tables) == 1)


if __name__ == "__main__":
    main()
