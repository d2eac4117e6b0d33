"""Sweeps: sweep files into cells, the process pool and Ray giving the same numbers, resume after
an interrupt, a failing cell recorded while the others finish, and one-line errors."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loragossip.main import main
from sim.config import ConfigError
from sim.sweep.plot import plot_sweep, series
from sim.sweep.spec import load_sweep

BASE = """
[run]
name = "tiny"
mode = "sync"
rounds = 2
eval_every = 1.0
[peers]
count = 6
[topology]
degree = 2
[genesis.training]
local_steps = 1
"""

GRID = """
base = "base.toml"
seeds = [1, 2]
[grid]
"genesis.aggregation.rule" = ["mean", "median"]
"topology.degree" = [2, 4]
"""


def _write(folder: Path, sweep: str, base: str = BASE) -> Path:
    (folder / "base.toml").write_text(base)
    path = folder / "grid.toml"
    path.write_text(sweep)
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_grid_zip_and_seeds_expand_into_distinct_cells(tmp_path):
    path = _write(tmp_path, GRID + '[zip]\n"attack.kind" = ["none", "sign_flip"]\n"attack.fraction" = [0.25, 0.34]\n'
                                   '[set]\n"peers.count" = 8\n')
    sweep = load_sweep(path)
    assert sweep.axes == ("genesis.aggregation.rule", "topology.degree", "attack.kind", "attack.fraction")
    assert len(sweep.cells) == 2 * 2 * 2 * 2  # rule × degree × zipped attack × seeds
    assert len({c.key for c in sweep.cells}) == len(sweep.cells)
    first = sweep.cells[0]
    assert dict(first.values) == {"genesis.aggregation.rule": "mean", "topology.degree": 2, "attack.kind": "none",
                                  "attack.fraction": 0.25}
    assert ("peers.count", 8) in sweep.assignments(first)
    assert load_sweep(path).cells == sweep.cells  # keys are stable across loads
    assert sweep.plot == {"y": "final_honest_mean_accuracy", "x": "genesis.aggregation.rule",
                          "lines": "topology.degree"}


def test_zipped_values_are_judged_together_and_a_bad_row_is_named(tmp_path):
    # a rule and its parameters only make sense together: `f` alone would be wrong for `mean`
    rules = ('base = "base.toml"\n[zip]\n"genesis.aggregation.rule" = ["mean", "trimmed_mean"]\n'
             '"genesis.aggregation.params" = [{}, { f = 1 }]\n')
    assert len(load_sweep(_write(tmp_path, rules)).cells) == 2
    with pytest.raises(ConfigError, match=r"genesis.aggregation.rule = mean, genesis.aggregation.params = \{.*f"):
        load_sweep(_write(tmp_path, rules.replace("[{}, { f = 1 }]", "[{ f = 1 }, { f = 1 }]")))


def test_a_cell_key_changes_with_any_resolved_value_but_not_with_the_name(tmp_path):
    keys = load_sweep(_write(tmp_path, GRID)).cells
    renamed = load_sweep(_write(tmp_path, GRID, BASE.replace('"tiny"', '"other"'))).cells
    assert [c.key for c in renamed] == [c.key for c in keys]
    longer = load_sweep(_write(tmp_path, GRID, BASE.replace("rounds = 2", "rounds = 3"))).cells
    assert not {c.key for c in longer} & {c.key for c in keys}


def test_set_overrides_are_the_file_with_those_values_in_its_set_table(tmp_path, capsys):
    overridden = load_sweep(_write(tmp_path, GRID), ["run.validation=0.2", "run.rounds=3"]).cells
    written = load_sweep(_write(tmp_path, GRID + '[set]\n"run.validation" = 0.2\n"run.rounds" = 3\n')).cells
    assert [c.key for c in overridden] == [c.key for c in written]  # the same cells: finished ones are reused
    replaced = load_sweep(_write(tmp_path, GRID + '[set]\n"run.rounds" = 5\n'), ["run.rounds=3"]).cells
    assert [c.key for c in replaced] == [c.key for c in load_sweep(_write(tmp_path, GRID), ["run.rounds=3"]).cells]
    with pytest.raises(ConfigError, match=r"--set topology.degree: the sweep varies it in \[grid\]"):
        load_sweep(_write(tmp_path, GRID), ["topology.degree=3"])
    assert main(["sweep", str(_write(tmp_path, GRID)), "--set", "run.rounds=3"]) == 2
    assert "give them their own --out" in capsys.readouterr().err


def test_seeds_given_on_the_command_line_replace_the_files_seeds(tmp_path, capsys):
    held_out = load_sweep(_write(tmp_path, GRID), seeds=[7, 8, 9])
    written = load_sweep(_write(tmp_path, GRID.replace("seeds = [1, 2]", "seeds = [7, 8, 9]")))
    assert held_out.seeds == (7, 8, 9) and [c.key for c in held_out.cells] == [c.key for c in written.cells]
    assert main(["sweep", str(_write(tmp_path, GRID)), "--seeds", "7-9"]) == 2
    assert "give them their own --out" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "seeds"), [("21-24", [21, 22, 23, 24]), ("1,5,9", [1, 5, 9]), ("3", [3]),
                                             ("1-2, 7", [1, 2, 7])])
def test_a_seed_list_reads_ranges_and_commas(text, seeds):
    from loragossip.types import seed_list

    assert seed_list(text) == seeds


@pytest.mark.parametrize("text", ["5-3", "1,1", "a-b", ""])
def test_a_bad_seed_list_is_refused_with_its_reason(text):
    import argparse

    from loragossip.types import seed_list

    with pytest.raises(argparse.ArgumentTypeError):
        seed_list(text)


def test_a_zipped_plot_axis_keeps_cells_that_share_one_value_apart(tmp_path):
    sweep = load_sweep(_write(tmp_path, 'base = "base.toml"\nseeds = [1, 2]\n'
                                        '[grid]\n"genesis.aggregation.rule" = ["mean", "median"]\n'
                                        '[zip]\n"attack.kind" = ["none", "sign_flip", "sign_flip"]\n'
                                        '"attack.fraction" = [0.25, 0.25, 0.34]\n'
                                        '[plot]\nx = "attack.kind"\nlines = "genesis.aggregation.rule"\n'))
    assert sweep.moving_with("attack.kind") == ("attack.kind", "attack.fraction")
    rows = [{**dict(c.values), "status": "done", "final_honest_mean_accuracy": 0.5 + 0.1 * c.seed
             + (0.2 if c.values[2][1] == 0.34 else 0.0)} for c in sweep.cells]
    data = series(sweep, rows)
    assert data.x_label == "attack.kind / attack.fraction"
    assert data.ticks == ["none / 0.25", "sign_flip / 0.25", "sign_flip / 0.34"]
    assert data.numeric is None
    assert list(data.lines) == ["genesis.aggregation.rule = mean", "genesis.aggregation.rule = median"]
    index, mean, std = zip(*data.lines["genesis.aggregation.rule = mean"], strict=True)
    assert index == (0, 1, 2)
    assert mean == pytest.approx((0.65, 0.65, 0.85)) and std == pytest.approx((0.0707107,) * 3)
    assert plot_sweep(sweep, rows, tmp_path).stat().st_size > 0


@pytest.mark.parametrize(("sweep", "message"), [
    ("typo = 1\n" + GRID, r"unknown key\(s\) \['typo'\]"),
    ('base = "base.toml"\n[grid]\n"run.durtion" = [1.0]\n', r"\[run\]: unknown key\(s\) \['durtion'\]"),
    ('base = "base.toml"\n[grid]\n"peers.count" = []\n', "list of values is empty"),
    ('base = "base.toml"\n[grid]\n', r"\[grid\] is empty"),
    ('base = "base.toml"\n[grid]\n"peers.count" = [4, "many"]\n', "peers.count: expected an integer, got 'many'"),
    ('base = "base.toml"\n[grid]\n"peers.count" = 4\n', "expected a list of values"),
    ('base = "base.toml"\n[grid]\n"genesis.aggregation.rule" = ["mean", "nope"]\n', "nope"),
    ('base = "base.toml"\n[zip]\n"peers.count" = [4, 5]\n"topology.degree" = [2]\n', "same length"),
    ('base = "base.toml"\nseeds = [1, 1]\n', "repeats a seed"),
    ('base = "base.toml"\nseeds = ["one"]\n', "non-empty list of integers"),
    ('base = "missing.toml"\n', "cannot read base config"),
    ('seeds = [1]\n', "base: expected the path"),
    ('base = "base.toml"\n[grid]\n"run.seed" = [1, 2]\n', "use seeds"),
    (GRID + '[plot]\nx = "peers.count"\n', "not a swept key"),
    (GRID + '[plot]\ny = "loss"\n', "plot.y"),
    ('base = "base.toml"\n[zip]\n"peers.count" = [4, 5]\n"topology.degree" = [2, 3]\n'
     '[plot]\nx = "peers.count"\nlines = "topology.degree"\n', "move apart"),
])
def test_bad_sweep_files_get_one_line_errors(tmp_path, capsys, sweep, message):
    path = _write(tmp_path, sweep)
    with pytest.raises(ConfigError, match=message):
        load_sweep(path)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("loragossip sweep: ") and str(path) in err
    assert not (tmp_path / "out").exists()  # nothing ran


def _sweep(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loragossip", "sweep", *args, "--no-progress"],
                          capture_output=True, text=True, timeout=900)


def _expected_columns() -> list[str]:
    return ["cell", "seed", "genesis.aggregation.rule", "topology.degree", "status"]


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool")
    path = _write(folder, GRID)
    result = _sweep([str(path), "--out", str(folder / "out"), "--workers", "2"])
    assert result.returncode == 0, result.stderr
    return path, folder / "out", result


def test_the_process_pool_runs_every_cell_and_reports_mean_and_spread(pool_run):
    _path, out, result = pool_run
    rows = _rows(out / "sweep.csv")
    assert list(rows[0])[:5] == _expected_columns()
    assert len(rows) == 8 and {r["status"] for r in rows} == {"done"}
    for row in rows:  # every cell is an ordinary run folder with its own summary
        summary = json.loads((out / "cells" / row["cell"] / "summary.json").read_text())
        assert float(row["final_honest_mean_accuracy"]) == pytest.approx(summary["final_honest_mean_accuracy"],
                                                                         rel=1e-5)
        assert summary["seed"] == int(row["seed"])
        assert summary["config"]["genesis"]["aggregation"]["rule"] == row["genesis.aggregation.rule"]
    summary_md = (out / "summary.md").read_text()
    table = [line for line in summary_md.splitlines() if line.startswith("| ") and "2/2" in line]
    assert len(table) == 4 and all(" ± " in line and "[" in line for line in table)
    assert summary_md.count("**") >= 2  # a best value per column
    assert (out / "sweep.png").stat().st_size > 10_000
    assert "8 cells (2 seeds); 0 already finished, 8 ran now, 0 failed" in result.stdout


def test_a_rerun_skips_finished_cells(pool_run):
    path, out, _ = pool_run
    before = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*/summary.json")}
    result = _sweep([str(path), "--out", str(out), "--workers", "2"])
    assert result.returncode == 0, result.stderr
    assert "8 already finished, 0 ran now" in result.stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*/summary.json")} == before


@pytest.mark.timeout(900)  # Ray starts its own processes: 20 s here when idle, minutes on a loaded machine
def test_ray_local_mode_gives_the_pool_numbers(pool_run, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    path, out, _ = pool_run
    result = _sweep([str(path), "--out", str(tmp_path / "ray"), "--ray", "local"])
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ray" / "sweep.csv").read_text() == (out / "sweep.csv").read_text()


def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path):
    path = _write(tmp_path, 'base = "base.toml"\n[set]\n"topology.path" = "no-such-graph.csv"\n'
                            '[grid]\n"topology.graph" = ["ring", "file", "complete"]\n')
    result = _sweep([str(path), "--out", str(tmp_path / "out"), "--workers", "2"])
    assert result.returncode == 1
    assert "1 cell(s) failed" in result.stderr
    rows = {r["topology.graph"]: r for r in _rows(tmp_path / "out" / "sweep.csv")}
    assert rows["ring"]["status"] == rows["complete"]["status"] == "done"
    assert rows["file"]["status"] == "failed" and "no-such-graph.csv" in rows["file"]["error"]
    error = json.loads((tmp_path / "out" / "cells" / f"{rows['file']['cell']}.error.json").read_text())
    assert "Traceback" in error["traceback"]
    assert "1 failed" in (tmp_path / "out" / "summary.md").read_text()


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path):
    base = BASE.replace("rounds = 2", "rounds = 4")
    path = _write(tmp_path, 'base = "base.toml"\nseeds = [1, 2, 3, 4, 5, 6]\n'
                            '[grid]\n"genesis.aggregation.rule" = ["mean"]\n', base)
    out, err = tmp_path / "out", tmp_path / "stderr.txt"
    with open(err, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "loragossip", "sweep", str(path), "--out", str(out),
                                    "--workers", "1", "--no-progress"], stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 300
            while not list(out.glob("cells/*/summary.json")) and time.monotonic() < deadline:
                time.sleep(0.1)  # until the first cell is stored
            process.send_signal(signal.SIGINT)
            status = process.wait(timeout=120)
        finally:
            process.kill()
    text = err.read_text()
    assert status == 130, text
    assert "interrupted" in text and "Traceback" not in text
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("cells/*/summary.json")}
    assert 1 <= len(finished) < 6 and not list(out.glob("cells/*.partial"))
    partial = _rows(out / "sweep.csv")
    assert sum(r["status"] == "done" for r in partial) == len(finished)
    assert {r["status"] for r in partial} <= {"done", "pending"}
    result = _sweep([str(path), "--out", str(out), "--workers", "2"])
    assert result.returncode == 0, result.stderr
    assert f"{len(finished)} already finished, {6 - len(finished)} ran now" in result.stdout
    assert {k: (out / "cells" / k / "summary.json").stat().st_mtime_ns for k in finished} == finished
    assert {r["status"] for r in _rows(out / "sweep.csv")} == {"done"}


def test_a_cell_key_names_the_engine_auto_resolves_to():
    """`auto` once took the nodes engine for async runs: a cell measured then must not stand in
    for one the batched engine runs now, while relabelling `auto` as `batched` reruns nothing."""
    from sim.config import parse_config
    from sim.sweep.spec import config_key

    def key(engine: str) -> str:
        return config_key(parse_config({"run": {"mode": "async", "engine": engine}}), seed=1)

    assert key("auto") == key("batched") != key("nodes")
