import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from peer.adapters import Adapter
from peer.checkpoint import CheckpointStore
from peer.genesis import Genesis
from peer.trainer import Schedule, Trainer
from peer.workloads import build_workload


def _trainer(genesis=None, seed=3):
    genesis = genesis or Genesis()
    workload = build_workload(genesis)
    adapter = Adapter(workload.build_base(), genesis)
    return Trainer(adapter, workload.train, genesis.training, torch.device("cpu"), seed), workload


def test_a_peer_alone_on_digits_iid_reaches_90_percent():
    trainer, workload = _trainer()
    _, before = trainer.evaluate(workload.test)
    trainer.train_steps(500)
    _, after = trainer.evaluate(workload.test)
    assert before < 0.6 and after >= 0.90


def test_sam_training_also_learns():
    trainer, workload = _trainer(Genesis().replace(training={"sam_rho": 0.05}))
    trainer.train_steps(300)
    assert trainer.evaluate(workload.test)[1] >= 0.85


def test_schedule():
    s = Schedule(warmup_steps=4, decay_steps=10, floor=0.1)
    assert s.factor(0) == 0.25 and s.factor(3) == 1.0
    assert abs(s.factor(14) - 0.1) < 1e-9 and s.factor(100) == s.factor(14)


def test_the_genesis_schedule_sets_each_steps_learning_rate():
    genesis = Genesis().replace(training={"lr": 0.02, "warmup_steps": 4, "decay_steps": 10, "lr_floor": 0.1})
    trainer, _ = _trainer(genesis)
    rates = []
    for _ in range(16):
        trainer.train_steps(1)
        rates.append(trainer.optimizer.param_groups[0]["lr"])
    assert rates[0] == pytest.approx(0.005) and rates[3] == pytest.approx(0.02)
    assert rates[14] == pytest.approx(0.002) and rates[15] == pytest.approx(0.002)


def test_checkpoint_resume_restores_training_exactly(tmp_path):
    store = CheckpointStore(tmp_path)
    first, _ = _trainer()
    first.train_steps(20)
    tensors, state = first.state()
    store.save(tensors, state)
    first.train_steps(20)
    resumed, _ = _trainer(seed=999)  # another seed: everything must come from the checkpoint
    resumed.restore(*store.load())
    resumed.train_steps(20)
    assert torch.equal(first.adapter.get_vector(), resumed.adapter.get_vector())


def test_store_keeps_the_newest_and_skips_damaged(tmp_path):
    store = CheckpointStore(tmp_path, keep=2)
    for i in range(4):
        store.save({"x": torch.full((3,), float(i))}, {"i": i})
    assert len(list(tmp_path.glob("ckpt-*"))) == 2
    newest = sorted(tmp_path.glob("ckpt-*"))[-1]
    (newest / "tensors.safetensors").write_bytes(b"garbage")
    tensors, state = store.load()
    assert state["i"] == 2 and float(tensors["x"][0]) == 2.0
    assert CheckpointStore(tmp_path / "empty").load() is None


WRITER = """
import sys, torch
from peer.checkpoint import CheckpointStore
store = CheckpointStore(sys.argv[1], keep=2)
i = 0
while True:
    value = torch.full((200_000,), float(i))
    store.save({"x": value, "check": value[:1].clone()}, {"i": i})
    i += 1
"""


def test_a_writer_killed_mid_write_leaves_a_loadable_checkpoint(tmp_path):
    for attempt in range(6):
        directory = tmp_path / f"run{attempt}"
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(directory)])
        deadline = time.monotonic() + 60
        while not list(directory.glob("ckpt-0000000[1-9]")) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.013 * attempt)  # land the kill at different points of the write cycle
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        loaded = CheckpointStore(directory).load()
        assert loaded is not None
        tensors, state = loaded
        assert torch.all(tensors["x"] == state["i"]) and float(tensors["check"][0]) == state["i"]
