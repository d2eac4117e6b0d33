"""A small simulation end to end: learning happens, outputs match the contract, errors are clear."""

import csv
import json
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from loragossip.main import main
from sim.config import ConfigError, parse_config
from sim.experiment import run_experiment
from sim.workload import simulation_workload

SMALL = {
    "run": {"name": "small", "seed": 3, "duration": 40.0, "eval_every": 10.0},
    "peers": {"count": 8, "partition": "iid"},
    "topology": {"graph": "regular", "degree": 3},
    "genesis": {"training": {"local_steps": 10}},
}
CONTRACT_COLUMNS = ["time", "round", "peer", "honest", "online", "accuracy", "loss", "bytes_sent", "bytes_received"]


def _with(**sections):
    raw = {k: dict(v) for k, v in SMALL.items()}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return parse_config(raw)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    return out, run_experiment(parse_config(SMALL), out, progress=False)


def test_learning_happens(small_run):
    _, summary = small_run
    assert summary["final_honest_mean_accuracy"] > 0.7  # chance is 0.1, the base model 0.45
    assert summary["final_honest_min_accuracy"] > 0.6
    assert summary["peer_rounds"] > 8 * 10


def test_outputs_match_the_contract(small_run):
    out, summary = small_run
    assert summary["name"] == "small"
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    assert len(rows) == 8 * 5  # one row per peer per evaluation (t = 0, 10, 20, 30, 40)
    assert {r["peer"] for r in rows} == {str(i) for i in range(8)}
    saved = json.loads((out / "summary.json").read_text())
    for key in ("final_honest_mean_accuracy", "final_honest_min_accuracy", "total_bytes_sent", "wall_seconds",
                "config"):
        assert key in saved
    assert saved["config"]["peers"]["count"] == 8 and saved["total_bytes_sent"] > 0
    assert (out / "overview.png").stat().st_size > 10_000


def test_same_seed_same_numbers(tmp_path):
    config = _with(run={"duration": 20.0})
    a = run_experiment(config, tmp_path / "a", progress=False)
    b = run_experiment(config, tmp_path / "b", progress=False)
    for summary in (a, b):
        summary.pop("wall_seconds")
        summary.pop("peer_rounds_per_second")
        summary.pop("training_share_of_wall")
    assert a == b
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (tmp_path / "b" / "metrics.csv").read_bytes()


def test_churn_attack_and_sync_modes_run(tmp_path):
    churned = run_experiment(_with(churn={"kind": "mass", "fraction": 0.5}), tmp_path / "churn", progress=False)
    assert churned["final_honest_online_peers"] == 8  # everyone is back by the end
    with open(tmp_path / "churn" / "metrics.csv", newline="") as handle:
        online = [int(r["online"]) for r in csv.DictReader(handle) if float(r["time"]) == 20.0]
    assert sum(online) == 4
    attacked = run_experiment(_with(attack={"kind": "label_flip", "fraction": 0.25, "sybil": True}),
                              tmp_path / "attack", progress=False)
    assert attacked["attack_success_rate"] is not None and len(attacked["adversarial_peers"]) == 2
    sync = run_experiment(_with(run={"mode": "sync", "rounds": 3, "eval_every": 1}), tmp_path / "sync",
                          progress=False)
    assert sync["peer_rounds"] == 8 * 3
    fedavg = run_experiment(_with(run={"baseline": "fedavg", "rounds": 3, "eval_every": 1}), tmp_path / "fedavg",
                            progress=False)
    assert fedavg["baseline"] == "fedavg" and fedavg["final_honest_mean_accuracy"] > 0.5


@pytest.mark.parametrize(("raw", "message"), [
    ({"peers": {"partition": "zipf"}},
     "peers.partition: 'zipf' is not one of ['iid', 'dirichlet', 'pathological', 'sampled']"),
    ({"topology": {"graph": "mesh"}}, "topology.graph: 'mesh' is not one of"),
    ({"genesis": {"aggregation": {"rule": "avg"}}}, "aggregation.rule: 'avg' is not one of"),
    ({"run": {"mode": "sync"}, "churn": {"kind": "mass"}}, "cannot have churn"),
    ({"peers": {"count": "8"}}, "peers.count: expected an integer"),
    ({"peer": {}}, "unknown section(s) ['peer'] (did you mean 'peers'?)"),
    ({"run": {"durtion": 3}}, "[run]: unknown key(s) ['durtion'] (did you mean 'duration'?); expected some of"),
    ({"topology": {"graph": "regullar"}}, "(did you mean 'regular'?)"),
    ({"genesis": {"aggregation": {"rule": "kurm"}}}, "(did you mean 'krum'?)"),
    ({"run": {"validation": 1.0}}, "run.validation"),
])
def test_bad_config_fails_with_a_clear_message(raw, message):
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert message in str(info.value)


def test_every_problem_of_a_config_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse_config({"run": {"durtion": 3}, "peers": {"count": "8", "partition": "zipf"},
                      "genesis": {"aggregation": {"rule": "kurm"}}})
    assert info.value.problems == (
        "[run]: unknown key(s) ['durtion'] (did you mean 'duration'?); expected some of ['baseline', 'data', "
        "'duration', 'engine', 'eval_every', 'genesis_file', 'mode', 'name', 'rounds', 'seed', 'validation']",
        "peers.count: expected an integer, got '8'",
        "peers.partition: 'zipf' is not one of ['iid', 'dirichlet', 'pathological', 'sampled']",
        "genesis.aggregation.rule: 'kurm' is not one of ['centered_clipping', 'foolsgold', 'geometric_median', "
        "'krum', 'mean', 'median', 'metropolis', 'multikrum', 'staleness_mean', 'sybilwall', 'trimmed_mean', "
        "'variance_corrected'] "
        "(did you mean 'krum'?)")
    assert str(info.value).startswith("4 problems: [run]: unknown key(s) ['durtion']") and "\n" not in str(info.value)


def test_cli_reports_config_errors_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[peers]\npartition = "zipf"\n')
    assert main(["sim", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "peers.partition" in capsys.readouterr().err


def test_threads_are_set_and_recorded(tmp_path, capsys):
    """The thread count orders float sums, so it is part of what reproduces a run: `--threads` sets
    it and summary.json records it (a sweep cell runs at 1 thread; `--threads 1` reproduces one)."""
    import torch

    config = tmp_path / "c.toml"
    config.write_text('[run]\nduration = 5.0\neval_every = 5.0\n[peers]\ncount = 4\n[topology]\ndegree = 2\n')
    before = torch.get_num_threads()
    try:
        assert main(["sim", str(config), "--out", str(tmp_path / "o"), "--threads", "1", "--no-progress"]) == 0
        assert json.loads((tmp_path / "o" / "summary.json").read_text())["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)
    assert main(["sim", str(config), "--out", str(tmp_path / "p"), "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err


def test_a_validation_run_scores_held_out_training_rows_the_same_for_every_run_seed():
    full = simulation_workload(_with())
    tuning = [simulation_workload(_with(run={"validation": 0.25, "seed": seed})) for seed in (1, 2)]
    rows = {tuple(x.tolist()) for x in full.train.features["x"]}
    assert len(tuning[0].test) == round(0.25 * len(full.train))
    assert len(tuning[0].train) == len(full.train) - len(tuning[0].test)
    held_out = [tuple(x.tolist()) for x in tuning[0].test.features["x"]]
    assert all(x in rows for x in held_out)  # from the training pool: the test set stays unseen
    assert not set(held_out) & {tuple(x.tolist()) for x in tuning[0].train.features["x"]}
    assert torch.equal(tuning[0].test.features["x"], tuning[1].test.features["x"])


def test_merge_statistics_say_how_much_a_merge_averages():
    from collections import Counter

    from sim.metrics import merge_statistics

    stats = merge_statistics(Counter({0: 1, 2: 2, 6: 1}))  # four merges: none, two of 2, one of 6
    assert stats["updates_per_merge"] == 2.5 and stats["merges_with_no_update"] == 0.25
    assert stats["own_share_of_plain_mean"] == pytest.approx((1 + 2 / 3 + 1 / 7) / 4, abs=1e-4)
    assert merge_statistics(Counter())["updates_per_merge"] is None


def test_set_overrides(tmp_path):
    from sim.config import load_config

    path = tmp_path / "c.toml"
    path.write_text('[peers]\ncount = 8\n')
    config = load_config(path, ["genesis.aggregation.rule=krum", "genesis.aggregation.params={ f = 2 }",
                                "peers.partition=dirichlet", "run.duration=5"])
    assert config.genesis.aggregation.rule == "krum" and config.genesis.aggregation.params == {"f": 2}
    assert config.peers.partition == "dirichlet" and config.run.duration == 5.0
    with pytest.raises(ConfigError, match=r"expected section\.key=value"):
        load_config(path, ["peers"])


def test_data_poisoners_boost_their_update():
    import torch

    from sim.adversaries import Adversary, DataPoisoner

    adversary = Adversary()
    out = DataPoisoner(adversary, boost=3.0).outgoing(None, torch.ones(2), torch.full((2,), 2.0))
    assert torch.equal(out, torch.full((2,), 4.0)) and adversary.latest is out  # clones copy the boosted one
    with pytest.raises(ValueError, match="boost"):
        DataPoisoner(adversary, boost=0.0)


@pytest.mark.parametrize("mode", ["sync", "async"])  # the batched engine and the nodes engine
def test_ctrl_c_keeps_the_results_so_far(tmp_path, mode):
    config = tmp_path / "long.toml"
    config.write_text(f'[run]\nname = "long"\nmode = "{mode}"\nrounds = 100000\nduration = 1e6\neval_every = 1.0\n'
                      '[peers]\ncount = 4\n[topology]\ndegree = 2\n[genesis.training]\nlocal_steps = 1\n')
    out, err = tmp_path / "out", tmp_path / "stderr.txt"
    with open(err, "wb") as stderr:
        # -X faulthandler: if it ever hangs, SIGABRT makes it print where every thread stands
        process = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "loragossip", "sim", str(config),
                                    "--out", str(out)], stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 120
            while not re.search(rb"\| *[3-9]\d*(\.\d+)?/", err.read_bytes()) and time.monotonic() < deadline:
                time.sleep(0.2)  # until the bar shows a few rounds (or virtual seconds) done
            process.send_signal(signal.SIGINT)
            try:
                status = process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGABRT)
                process.wait(timeout=30)
                where = err.read_text(errors="replace")[-6000:]
                pytest.fail(f"still running 120 s after Ctrl-C; where it stood:\n{where}")
        finally:
            process.kill()
    text = err.read_text(errors="replace")
    assert status == 130, text
    assert "Traceback" not in text and "Task was destroyed" not in text
    assert "interrupted at virtual time" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    with open(out / "metrics.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) >= 4  # at least one evaluation of every peer


def test_compare_has_its_own_help_and_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["sim", "compare", "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: loragossip sim compare [-h] [-v] [--out OUT] RUN_DIR")
    with pytest.raises(SystemExit) as info:
        main(["sim", "compare"])
    assert info.value.code == 2
    assert capsys.readouterr().err == ("loragossip sim compare: the following arguments are required: RUN_DIR "
                                       "(see loragossip sim compare --help)\n")


def test_compare_plots_and_prints_the_final_numbers(small_run, tmp_path, capsys):
    out, summary = small_run
    assert main(["sim", "compare", str(out), str(tmp_path), "--out", str(tmp_path / "c.png")]) == 2  # no metrics
    capsys.readouterr()
    assert main(["sim", "compare", str(out), "--out", str(tmp_path / "c.png")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["run", "honest", "acc"]
    assert table[1].split()[:2] == [out.name, f"{summary['final_honest_mean_accuracy']:.3f}"]
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_churn_windows_are_the_spans_with_a_peer_offline():
    from sim.plots import churn_windows

    rows = [{"time": t, "online": not (20 <= t <= 30 and p == 1) and not (t == 50 and p == 0)}
            for t in (0, 10, 20, 30, 40, 50) for p in (0, 1)]
    assert churn_windows(rows) == [(10, 40), (40, 50)]  # from the last evaluation all were online
    assert churn_windows([{"time": t, "online": True} for t in (0, 1)]) == []
