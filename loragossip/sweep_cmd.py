"""`loragossip sweep SWEEP.toml [--out DIR] [--set KEY=VALUE] [--seeds LIST] [...]`: a grid of runs."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from loragossip.errors import CommandError
from loragossip.types import at_least_one, non_negative, seed_list


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sweep", help="run a grid of simulations over seeds (process pool or Ray), with mean ± spread",
        description="Expand a sweep file (a base sim config, seeds, [grid] and [zip] axes) into cells, run "
                    "every cell × seed as an ordinary simulation, and write DIR/sweep.csv, DIR/summary.md "
                    "and DIR/sweep.png. Rerunning the same command skips finished cells and retries failed "
                    "or interrupted ones.",
        epilog="examples:\n"
               "  loragossip sweep examples/sweeps/churn.toml --workers 2\n"
               "  loragossip sweep examples/sweeps/sybil.toml --ray auto      (an existing Ray cluster)\n"
               "  loragossip sweep examples/sweeps/noniid.toml --set run.validation=0.2 \\\n"
               "      --out runs/sweeps/noniid-validation     (the same cells, scored on a validation split)\n"
               "sweep file format: see examples/sweeps/ and sim/sweep/spec.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sweep", type=Path, help="sweep TOML")
    parser.add_argument("--out", type=Path, help="output folder (default runs/sweeps/<sweep name>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="add to the sweep's [set] for every cell, e.g. --set run.validation=0.2 "
                             "(repeatable; needs --out)")
    parser.add_argument("--seeds", type=seed_list, metavar="SEEDS",
                        help="run the cells on these seeds instead of the file's, e.g. 21-28 or 1,5,9 "
                             "(held-out seeds for a setting picked on the file's own; needs --out)")
    parser.add_argument("--workers", type=at_least_one,
                        help="local worker processes (default: cores ÷ --cpus-per-cell)")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="run cells as Ray tasks: 'auto' (this machine's cluster), 'local' (start a "
                             "private Ray on this machine) or a cluster address; needs the ray extra")
    parser.add_argument("--cpus-per-cell", type=at_least_one, default=1,
                        help="torch threads per cell, and the CPUs each Ray task asks for (default 1)")
    parser.add_argument("--gpus-per-cell", type=non_negative, default=0.0,
                        help="GPUs each Ray task asks for (fractions share a GPU); > 0 runs cells on cuda")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 for every cell (default: cuda when present)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from sim.config import ConfigError
    from sim.sweep.backends import BackendError, ProcessPool, RayCluster, default_workers
    from sim.sweep.driver import run_sweep
    from sim.sweep.spec import load_sweep

    if args.ray and args.workers:
        raise CommandError("--workers sizes the local pool; with --ray the cluster decides (use --cpus-per-cell)")
    if args.gpus_per_cell and not args.ray:
        raise CommandError("--gpus-per-cell is a Ray resource request; locally, use --device cuda")
    if (args.overrides or args.seeds) and args.out is None:
        raise CommandError("--set and --seeds run other cells than the sweep file's own: give them their own --out")
    try:
        sweep = load_sweep(args.sweep, args.overrides, args.seeds)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    out = args.out or Path("runs") / "sweeps" / sweep.name
    device = args.device or ("cuda" if args.gpus_per_cell else None)
    try:
        backend = (RayCluster(args.ray, args.cpus_per_cell, args.gpus_per_cell) if args.ray
                   else ProcessPool(args.workers or default_workers(args.cpus_per_cell)))
    except BackendError as exc:
        raise CommandError(str(exc)) from exc
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        report = run_sweep(sweep, out, backend, device=device, threads=args.cpus_per_cell,
                           progress=not args.no_progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
        backend.close()
    seeds = f"{len(sweep.seeds)} seed" + ("s" if len(sweep.seeds) > 1 else "")
    print(f"{sweep.name}: {report.cells} cells ({seeds}); {report.skipped} already finished, "
          f"{report.done} ran now, {report.failed} failed, in {report.wall_seconds:.1f} s")
    print("wrote " + ", ".join(str(p) for p in report.outputs))
    if report.interrupted:
        print(f"loragossip sweep: interrupted; finished cells are kept in {out / 'cells'}: run the same "
              "command again to resume", file=sys.stderr)
        return 130
    if report.failed:
        print(f"loragossip sweep: {report.failed} cell(s) failed; their errors are in sweep.csv and "
              f"{out / 'cells'}/*.error.json; rerun to retry them", file=sys.stderr)
        return 1
    return 0


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
