"""Quasi-global momentum at the round level (`peer.round_momentum`): its algebra, the node's
buffer across a checkpoint, and FedAvgM, its centralised form, against plain FedAvg."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from peer.node import MOMENTUM_TENSOR
from peer.round_momentum import quasi_global_step
from peer.settings import NodeSettings
from sim.clock import run_virtual
from sim.config import parse_config
from sim.experiment import run_experiment
from tests.test_batched_engine import _sync
from tests.test_node import make_node, workload  # noqa: F401  (workload is a fixture)

vectors = st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3).map(lambda v: torch.tensor(v, dtype=torch.float64))


@settings(max_examples=200, deadline=None)
@given(vectors, vectors, vectors, st.floats(0.0, 0.99))
def test_the_next_start_is_the_mixed_model_pushed_on_by_the_old_momentum(start, mixed, buffer, beta):
    following, new_buffer = quasi_global_step(start, mixed, buffer, beta)
    assert torch.allclose(following, mixed - beta * buffer, atol=1e-6)
    assert torch.allclose(new_buffer, start - following, atol=1e-6)  # the buffer is the step actually taken


def test_without_momentum_a_round_ends_where_gossip_left_it():
    start, mixed = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 3.0])
    following, _ = quasi_global_step(start, mixed, torch.zeros(2), 0.0)
    assert torch.equal(following, mixed)


def test_a_steady_displacement_is_amplified_to_one_over_one_minus_beta():
    """Heavy ball: a round that keeps moving by d ends up moving by d / (1 − β) per round."""
    x, buffer, d = torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), 0.1
    for _ in range(200):
        x_before = x
        x, buffer = quasi_global_step(x, x - d, buffer, 0.8)
    assert float(x_before - x) == pytest.approx(d / (1 - 0.8), rel=1e-6)


def test_rows_are_peers_each_with_its_own_buffer():
    g = torch.Generator().manual_seed(0)
    starts, mixed, buffers = (torch.randn(4, 6, generator=g) for _ in range(3))
    together = quasi_global_step(starts, mixed, buffers, 0.7)
    for i in range(4):
        alone = quasi_global_step(starts[i], mixed[i], buffers[i], 0.7)
        assert all(torch.equal(a, b[i]) for a, b in zip(alone, together, strict=True))


MOMENTUM = {"training": {"local_steps": 2, "quasi_global_momentum": 0.8}}


def test_the_node_carries_its_momentum_through_a_checkpoint(workload, tmp_path):  # noqa: F811
    node = make_node(workload, tmp_path, settings=NodeSettings(initial_window=0.01), **MOMENTUM)
    run_virtual(node.run(rounds=3))  # its neighbour is silent: each round's displacement is its own steps
    assert node.momentum is not None and float(node.momentum.norm()) > 0
    again = make_node(workload, tmp_path, **MOMENTUM)
    assert again.restore_checkpoint()
    assert torch.equal(again.momentum, node.momentum)
    assert torch.equal(again.adapter.get_vector(), node.adapter.get_vector())


def test_a_checkpoint_with_a_buffer_that_cannot_be_this_nodes_is_skipped(workload, tmp_path):  # noqa: F811
    node = make_node(workload, tmp_path, settings=NodeSettings(initial_window=0.01), **MOMENTUM)
    run_virtual(node.run(rounds=2))
    good = node.momentum.clone()
    tensors, state = node.trainer.state()
    tensors[MOMENTUM_TENSOR] = torch.full((3,), float("nan"))
    state.update(round=node.round + 1, seq=node.seq, network_id=node.net.hex())
    node.checkpoints.save(tensors, state)  # newest, and wrong: the one before it is used
    again = make_node(workload, tmp_path, **MOMENTUM)
    assert again.restore_checkpoint() and again.round == 2
    assert torch.equal(again.momentum, good)


def test_a_checkpoint_from_before_the_momentum_restores_a_zero_buffer(workload, tmp_path):  # noqa: F811
    plain = make_node(workload, tmp_path, settings=NodeSettings(initial_window=0.01),
                      training={"local_steps": 2, "quasi_global_momentum": 0.0})
    run_virtual(plain.run(rounds=1))
    assert plain.momentum is None
    # another genesis, so another network: copy the state under the momentum node's network id
    tensors, state = plain.trainer.state()
    withm = make_node(workload, tmp_path / "m", **MOMENTUM)
    state.update(round=1, seq=1, network_id=withm.net.hex())
    withm.checkpoints.save(tensors, state)
    assert withm.restore_checkpoint()
    assert torch.equal(withm.momentum, torch.zeros_like(withm.momentum))


def test_the_fedavg_baseline_takes_the_momentum(tmp_path):
    """FedAvgM; that both engines compute it alike is tested in test_batched_engine."""
    finals = {}
    for beta in (0.0, 0.8):
        raw = _sync("fp32", "mean", run={"baseline": "fedavg", "engine": "batched", "rounds": 4},
                    genesis={"training": {"local_steps": 3, "quasi_global_momentum": beta}})
        run_experiment(parse_config(raw), tmp_path / str(beta), progress=False)
        finals[beta] = load_file(tmp_path / str(beta) / "adapters.safetensors")["vectors"]
    assert torch.equal(finals[0.8][0], finals[0.8][1])  # every peer holds the global model
    assert not torch.equal(finals[0.0][0], finals[0.8][0])
