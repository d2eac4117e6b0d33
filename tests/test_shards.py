"""Peer data shards on disk: round trip, and clear errors for shards of another workload."""

from __future__ import annotations

import pytest
import torch

from peer.data import TensorData
from peer.genesis import Genesis
from peer.shards import load_shard, save_shard, write_shards
from peer.workloads import WorkloadError, build_workload


@pytest.fixture(scope="module")
def workload():
    return build_workload(Genesis())


def test_shards_split_the_pool_and_load_back(tmp_path, workload):
    paths = write_shards(workload, tmp_path, 3)
    shards = [load_shard(p, workload) for p in paths]
    assert sum(len(s) for s in shards) == len(workload.train)
    merged = torch.cat([s.labels for s in shards]).bincount(minlength=10)
    assert torch.equal(merged, workload.train.labels.bincount(minlength=10))
    rows = {tuple(r.tolist()) for s in shards for r in s.features["x"]}
    assert rows == {tuple(r.tolist()) for r in workload.train.features["x"]}


@pytest.mark.parametrize("bad, message", [
    (TensorData({"y": torch.zeros(4, 64)}, torch.zeros(4, dtype=torch.long)), "expected tensors"),
    (TensorData({"x": torch.zeros(4, 63)}, torch.zeros(4, dtype=torch.long)), "features.x"),
    (TensorData({"x": torch.zeros(4, 64)}, torch.full((4,), 10, dtype=torch.long)), "labels outside"),
    (TensorData({"x": torch.zeros(4, 64)}, torch.zeros(4, dtype=torch.int32)), "int64"),
])
def test_a_shard_of_another_shape_is_refused_with_the_reason(tmp_path, workload, bad, message):
    save_shard(bad, tmp_path / "bad.safetensors")
    with pytest.raises(WorkloadError, match=message):
        load_shard(tmp_path / "bad.safetensors", workload)


def test_a_file_that_is_not_safetensors_is_refused(tmp_path, workload):
    (tmp_path / "x.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(WorkloadError, match="not a readable"):
        load_shard(tmp_path / "x.safetensors", workload)
