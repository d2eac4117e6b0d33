"""The dashboard: following files, the testnet and run views, and its HTTP API served by the real
`loragossip dashboard` process. (The page in a real browser: tests/test_dashboard_browser.py.)"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import pytest

from loragossip.dashboard.run_view import RunView
from loragossip.dashboard.series import Series
from loragossip.dashboard.tail import FileTail
from loragossip.dashboard.testnet_view import TestnetView
from loragossip.main import main
from sim.metrics import MetricsLog
from tests.dashboard_fixtures import (
    HOSTILE_ID,
    dashboard_process,
    get,
    metrics_row,
    run_folder,
    wait_until,
)


# following files ---------------------------------------------------------------------------------
def test_a_tail_returns_complete_lines_once_and_rereads_a_replaced_file(tmp_path):
    path = tmp_path / "log.jsonl"
    tail = FileTail(path)
    assert tail.new_lines() == []  # not there yet
    path.write_text("one\ntwo\nthr")
    assert tail.new_lines() == ["one", "two"]
    assert tail.new_lines() == []  # the half line waits for its newline
    with open(path, "a") as handle:
        handle.write("ee\n")
    assert tail.new_lines() == ["three"] and not tail.reset
    replacement = tmp_path / "new"
    replacement.write_text("fresh\n")
    os.replace(replacement, path)
    assert tail.new_lines() == ["fresh"] and tail.reset
    path.write_text("")  # truncated in place
    assert tail.new_lines() == [] and tail.reset


def test_a_series_stays_bounded_keeps_its_newest_point_and_drops_non_finite_values():
    series = Series("peer", limit=100)
    for i in range(1000):
        series.add(float(i), float(i))
    series.add(1000.0, math.nan)
    assert 50 <= len(series.points) <= 100
    assert series.points[-1] == (999.0, 999.0) and series.points[0] == (0.0, 0.0)
    assert [x for x, _ in series.points] == sorted(x for x, _ in series.points)


def test_a_followed_metrics_file_grows_with_each_flush_and_ends_as_write_csv_writes_it(tmp_path):
    log, live, whole = MetricsLog(), tmp_path / "metrics.csv", tmp_path / "whole.csv"
    log.follow(live)
    for t in (0.0, 10.0):
        for peer in range(3):
            metrics_row(log, t, peer)
        log.flush()
        assert len(live.read_text().splitlines()) == 1 + len(log.rows)
    log.write_csv(whole)
    assert live.read_text() == whole.read_text()


# the run view ------------------------------------------------------------------------------------
def _chart(state: dict, key: str) -> dict[str, list]:
    return {s["name"]: [list(p) for p in s["points"]] for c in state["charts"] if c["id"] == key for s in c["series"]}


def test_the_run_view_draws_a_running_simulation_evaluation_by_evaluation(tmp_path):
    log = run_folder(tmp_path, times=(0.0,), finished=False)
    view = RunView(tmp_path)
    first = view.snapshot()
    assert first["status"].startswith("running")
    assert _chart(first, "accuracy")["honest mean"] == [[0.0, pytest.approx(0.51)]]
    with open(tmp_path / "metrics.csv", "a") as handle:  # a writer caught mid-row
        handle.write("10,10,0,1,1,0.6")
    assert len(_chart(view.snapshot(), "accuracy")["honest mean"]) == 1
    (tmp_path / "metrics.csv").write_text((tmp_path / "metrics.csv").read_text().rsplit("\n", 1)[0] + "\n")
    for peer in range(4):
        metrics_row(log, 10.0, peer, honest=peer < 3)
    log.write_csv(tmp_path / "metrics.csv")  # a resumed or repeated run rewrites the file whole
    state = view.snapshot()
    accuracy = _chart(state, "accuracy")
    assert [p[0] for p in accuracy["honest mean"]] == [0.0, 10.0]
    assert accuracy["honest min"][1][1] == pytest.approx(0.6) and accuracy["honest max"][1][1] == pytest.approx(0.62)
    assert accuracy["adversarial mean"][1][1] == pytest.approx(0.63)
    assert _chart(state, "traffic")["sent"][1][1] == pytest.approx(11000 / 1e6)
    assert "attack" not in [c["id"] for c in state["charts"]]  # no honest peer was attacked: no chart
    latest = dict(state["tables"][0]["rows"])
    assert latest["honest peers online"] == "3 of 3" and latest["virtual time (s)"] == "10"


def test_the_run_view_says_when_a_run_finished(tmp_path):
    run_folder(tmp_path)
    state = RunView(tmp_path).snapshot()
    assert state["status"] == "finished · 3 evaluations"
    assert ["interrupted", "no"] in state["tables"][1]["rows"]


# the testnet view --------------------------------------------------------------------------------
def test_the_testnet_view_shows_status_history_graph_refusals_and_bans(fake_testnet):
    directory, _ = fake_testnet
    state = TestnetView(directory).snapshot()
    assert state["status"].startswith("2 of 2 peers up · libp2p")
    accuracy = _chart(state, "accuracy")
    assert [p[0] for p in accuracy["boot"]] == [2.0, 3.0, 4.0]  # seconds since the first logged round
    assert accuracy["peer-1"][0] == [3.0, 0.6]
    assert _chart(state, "sent")["boot"][-1][1] == pytest.approx(0.4)
    graph = state["graph"]
    assert {n["label"]: n["state"] for n in graph["nodes"]} == {"boot": "up", "peer-1": "up", "…ranger": "stranger"}
    assert {frozenset(e) for e in graph["edges"]} == {frozenset(("12D3KooWAlpha", "12D3KooWBeta")),
                                                      frozenset((HOSTILE_ID, "12D3KooWAlpha"))}
    tables = {t["title"]: t["rows"] for t in state["tables"]}
    assert [r[:4] for r in tables["peers"]] == [["boot", "12D3KooWAlpha"[-8:], tables["peers"][0][2], "up"],
                                                ["peer-1", "12D3KooWBeta"[-8:], tables["peers"][1][2], "up"]]
    assert ["node", "bad_signature", "4", "2"] in tables["rejected and refused, by reason"]
    assert ["transport", "rate_limited", "2", "1"] in tables["rejected and refused, by reason"]
    assert ["admission", "probation", "1", "1"] in tables["rejected and refused, by reason"]
    assert tables["bans in force"] == [["boot", "12D3KooWFlooder"]]
    assert tables["problems"] == [["peer-1", "announced address 10.0.0.1 is not reachable"]]


def test_the_testnet_view_marks_a_dead_peer_and_keeps_its_history(fake_testnet):
    directory, stand_ins = fake_testnet
    view = TestnetView(directory)
    view.snapshot()
    stand_ins[1].kill()
    stand_ins[1].wait()
    state = view.snapshot()
    assert state["status"].startswith("1 of 2 peers up")
    assert {n["label"]: n["state"] for n in state["graph"]["nodes"]}["peer-1"] == "down"
    assert len(_chart(state, "accuracy")["peer-1"]) == 3  # its past stays on the chart
    assert [r[0] for r in {t["title"]: t["rows"] for t in state["tables"]}["problems"]] == ["peer-1"]


# the HTTP API of the real command ----------------------------------------------------------------
def test_the_dashboard_serves_its_page_script_and_state_and_follows_a_growing_run(tmp_path):
    log = run_folder(tmp_path, times=(0.0,), finished=False)
    with dashboard_process(str(tmp_path)) as url:
        code, kind, page = get(url)
        assert code == 200 and kind.startswith("text/html") and b'<script src="dashboard.js">' in page
        code, kind, script = get(url + "dashboard.js")
        assert code == 200 and kind.startswith("text/javascript") and b"api/state" in script
        assert b"http" not in script.replace(b"http://www.w3.org/2000/svg", b"")  # nothing from the internet
        code, kind, body = get(url + "api/state?t=1")
        state = json.loads(body)
        assert code == 200 and kind == "application/json" and state["kind"] == "run"
        assert state["refresh_s"] == 0.5 and len(_chart(state, "accuracy")["honest mean"]) == 1
        for peer in range(4):
            metrics_row(log, 10.0, peer, honest=peer < 3)
        log.flush()
        wait_until(lambda: len(_chart(json.loads(get(url + "api/state")[2]), "accuracy")["honest mean"]) == 2,
                   what="the second evaluation on the page")
        assert get(url + "nothing")[0] == 404
        assert get(url + "api/state", method="POST")[0] == 405


def test_the_dashboard_shows_an_error_when_the_directory_goes_and_keeps_serving(fake_testnet):
    directory, _ = fake_testnet
    with dashboard_process(str(directory)) as url:
        assert json.loads(get(url + "api/state")[2])["kind"] == "testnet"
        (directory / "testnet.json").unlink()
        state = wait_until(lambda: (s := json.loads(get(url + "api/state")[2])).get("error") and s,
                           what="an error on the page")
        assert "no testnet" in state["error"] and state["status"] == "error"


def test_the_dashboard_command_explains_a_wrong_directory_and_a_busy_port(tmp_path, capsys):
    assert main(["dashboard", str(tmp_path)]) == 2
    assert "neither a testnet" in capsys.readouterr().err
    run_folder(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["dashboard", str(tmp_path), "--port", str(busy.getsockname()[1])]) == 2
    assert "--port 0 picks a free one" in capsys.readouterr().err


def test_reading_status_and_serving_the_dashboard_never_import_torch():
    code = ("import sys, loragossip.main, loragossip.dashboard.server, loragossip.dashboard.testnet_view, "
            "loragossip.dashboard.run_view, peer.testnet; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
