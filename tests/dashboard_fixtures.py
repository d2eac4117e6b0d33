"""Shared by the dashboard's tests: a run folder written by the real MetricsLog, a testnet directory
whose peers answer canned status from real status servers, and the real `loragossip dashboard`
process."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from peer.status_http import StatusServer
from peer.testnet import PeerProcess, Testnet
from sim.metrics import MetricsLog

HOSTILE_ID = "<img src=x onerror=alert(1)>stranger"


def metrics_row(log: MetricsLog, t: float, peer: int, honest: bool = True) -> None:
    log.add(time=t, round=int(t), peer=peer, honest=honest, online=True, accuracy=0.5 + t / 100 + peer / 100,
            loss=1.0 / (1 + t), bytes_sent=1000 * (t + 1), bytes_received=900 * (t + 1),
            consensus_distance=0.1, attack_success=float("nan") if honest else 0.0)


def run_folder(directory: Path, times=(0.0, 10.0, 20.0), finished: bool = True) -> MetricsLog:
    directory.mkdir(parents=True, exist_ok=True)
    log = MetricsLog()
    log.follow(directory / "metrics.csv")
    for t in times:
        for peer in range(4):
            metrics_row(log, t, peer, honest=peer < 3)
        log.flush()
    if finished:
        (directory / "summary.json").write_text(json.dumps({"final_honest_mean_accuracy": 0.7, "interrupted": False}))
    return log


@contextmanager
def status_servers(statuses: list[dict]):
    """Real StatusServers on loopback, one per status, on a loop in a thread."""
    loop = asyncio.new_event_loop()
    servers = [StatusServer(lambda s=s: s) for s in statuses]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    for server in servers:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    try:
        yield servers
    finally:
        for server in servers:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


@pytest.fixture
def fake_testnet(tmp_path):
    """A testnet directory of two peers whose processes are stand-ins (a sleeping Python named
    `peer`) and whose status servers answer canned status: one honest view, one that saw a stranger."""
    statuses = [
        {"peer_id": "12D3KooWAlpha", "round": 7, "neighbours": 2, "accuracy": 0.81, "bytes_sent": 2_000_000,
         "bytes_received": 1_500_000, "rejected": {"bad_signature": 3}, "dropped": {"rate_limited": 2},
         "admission": {"refused": {"probation": 1}}, "banned": ["12D3KooWFlooder"],
         "neighbour_ids": ["12D3KooWBeta", HOSTILE_ID], "reachability": "ok"},
        {"peer_id": "12D3KooWBeta", "round": 6, "neighbours": 1, "accuracy": 0.79, "bytes_sent": 1_000_000,
         "bytes_received": 900_000, "rejected": {"bad_signature": 1}, "banned": [],
         "neighbour_ids": ["12D3KooWAlpha"], "reachability": ["announced address 10.0.0.1 is not reachable"]},
    ]
    stand_ins = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "peer"]) for _ in statuses]
    with status_servers(statuses) as servers:
        peers = []
        for i, (name, server, process) in enumerate(zip(("boot", "peer-1"), servers, stand_ins, strict=True)):
            state = tmp_path / "peers" / name
            state.mkdir(parents=True)
            (state / "daemon.json").write_text(json.dumps({"state": "running", "status_url": server.url}))
            rounds = [{"t": 1000.0 + r + i, "level": "info", "logger": "peer.daemon", "msg": "round", "round": r,
                       "loss": 2.0 / (r + 1), "accuracy": None if r < 2 else 0.5 + r / 20,
                       "bytes_sent": 100_000 * r, "bytes_received": 90_000 * r} for r in range(5)]
            lines = ["not json at all", *(json.dumps(e) for e in rounds)]
            (state / "log.jsonl").write_text("\n".join(lines) + "\n")
            peers.append(PeerProcess(name, process.pid, str(state), str(state / "log.jsonl")))
        Testnet(tmp_path, "libp2p", str(tmp_path / "genesis.toml"), "/ip4/127.0.0.1/tcp/1/p2p/x", peers).save()
        yield tmp_path, stand_ins
    for process in stand_ins:
        process.kill()
        process.wait()


@contextmanager
def dashboard_process(*args: str):
    """`loragossip dashboard ARGS --port 0 --every 0.5` as a process; yields its URL."""
    process = subprocess.Popen([sys.executable, "-m", "loragossip", "dashboard", *args, "--port", "0",
                                "--every", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert match, f"no URL in the first line: {line!r}{process.stdout.read() if process.poll() else ''}"
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(60)


def get(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    try:
        with urlopen(Request(url, method=method), timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def wait_until(predicate, timeout: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout:.0f} s")
