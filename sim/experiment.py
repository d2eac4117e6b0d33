"""One experiment from config to files: run (or baseline), then metrics.csv, adapters, summary.json, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sim import resume
from sim.adapters_file import write_adapters
from sim.baselines import run_baseline
from sim.batched.engine import BatchedSimulation
from sim.config import SimConfig
from sim.metrics import write_summary
from sim.plots import plot_run
from sim.runner import Simulation


def pick_engine(config: SimConfig) -> type[Simulation] | type[BatchedSimulation]:
    """`run.engine`: "auto" takes the batched engine, which is tested to give the nodes engine's
    results in lock-step and in async runs (docs/DESIGN-NOTES.md, "The batched engine");
    "nodes" runs every peer as a real `PeerNode` (every message encoded, signed and decoded)."""
    return Simulation if config.engine() == "nodes" else BatchedSimulation


def run_experiment(config: SimConfig, out: Path, *, seed: int | None = None, progress: bool = True,
                   device: str | None = None) -> dict[str, Any]:
    engine = pick_engine(config)
    sim = engine(config, seed=seed, progress=progress, device=device)
    out.mkdir(parents=True, exist_ok=True)
    sim.metrics.follow(out / "metrics.csv")
    if config.run.baseline != "none":
        return _write(sim, out, run_baseline(sim, config.run.baseline))
    return _write(sim, out, sim.run())


def resume_experiment(out: Path, *, progress: bool = True) -> dict[str, Any]:
    """Continue the run that `out` holds (`sim.resume`); ResumeError when there is none."""
    sim = resume.load(out)
    sim.progress = progress
    sim.metrics.follow(out / "metrics.csv")
    return _write(sim, out, sim.run())


def _write(sim: Simulation | BatchedSimulation, out: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """metrics.csv, adapters, plots and summary.json; the state to resume from when a run stopped early."""
    config = sim.config
    sim.metrics.flush()  # metrics.csv has followed the run (`follow`): only rows not yet appended remain
    data = config.resolve(config.run.data) if config.run.data else None
    write_adapters(out, sim.final_vectors(), sim.honest_mask(), config.genesis, data)
    if config.run.baseline != "none":
        xlabel = "virtual time (s) = rounds × K × step_seconds"
    else:
        xlabel = "virtual time (s)" if config.run.mode == "async" else "virtual time (s), lock-step rounds"
    plots = plot_run(sim.metrics, out, f"{config.run.name} (seed {sim.seed})", xlabel) if sim.metrics.rows else []
    summary["plots"] = [p.name for p in plots]
    summary["torch_threads"] = torch.get_num_threads()  # the order of float sums: same threads, same numbers
    resumable = summary.get("interrupted") and sim.resumable and config.run.baseline == "none"
    summary["resumable"] = bool(resumable)
    if resumable:
        resume.save(sim, out)  # type: ignore[arg-type]
    else:
        resume.discard(out)
    write_summary(out / "summary.json", summary)
    return summary
