"""`loragossip sim CONFIG --out DIR [--seed S]` and `loragossip sim compare DIR...`."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from loragossip.errors import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sim", help="run a churn simulation from a config, or compare runs",
        description="Run N real peers in one process under churn and attacks on a virtual clock. "
                    "Writes DIR/metrics.csv, DIR/summary.json and DIR/overview.png. "
                    "`loragossip sim compare DIR...` overlays finished runs.",
        epilog="two forms:\n"
               "  loragossip sim CONFIG.toml [--out DIR] [--set SECTION.KEY=VALUE ...] [--seed S]\n"
               "  loragossip sim compare RUN_DIR [RUN_DIR ...] [--out compare.png]   (only --out applies)\n"
               "  loragossip sim --resume RUN_DIR            (a lock-step batched run stopped with Ctrl-C)\n"
               "Ctrl-C ends a run early and keeps what it measured (exit status 130). A lock-step run of the\n"
               "batched engine finishes its round first and can be resumed to the numbers of an uninterrupted\n"
               "run; a second Ctrl-C stops at once.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", nargs="?", help="experiment TOML (see examples/)")
    parser.add_argument("--out", type=Path, help="output folder (default runs/<config name>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, e.g. --set genesis.aggregation.rule=krum (repeatable)")
    parser.add_argument("--name", help="override run.name (and so the default output folder)")
    parser.add_argument("--seed", type=int,
                        help="override run.seed (same seed, machine and --threads: same numbers)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when present)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch intra-op threads (default: torch's, one per core). The thread count "
                             "changes the order of floating-point sums, so a run reproduces byte for byte "
                             "only at the same N; `loragossip sweep` runs each cell at --cpus-per-cell "
                             "(default 1), so `--threads 1` reproduces a sweep cell")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue the interrupted run in RUN_DIR (no CONFIG or other options with it)")
    parser.set_defaults(run=_run)


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """`loragossip sim compare`: its own parser (routed by `loragossip.main`), so that its --help is its own."""
    parser.description = ("Overlay finished runs in four panels (honest accuracy, attack success, bytes sent, "
                          "consensus distance; one colour per run, spans with peers offline shaded, baselines "
                          "dashed), and print each run's final numbers as a table in the terminal.")
    parser.add_argument("dirs", nargs="+", type=Path, metavar="RUN_DIR", help="folders written by `loragossip sim`")
    parser.add_argument("--out", type=Path, default=Path("compare.png"), help="figure to write (default compare.png)")
    parser.set_defaults(run=_compare, command="sim compare")


def _run(args: argparse.Namespace) -> int:
    if args.resume is not None:
        return _resume(args)
    if args.config is None:
        raise CommandError("give an experiment TOML (e.g. examples/quickstart.toml), or `compare RUN_DIR...`")
    from sim.config import ConfigError, load_config
    from sim.experiment import run_experiment

    try:
        overrides = [*args.overrides, *([f"run.name={args.name!r}"] if args.name else [])]
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    out = args.out or Path("runs") / config.run.name
    if args.threads is not None:
        if args.threads < 1:
            raise CommandError(f"--threads must be at least 1, not {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    try:
        summary = run_experiment(config, out, seed=args.seed, progress=not args.no_progress, device=args.device)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    return _report(summary, out)


def _resume(args: argparse.Namespace) -> int:
    from sim.experiment import resume_experiment

    given = [flag for flag, value in (("CONFIG", args.config), ("--out", args.out), ("--set", args.overrides),
                                      ("--name", args.name), ("--seed", args.seed), ("--device", args.device),
                                      ("--threads", args.threads))
             if value]
    if given:
        raise CommandError(f"--resume continues the run as it was configured; drop {', '.join(given)}")
    try:
        summary = resume_experiment(args.resume, progress=not args.no_progress)
    except ValueError as exc:  # ResumeError too
        raise CommandError(str(exc)) from exc
    return _report(summary, args.resume)


def _report(summary: dict, out: Path) -> int:
    _print_summary(summary, out)
    if summary.get("interrupted"):
        again = (f"; continue it with `loragossip sim --resume {out}`" if summary.get("resumable")
                 else " (summary.json says \"interrupted\": true)")
        print(f"loragossip sim: interrupted at virtual time {summary['final_time']:.1f} s; the results so far "
              f"are in {out}{again}", file=sys.stderr)
        return 130
    return 0


def _print_summary(summary: dict, out: Path) -> None:
    accuracy, low = summary["final_honest_mean_accuracy"], summary["final_honest_min_accuracy"]
    print(f"{summary['name']}: final honest accuracy {accuracy:.3f} (min {low:.3f}) "
          f"over {summary['final_honest_online_peers']} online honest peers, "
          f"{summary['peer_rounds']} peer-rounds in {summary['wall_seconds']:.1f} s")
    if summary.get("attack_success_rate") is not None:
        print(f"attack success rate {summary['attack_success_rate']:.3f}")
    print(f"wrote {out / 'metrics.csv'}, {out / 'summary.json'}, "
          + ", ".join(str(out / p) for p in summary.get("plots", [])))


def _number(text: str | None) -> float:
    """A metrics.csv cell: empty (not measured) reads as NaN."""
    return float(text) if text else float("nan")


def _compare(args: argparse.Namespace) -> int:
    import json

    from sim.metrics import MetricsLog
    from sim.plots import ComparedRun, plot_compare

    runs = []
    for directory in args.dirs:
        path = directory / "metrics.csv"
        if not path.exists():
            raise CommandError(f"{path} not found: is {directory} a finished run?")
        log = MetricsLog()
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                log.add(time=float(row["time"]), peer=row.get("peer"), honest=row["honest"] == "1",
                        online=row["online"] == "1", accuracy=_number(row.get("accuracy")),
                        attack_success=_number(row.get("attack_success")),
                        bytes_sent=_number(row.get("bytes_sent")),
                        consensus_distance=_number(row.get("consensus_distance")))
        summary = directory / "summary.json"
        baseline = json.loads(summary.read_text()).get("baseline", "none") if summary.exists() else "none"
        runs.append(ComparedRun(directory.name, log, baseline not in ("none", None)))
    plot_compare(runs, args.out)
    print(_final_table(args.dirs))
    print(f"wrote {args.out}")
    return 0


def _final_table(dirs: list[Path]) -> str:
    """The runs' final numbers from their summary.json, one row per run, for the terminal."""
    import json

    header = ("run", "honest acc", "min acc", "attack success", "peer-rounds", "note")
    rows = [header]
    for directory in dirs:
        path = directory / "summary.json"
        s = json.loads(path.read_text()) if path.exists() else {}
        success = s.get("attack_success_rate")
        rows.append((directory.name, _cell(s.get("final_honest_mean_accuracy")),
                     _cell(s.get("final_honest_min_accuracy")), _cell(success) if success is not None else "-",
                     str(s.get("peer_rounds", "-")),
                     "interrupted" if s.get("interrupted") else ("" if s else "no summary.json")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"
