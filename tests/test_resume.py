"""Ctrl-C on a lock-step batched run, then `loragossip sim --resume`: the numbers of a run never stopped.

Real processes and a real SIGINT. The workload is `text-tiny` (its encoder has dropout, drawn
from the global torch generator, which the resume file carries), the rule SybilWall (histories
and their gossip) and the codec top-k (per-neighbour replicas): state of every kind a run keeps.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loragossip.main import main
from sim.resume import RESUME_FILE

CONFIG = """[run]
name = "resumable"
mode = "sync"
rounds = 12
eval_every = 2
[peers]
count = 6
[topology]
degree = 3
[genesis.model]
workload = "text-tiny"
base = "tiny-bert"
[genesis.adapter]
target_modules = ["query", "value"]
modules_to_save = ["classifier"]
[genesis.gossip]
codec = "topk"
[genesis.aggregation]
rule = "sybilwall"
params = {}
[genesis.training]
local_steps = 2
"""
SIM = [sys.executable, "-m", "loragossip", "sim"]


def interrupt_after_a_few_rounds(config: Path, out: Path) -> tuple[int, str]:
    process = subprocess.Popen([*SIM, str(config), "--out", str(out), "--threads", "1"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), False)
    seen, deadline = b"", time.monotonic() + 300
    try:
        while not re.search(rb"\| *([3-9]|1[01])/12", seen) and time.monotonic() < deadline:
            time.sleep(0.05)
            seen += process.stderr.read() or b""
        assert process.poll() is None, seen.decode(errors="replace")  # still running: the interrupt lands mid-run
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=300)
    finally:
        process.kill()
    return process.returncode, (seen + rest).decode(errors="replace")


def test_a_resumed_run_ends_with_the_numbers_of_an_uninterrupted_one(tmp_path):
    """At 1 torch thread, which the resumed process takes from the resume file, not its cores."""
    import torch

    config = tmp_path / "run.toml"
    config.write_text(CONFIG)
    before = torch.get_num_threads()
    try:
        assert main(["sim", str(config), "--out", str(tmp_path / "whole"), "--no-progress", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(before)
    cut = tmp_path / "cut"
    status, stderr = interrupt_after_a_few_rounds(config, cut)
    assert status == 130, stderr
    assert "stopping after this round" in stderr and f"loragossip sim --resume {cut}" in stderr
    assert "Traceback" not in stderr
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["interrupted"] and summary["resumable"] and (cut / RESUME_FILE).exists()
    resumed = subprocess.run([*SIM, "--resume", str(cut), "--no-progress"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert (cut / "metrics.csv").read_text() == (tmp_path / "whole" / "metrics.csv").read_text()
    assert not (cut / RESUME_FILE).exists()  # finished: nothing left to resume
    final = json.loads((cut / "summary.json").read_text())
    assert final["interrupted"] is False and final["torch_threads"] == 1


def test_resume_says_what_is_wrong(tmp_path, capsys):
    assert main(["sim", "--resume", str(tmp_path)]) == 2
    assert "holds no interrupted run to resume" in capsys.readouterr().err
    assert main(["sim", "examples/quickstart.toml", "--resume", str(tmp_path), "--seed", "3"]) == 2
    assert "drop CONFIG, --seed" in capsys.readouterr().err
    (tmp_path / RESUME_FILE).write_bytes(b"not a pickle")
    assert main(["sim", "--resume", str(tmp_path)]) == 2
    assert "cannot be read" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["async"])
def test_runs_that_cannot_be_saved_leave_no_resume_file(tmp_path, mode):
    config = tmp_path / "run.toml"
    config.write_text(CONFIG.replace('mode = "sync"', f'mode = "{mode}"\nduration = 3.0').replace("rounds = 12\n", ""))
    assert main(["sim", str(config), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert not (tmp_path / "out" / RESUME_FILE).exists()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["resumable"] is False
