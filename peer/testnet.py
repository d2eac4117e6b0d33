"""A local testnet: a bootstrap peer and N peers as processes on loopback, kept in one directory.

Layout of the directory (`--dir`, default ./testnet):
  testnet.json            transport, genesis path, bootstrap address, and every peer's name/pid/paths
  genesis.toml            the network's genesis
  data/shard-NNN.safetensors   each peer's private share of the workload's pool
  peers/NAME/             the peer's state dir (identity.key, checkpoints/, daemon.json) and log.jsonl
  broker.secret           mqtt: the embedded broker's secret; each peer started here gets
                          peers/NAME/mqtt-credentials.json issued from it
`up` writes it, `join --background` adds to it, `status` and `down` only read it (and pids).
Peers run in their own sessions, so `down` can signal each one's whole process group and
nothing is left behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from peer.atomic import write_json_atomic
from peer.status_http import fetch_status

STATE_FILE = "testnet.json"
BROKER_SECRET = "broker.secret"
CREDENTIALS = "mqtt-credentials.json"


class TestnetError(RuntimeError):
    """A testnet cannot be started, found or stopped; the message says what to do."""

    __test__ = False  # not a pytest test class, despite the name


@dataclass
class PeerProcess:
    name: str
    pid: int
    state_dir: str
    log: str
    arguments: list[str] = field(default_factory=list)  # to restart it the same way


@dataclass
class Testnet:
    __test__ = False  # not a pytest test class, despite the name

    directory: Path
    transport: str
    genesis: str
    bootstrap: str = ""
    peers: list[PeerProcess] = field(default_factory=list)

    @classmethod
    def load(cls, directory: Path) -> Testnet:
        path = directory / STATE_FILE
        if not path.exists():
            raise TestnetError(f"no testnet in {directory} (no {STATE_FILE}); start one with `loragossip testnet up`")
        raw = json.loads(path.read_text())
        return cls(directory, raw["transport"], raw["genesis"], raw["bootstrap"],
                   [PeerProcess(**p) for p in raw["peers"]])

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.directory / STATE_FILE, {
            "transport": self.transport, "genesis": self.genesis, "bootstrap": self.bootstrap,
            "peers": [asdict(p) for p in self.peers]})

    def running(self) -> list[PeerProcess]:
        return [p for p in self.peers if alive(p.pid)]


EXIT_STATUS: dict[int, int] = {}  # wait statuses of the peers this process started and reaped, by pid


def alive(pid: int) -> bool:
    """True for a live `loragossip peer` process (a zombie or a reused pid does not count).

    A child this process just started may show an empty command line for a while: Popen returns
    once the exec has closed the descriptors it watches, before the kernel has set up the new
    program's arguments (here after 1 in 200 to 293 in 300 Popen calls, by load). Taken for a reused pid,
    that made `up` report a starting peer as exited, with an empty log, on a busy CI machine."""
    own_child = False
    with contextlib.suppress(ChildProcessError, OSError):
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            EXIT_STATUS[pid] = status  # our own child, just reaped: keep how it ended for the error message
            return False
        own_child = True  # ours and not exited: its pid cannot have been reused
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and (b"peer" in cmdline or (own_child and not cmdline))


def issue_credentials(directory: Path, state_dir: Path) -> None:
    """An MQTT testnet (one with a broker secret): credentials for the peer whose state is `state_dir`
    (its identity is made here when it has none yet, so the credentials can name it)."""
    secret = directory / BROKER_SECRET
    if secret.exists():
        from gossip.identity import Identity
        from gossip.transport.mqtt_auth import issue, load_secret

        identity = Identity.load_or_create(state_dir / "identity.key")
        issue(load_secret(secret), identity.peer_id_str).save(state_dir / CREDENTIALS)


def how_it_ended(pid: int) -> str:
    """"exited with code N" or "was killed by SIGNAME" for a peer this process reaped, else "exited"."""
    status = EXIT_STATUS.get(pid)
    if status is None:
        return "exited"
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


def broker_certificate(directory: Path) -> Path | None:
    """The boot peer's self-signed certificate, when the testnet's broker speaks TLS."""
    cert = directory / "peers" / "boot" / "broker-cert.pem"
    return cert if cert.exists() else None


def spawn_peer(directory: Path, name: str, arguments: list[str]) -> PeerProcess:
    """Start `loragossip peer ARGUMENTS --state-dir DIR/peers/NAME` in its own session, logging to a file
    (with the fault handler on from the interpreter's start, so a crash in native code, even during
    the imports, leaves its Python stack in the log rather than an empty file)."""
    state_dir = directory / "peers" / name
    state_dir.mkdir(parents=True, exist_ok=True)
    issue_credentials(directory, state_dir)
    log = state_dir / "log.jsonl"
    with contextlib.suppress(FileNotFoundError):
        (state_dir / "daemon.json").unlink()  # so waiting reads this run's file, not a previous one
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "loragossip", "peer", *arguments,
             "--state-dir", str(state_dir)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return PeerProcess(name, process.pid, str(state_dir), str(log), arguments)


def wait_started(peer: PeerProcess, timeout: float = 120.0) -> dict[str, Any]:
    """The peer's daemon.json once it runs; TestnetError with its log's tail when it died or hung."""
    path = Path(peer.state_dir) / "daemon.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            info = json.loads(path.read_text())
            if info.get("state") == "running" and info.get("pid") == peer.pid:
                return info
        if not alive(peer.pid):
            break
        time.sleep(0.2)
    tail = Path(peer.log).read_text(errors="replace").splitlines()[-8:] if Path(peer.log).exists() else []
    reason = how_it_ended(peer.pid) if not alive(peer.pid) else f"did not start within {timeout:.0f} s"
    lines = "last log lines:\n" + "\n".join(tail) if tail else "its log is empty"
    raise TestnetError(f"peer {peer.name} {reason}; {lines}")


def peer_status(peer: PeerProcess) -> dict[str, Any]:
    """Live status of one peer, or a row saying why there is none."""
    row: dict[str, Any] = {"name": peer.name, "pid": peer.pid, "alive": alive(peer.pid)}
    path = Path(peer.state_dir) / "daemon.json"
    if row["alive"] and path.exists():
        info = json.loads(path.read_text())
        try:
            row.update(fetch_status(info["status_url"]))
        except OSError as exc:
            row["error"] = f"status unavailable: {exc}"
    return row


STATUS_COLUMNS = ("name", "peer", "pid", "state", "round", "nbrs", "acc", "sent MB", "recv MB", "rejected", "banned")


def status_cells(row: dict[str, Any]) -> tuple[str, ...]:
    """One `peer_status` row as the cells of STATUS_COLUMNS (`testnet status` and the dashboard)."""
    up = row["alive"]
    state = ("up" if up else "down") if "error" not in row else "?"
    return (row["name"], str(row.get("peer_id", ""))[-8:], str(row["pid"]), state, _cell(row.get("round")),
            _cell(row.get("neighbours")), _cell(row.get("accuracy")),
            _cell(row.get("bytes_sent", 0) / 1e6 if up else None, 2),
            _cell(row.get("bytes_received", 0) / 1e6 if up else None, 2),
            _cell(sum(row.get("rejected", {}).values()) if up else None),
            _cell(len(row.get("banned", [])) if up else None))


def _cell(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def stop(testnet: Testnet, timeout: float = 20.0) -> tuple[list[str], list[str]]:
    """SIGTERM every live peer's process group, SIGKILL what is left after `timeout`; (graceful, killed)."""
    live = testnet.running()
    for peer in live:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(peer.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p.pid) for p in live):
        time.sleep(0.2)
    killed = []
    for peer in live:
        if alive(peer.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(peer.pid, signal.SIGKILL)
            killed.append(peer.name)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(alive(p.pid) for p in live):
        time.sleep(0.1)
    return [p.name for p in live if p.name not in killed], killed


def prepare_directory(directory: Path, transport: str, previous: str) -> None:
    """What to do with a stopped testnet in `directory`: refuse (say what it is), resume it, or wipe it."""
    if not (directory / STATE_FILE).exists():
        return
    old = Testnet.load(directory)
    if old.running():
        raise TestnetError(f"a testnet is running in {directory}; stop it with `loragossip testnet down --dir "
                           f"{directory}` or use another --dir")
    if previous == "fresh":
        for name in ("peers", "data"):
            shutil.rmtree(directory / name, ignore_errors=True)
        for name in (STATE_FILE, BROKER_SECRET):
            (directory / name).unlink(missing_ok=True)
    elif previous == "resume":
        if old.transport != transport:
            raise TestnetError(f"the testnet in {directory} ran over {old.transport}, not {transport}: its peers' "
                               "saved neighbours and replay windows would not fit; --fresh starts over")
    else:
        raise TestnetError(f"{directory} holds a stopped testnet ({old.transport}, {len(old.peers)} peers); "
                           "--resume restarts it from its checkpoints, --fresh deletes its keys, checkpoints "
                           "and logs and starts over, or use another --dir")


def up(directory: Path, peers: int, transport: str, *, genesis_text: str, partition: str = "iid",
       alpha: float = 0.5, peer_args: list[str] | None = None, timeout: float = 120.0, tls: bool = False,
       previous: str = "refuse") -> Testnet:
    """Write genesis and shards, start the bootstrap peer, then `peers` more that join through it.

    A stopped testnet already in `directory` is refused unless `previous` is "resume" (same
    keys and checkpoints) or "fresh" (deleted first). MQTT: a fresh broker secret in the
    directory; the bootstrap peer hosts the broker with it (over TLS with a self-signed
    certificate when `tls`) and every other peer gets credentials."""
    from peer.genesis import load_genesis
    from peer.shards import write_shards
    from peer.workloads import build_workload

    prepare_directory(directory, transport, previous)
    directory.mkdir(parents=True, exist_ok=True)
    genesis_path = directory / "genesis.toml"
    genesis_path.write_text(genesis_text)
    genesis = load_genesis(genesis_path)
    shards = write_shards(build_workload(genesis), directory / "data", peers + 1, partition, alpha=alpha,
                          seed=genesis.network.seed)
    common = ["--genesis", str(genesis_path), "--transport", transport, *(peer_args or [])]
    hosting: list[str] = []
    if transport == "mqtt":
        from gossip.transport.mqtt_auth import new_secret, save_secret

        save_secret(directory / BROKER_SECRET, new_secret())
        hosting = ["--broker-secret", str(directory / BROKER_SECRET), *(["--broker-tls"] if tls else [])]
    testnet = Testnet(directory, transport, str(genesis_path))
    try:
        boot = spawn_peer(directory, "boot", [*common, *hosting, "--data", str(shards[0])])
        testnet.peers.append(boot)
        testnet.save()
        testnet.bootstrap = wait_started(boot, timeout)["addrs"][0]
        testnet.save()
        cert = broker_certificate(directory)
        joining = [*common, *(["--broker-ca", str(cert)] if cert else []), "--bootstrap", testnet.bootstrap]
        for i in range(1, peers + 1):
            testnet.peers.append(spawn_peer(directory, f"peer-{i}", [*joining, "--data", str(shards[i])]))
            testnet.save()
        for peer in testnet.peers[1:]:
            wait_started(peer, timeout)
    except BaseException:
        stop(testnet, timeout=10.0)  # no half-started testnet left running
        raise
    return testnet


def join_background(testnet: Testnet, arguments: list[str], timeout: float = 120.0) -> PeerProcess:
    """Start one more peer in the testnet's directory and record it, like `up` does."""
    taken = {p.name for p in testnet.peers}
    name = next(f"join-{i}" for i in range(1, len(taken) + 2) if f"join-{i}" not in taken)
    peer = spawn_peer(testnet.directory, name, arguments)
    testnet.peers.append(peer)
    testnet.save()
    wait_started(peer, timeout)
    return peer
