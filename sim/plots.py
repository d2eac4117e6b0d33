"""PNG plots of a run, and overlays of several runs (matplotlib, headless)."""

from __future__ import annotations

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


def plot_run(metrics: MetricsLog, out: Path, title: str, xlabel: str = "virtual time (s)") -> list[Path]:
    """overview.png: honest accuracy with a min–max band, consensus distance, bytes per peer, online peers."""
    rows = metrics.rows
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    t, mean, low, high = _series(rows, "accuracy")
    ax = axes[0, 0]
    ax.plot(t, mean, color="tab:blue", label="honest mean")
    ax.fill_between(t, low, high, color="tab:blue", alpha=0.2, label="honest min–max")
    ax.set(title="accuracy (global test set)", xlabel=xlabel, ylabel="accuracy", ylim=(0, 1))
    if any(r["attack_success"] == r["attack_success"] for r in rows):
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
    ax.step(times, online, where="post", label="online")
    ax.step(times, honest, where="post", label="honest online")
    ax.set(title="peers online", xlabel=xlabel, ylim=(0, None))
    ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path = out / "overview.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def plot_compare(runs: list[tuple[str, MetricsLog]], path: Path) -> Path:
    """Honest mean accuracy of several runs in one figure, with min–max bands; beside it the
    attack success rate of the runs that had a targeted attack, in the same colours."""
    attacked = [any(r["attack_success"] == r["attack_success"] for r in m.rows) for _, m in runs]
    fig, axes = plt.subplots(1, 2 if any(attacked) else 1, figsize=(13 if any(attacked) else 8, 5), squeeze=False)
    ax = axes[0][0]
    for (label, metrics), has_attack in zip(runs, attacked, strict=True):
        t, mean, low, high = _series(metrics.rows, "accuracy")
        (line,) = ax.plot(t, mean, label=label)
        ax.fill_between(t, low, high, color=line.get_color(), alpha=0.12)
        if has_attack:
            ts, success, _, _ = _series(metrics.rows, "attack_success")
            axes[0][1].plot(ts, success, color=line.get_color(), label=label)
    ax.set(title="honest accuracy", xlabel="time (virtual s, or rounds)", ylabel="accuracy", ylim=(0, 1))
    ax.legend()
    if any(attacked):
        axes[0][1].set(title="attack success (honest peers)", xlabel="time (virtual s, or rounds)",
                       ylabel="share of attacked inputs", ylim=(0, 1))
        axes[0][1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
