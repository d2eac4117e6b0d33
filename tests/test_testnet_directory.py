"""A testnet directory: what `testnet up` does with a stopped testnet already in it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from peer.testnet import PeerProcess, Testnet, TestnetError, alive, prepare_directory, spawn_peer, wait_started


def _stopped_testnet(directory) -> Testnet:
    """A libp2p testnet whose one peer's pid belongs to no process (above Linux's pid limit)."""
    return Testnet(directory, "libp2p", str(directory / "genesis.toml"), bootstrap="/ip4/127.0.0.1/tcp/1/p2p/x",
                   peers=[PeerProcess("boot", 2**22 + 12345, str(directory / "peers" / "boot"), "log")])


def test_testnet_up_refuses_to_resume_a_stopped_testnet_silently(tmp_path):
    _stopped_testnet(tmp_path).save()
    (tmp_path / "peers" / "boot").mkdir(parents=True)
    with pytest.raises(TestnetError, match=r"holds a stopped testnet.*--resume.*--fresh"):
        prepare_directory(tmp_path, "libp2p", "refuse")
    with pytest.raises(TestnetError, match="ran over libp2p, not mqtt"):
        prepare_directory(tmp_path, "mqtt", "resume")
    prepare_directory(tmp_path, "libp2p", "resume")
    assert (tmp_path / "peers" / "boot").exists()
    prepare_directory(tmp_path, "mqtt", "fresh")
    assert not (tmp_path / "peers").exists() and not (tmp_path / "testnet.json").exists()


def test_status_watch_redraws_until_ctrl_c(tmp_path):
    _stopped_testnet(tmp_path).save()
    process = subprocess.Popen([sys.executable, "-m", "loragossip", "testnet", "status", "--dir", str(tmp_path),
                                "--watch", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        redraws = 0
        while redraws < 2:  # as long as it takes on a busy machine: the pytest timeout bounds it
            line = process.stdout.readline()
            assert line, process.stderr.read()
            redraws += line.startswith("every 0.2 s, ")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        process.kill()


def test_status_table_marks_a_dead_peer_down(tmp_path, capsys):
    from loragossip.main import main

    _stopped_testnet(tmp_path).save()
    assert main(["testnet", "status", "--dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:4] == ["name", "peer", "pid", "state"]
    assert lines[2].split()[0] == "boot" and "down" in lines[2].split()
    assert main(["testnet", "status", "--dir", str(tmp_path), "--watch", "--json"]) == 2


def test_a_background_peer_gets_every_option_the_joining_command_was_given():
    from loragossip.main import build_parser
    from loragossip.peer_cmd import peer_command_line

    given = ["--genesis", "g.toml", "--data", "d.safetensors", "--listen", "/ip4/127.0.0.1/tcp/7",
             "--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/A", "--bootstrap", "/ip4/127.0.0.1/tcp/2/p2p/B",
             "--transport", "mqtt", "--broker-tls", "--status-port", "8080", "--eval-every", "3",
             "--round-seconds", "0.5", "--rounds", "9", "--init", "own", "--settings", "s.toml"]
    joined = build_parser().parse_args(["testnet", "join", *given, "--state-dir", "elsewhere"])
    line = peer_command_line(joined)
    assert "--state-dir" not in line  # the testnet gives the background peer its own
    peer = vars(build_parser().parse_args(["peer", *line]))
    assert {k: v for k, v in peer.items() if k not in ("run", "command", "print_settings")} == \
           {k: v for k, v in vars(joined).items()
            if k not in ("run", "command", "verb", "background", "dir", "state_dir")} | {"state_dir": None}


def test_a_peer_that_dies_before_it_starts_is_reported_with_how_it_ended(tmp_path):
    refused = spawn_peer(tmp_path, "refused", ["--genesis", str(tmp_path / "missing.toml")])
    with pytest.raises(TestnetError, match=r"peer refused exited with code 2; last log lines:\n.*missing\.toml"):
        wait_started(refused)
    killed = spawn_peer(tmp_path, "killed", ["--genesis", str(tmp_path / "missing.toml")])
    os.kill(killed.pid, signal.SIGKILL)  # before the interpreter wrote anything
    with pytest.raises(TestnetError, match="peer killed was killed by SIGKILL; its log is empty"):
        wait_started(killed)


def test_a_peer_process_counts_as_alive_from_the_moment_popen_returns(monkeypatch):
    """Right after Popen a child's command line can still be empty (its exec has not set it up
    yet, which the machine's timing decides): ours and running, it is alive, not a stranger's
    reused pid. Shown with the command line read as empty, then on real processes."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "peer"],
                               start_new_session=True, stdin=subprocess.DEVNULL)
    read_bytes = Path.read_bytes
    with monkeypatch.context() as patch:
        patch.setattr(Path, "read_bytes", lambda path: b"" if path.name == "cmdline" else read_bytes(path))
        assert alive(process.pid)
        assert not alive(os.getpid())  # not a child of ours: an empty command line is nobody's peer
    process.kill()
    while alive(process.pid):  # reaps it
        pass
    for _ in range(50):
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "peer"],
                                   start_new_session=True, stdin=subprocess.DEVNULL)
        try:
            assert alive(process.pid)
        finally:
            process.kill()
        while alive(process.pid):
            pass
        assert not alive(process.pid)
