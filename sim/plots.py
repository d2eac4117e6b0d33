"""PNG plots of a run, and overlays of several runs (matplotlib, headless)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sim.metrics import MetricsLog


def _series(rows: list[dict], key: str, honest_online: bool = True):
    times = sorted({r["time"] for r in rows})
    by_time: dict[float, list[float]] = {t: [] for t in times}
    for r in rows:
        if (not honest_online or (r["honest"] and r["online"])) and r[key] == r[key]:
            by_time[r["time"]].append(float(r[key]))
    kept = [t for t in times if by_time[t]]
    values = [by_time[t] for t in kept]
    return (np.array(kept), np.array([np.mean(v) for v in values]), np.array([np.min(v) for v in values]),
            np.array([np.max(v) for v in values]))


def _measured(rows: list[dict], key: str) -> bool:
    """Whether any row has a value for `key` (NaN or absent: not measured)."""
    return any(r.get(key) is not None and r[key] == r[key] for r in rows)


def plot_run(metrics: MetricsLog, out: Path, title: str, xlabel: str = "virtual time (s)") -> list[Path]:
    """overview.png: honest accuracy with a min–max band, consensus distance, bytes per peer, online peers."""
    rows = metrics.rows
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    t, mean, low, high = _series(rows, "accuracy")
    ax = axes[0, 0]
    ax.plot(t, mean, color="tab:blue", label="honest mean")
    ax.fill_between(t, low, high, color="tab:blue", alpha=0.2, label="honest min–max")
    ax.set(title="accuracy (global test set)", xlabel=xlabel, ylabel="accuracy", ylim=(0, 1))
    if _measured(rows, "attack_success"):
        ts, success, _, _ = _series(rows, "attack_success")
        ax.plot(ts, success, color="tab:red", label="attack success")
    ax.legend(loc="lower right")
    t, mean, _, high = _series(rows, "consensus_distance")
    ax = axes[0, 1]
    ax.plot(t, mean, label="mean")
    ax.plot(t, high, linestyle="--", label="max")
    ax.set(title="consensus distance |θ_i − θ̄|² (honest)", xlabel=xlabel)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.legend()
    t, mean, low, high = _series(rows, "bytes_sent", honest_online=False)
    ax = axes[1, 0]
    ax.plot(t, mean / 1e6, label="mean")
    ax.fill_between(t, low / 1e6, high / 1e6, alpha=0.2, label="min–max")
    ax.set(title="bytes sent per peer", xlabel=xlabel, ylabel="MB")
    ax.legend()
    times = sorted({r["time"] for r in rows})
    online = [sum(1 for r in rows if r["time"] == x and r["online"]) for x in times]
    honest = [sum(1 for r in rows if r["time"] == x and r["online"] and r["honest"]) for x in times]
    ax = axes[1, 1]
    ax.fill_between(times, online, step="post", color="tab:blue", alpha=0.25, label="online")
    ax.step(times, honest, where="post", color="tab:green", linestyle="--", label="honest online")
    ax.set(title="peers online", xlabel=xlabel, ylim=(0, max(online, default=1) * 1.25))
    ax.legend(loc="upper right", ncol=2, fontsize="small")  # above the curves: ylim leaves the room
    fig.suptitle(title)
    fig.tight_layout()
    path = out / "overview.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


@dataclass(frozen=True)
class ComparedRun:
    label: str
    metrics: MetricsLog
    baseline: bool = False   # FedAvg or isolated training: drawn dashed, a reference rather than a run


def churn_windows(rows: list[dict]) -> list[tuple[float, float]]:
    """Spans of time in which some peer was offline (from the evaluations' `online` column)."""
    times = sorted({r["time"] for r in rows})
    offline = {t: False for t in times}
    for r in rows:
        offline[r["time"]] |= not r["online"]
    spans: list[tuple[float, float]] = []
    start = None
    for previous, t in zip([None, *times], times, strict=False):
        if offline[t] and start is None:
            start = previous if previous is not None else t
        elif not offline[t] and start is not None:
            spans.append((start, t))
            start = None
    if start is not None:
        spans.append((start, times[-1]))
    return spans


def plot_compare(runs: list[ComparedRun], path: Path) -> Path:
    """Four panels, one colour per run: honest accuracy (mean, min–max band), attack success,
    bytes sent by all peers, honest consensus distance. Baselines are dashed; spans in which a
    run had peers offline (churn) are shaded in its colour on the accuracy panel."""
    colours = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    (acc, attack), (traffic, consensus) = axes
    attacked = False
    for index, run in enumerate(runs):
        colour, style = colours[index % len(colours)], "--" if run.baseline else "-"
        rows = run.metrics.rows
        t, mean, low, high = _series(rows, "accuracy")
        acc.plot(t, mean, color=colour, linestyle=style, label=run.label)
        acc.fill_between(t, low, high, color=colour, alpha=0.1)
        for first, last in churn_windows(rows):
            acc.axvspan(first, last, color=colour, alpha=0.07, linewidth=0)
        if _measured(rows, "attack_success"):
            attacked = True
            ts, success, _, _ = _series(rows, "attack_success")
            attack.plot(ts, success, color=colour, linestyle=style, label=run.label)
        if _measured(rows, "bytes_sent"):
            tb, per_peer, _, _ = _series(rows, "bytes_sent", honest_online=False)
            peers = len({r["peer"] for r in rows})
            traffic.plot(tb, per_peer * peers / 1e6, color=colour, linestyle=style, label=run.label)
        if _measured(rows, "consensus_distance"):
            tc, distance, _, _ = _series(rows, "consensus_distance")
            consensus.plot(tc, distance, color=colour, linestyle=style, label=run.label)
    xlabel = "time (virtual s, or rounds)"
    acc.set(title="honest accuracy (mean, min–max band; shaded: peers offline)", xlabel=xlabel,
            ylabel="accuracy", ylim=(0, 1))
    acc.legend(loc="lower right", fontsize="small")
    attack.set(title="attack success (honest peers)", xlabel=xlabel, ylabel="share of attacked inputs", ylim=(0, 1))
    if not attacked:
        attack.text(0.5, 0.5, "no run had a targeted attack", ha="center", va="center", transform=attack.transAxes)
    traffic.set(title="bytes sent, all peers", xlabel=xlabel, ylabel="MB")
    consensus.set(title="consensus distance |θ_i − θ̄|² (honest mean)", xlabel=xlabel)
    consensus.set_yscale("symlog", linthresh=1e-3)
    for ax in (attack, traffic, consensus):
        if ax.lines:
            ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
