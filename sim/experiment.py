"""One experiment from config to files: run (or baseline), then metrics.csv, summary.json, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.baselines import run_baseline
from sim.config import SimConfig
from sim.metrics import write_summary
from sim.plots import plot_run
from sim.runner import Simulation


def run_experiment(config: SimConfig, out: Path, *, seed: int | None = None, progress: bool = True,
                   device: str | None = None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    sim = Simulation(config, seed=seed, progress=progress, device=device)
    if config.run.baseline != "none":
        summary = run_baseline(sim, config.run.baseline)
        xlabel = "virtual time (s) = rounds × K × step_seconds"
    else:
        summary = sim.run()
        xlabel = "virtual time (s)" if config.run.mode == "async" else "virtual time (s), lock-step rounds"
    sim.metrics.write_csv(out / "metrics.csv")
    plots = plot_run(sim.metrics, out, f"{config.run.name} (seed {sim.seed})", xlabel)
    summary["plots"] = [p.name for p in plots]
    write_summary(out / "summary.json", summary)
    return summary
