"""`PeerNode` on its own: a fake transport and sampler, one scripted neighbour, a virtual clock.

What is checked here is the node's own logic: the adaptive collection window, the staleness
drop, replica resynchronisation after a lost frame, the guard against a rule's non-finite
output, the sequence jump after a restore, and the routing of each message kind.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
import torch

from gossip import wire
from gossip.codecs import make_codec
from gossip.identity import Identity
from gossip.payloads import decode_update, encode_history, encode_update
from gossip.transport import Address
from peer.adapters import Adapter
from peer.checkpoint import CheckpointStore
from peer.genesis import Genesis
from peer.node import SEQ_JUMP_ON_RESTORE, PeerNode
from peer.settings import NodeSettings
from peer.trainer import Trainer
from peer.workloads import build_workload
from robust.history import HistoryRecord
from robust.meta import Meta
from sim.clock import run_virtual

NEIGHBOUR = "n1"


class FakeTransport:
    """Records what the node sends; `fail_next` makes the next sends to an address fail."""

    address = "me"

    def __init__(self, net: bytes) -> None:
        self.net = net
        self.sent: list[tuple[Address, wire.Envelope]] = []
        self.fail_next: set[Address] = set()

    def set_handler(self, handler) -> None:
        pass

    async def send(self, to: Address, data: bytes) -> bool:
        if to in self.fail_next:
            self.fail_next.discard(to)
            return False
        self.sent.append((to, wire.decode(data, net=self.net)))
        return True

    def sender_of(self, address: Address) -> bytes | None:
        return None


class OneNeighbour:
    def neighbours(self) -> list[Address]:
        return [NEIGHBOUR]

    def targets(self, k: int) -> list[Address]:
        return [NEIGHBOUR]

    def standing(self, address: Address) -> str:
        return "member" if address == NEIGHBOUR else "stranger"


class Recorder:
    """An extension that takes the membership kinds and remembers what reached it."""

    def __init__(self) -> None:
        self.got: list[str] = []

    def attach(self, node: PeerNode) -> None:
        for kind in ("hello", "shuffle", "shuffle_reply"):
            node.route(kind, lambda envelope, address: self.got.append(envelope.kind))


@pytest.fixture(scope="module")
def workload():
    return build_workload(Genesis())


def make_node(workload, tmp_path=None, *, settings: NodeSettings | None = None, extensions=(), **sections) -> PeerNode:
    sections = {"training": {"local_steps": 0}, "aggregation": {"rule": "mean", "params": {}}, **sections}
    genesis = Genesis().replace(**sections)
    adapter = Adapter(workload.build_base(), genesis)
    trainer = Trainer(adapter, workload.train.subset(range(32)), genesis.training, torch.device("cpu"), 0)
    store = CheckpointStore(tmp_path / "checkpoints") if tmp_path is not None else None
    return PeerNode(genesis, Identity.generate(), trainer, FakeTransport(genesis.network_id), OneNeighbour(),
                    settings=settings, checkpoints=store, extensions=extensions)


def signed(node: PeerNode, signer: Identity, kind: str, body: bytes, seq: int, rnd: int = 0) -> bytes:
    return wire.encode(wire.Envelope(kind=kind, sender=signer.peer_id, seq=seq, round=rnd, t=0, body=body,
                                     net=node.net), signer)


def update_frame(node: PeerNode, signer: Identity, seq: int, vector: torch.Tensor, rnd: int = 0) -> bytes:
    return signed(node, signer, "update", bytes(encode_update(vector, node.spec, node.codec)), seq, rnd)


def test_the_window_starts_at_its_initial_value_then_follows_the_arrival_delays(workload):
    node = make_node(workload)
    neighbour = Identity.generate()
    delays = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    windows = []

    async def reply(step: int, targets: list[Address]) -> None:  # the neighbour answers each send after a delay
        loop = asyncio.get_running_loop()
        frame = update_frame(node, neighbour, node.round + 1, torch.zeros(node.spec.numel), node.round)
        loop.call_later(delays[node.round], node.handle, NEIGHBOUR, frame)

    node.after_send(reply)

    async def rounds() -> None:
        for _ in delays:
            windows.append(node.window())
            await node.run_round()

    run_virtual(rounds())
    s = node.settings

    def expected(measured: list[float]) -> float:
        q25, q50, q75 = torch.quantile(torch.tensor(measured), torch.tensor([0.25, 0.5, 0.75])).tolist()
        return min(s.max_window, max(s.min_window, q50 + s.window_spread * (q75 - q25)))

    assert windows[:8] == [s.initial_window] * 8  # fewer than 8 delays measured: the initial window
    assert windows[8] == pytest.approx(expected(delays[:8]))
    assert node.window() == pytest.approx(expected(delays))


def test_an_update_older_than_max_staleness_is_dropped_and_a_fresh_one_is_averaged(workload):
    node = make_node(workload, settings=NodeSettings(max_staleness=1, initial_window=0.5))
    neighbour = Identity.generate()
    own = node.adapter.get_vector().clone()
    after: dict[str, torch.Tensor] = {}

    async def scenario() -> None:
        await node.run_round()
        await node.run_round()      # round 2 now; the neighbour never answered
        node.handle(NEIGHBOUR, update_frame(node, neighbour, 1, own + 4.0, rnd=0))  # 2 rounds old
        await node.run_round()
        after["stale"] = node.adapter.get_vector().clone()
        node.handle(NEIGHBOUR, update_frame(node, neighbour, 2, own + 4.0, rnd=node.round))
        await node.run_round()
        after["fresh"] = node.adapter.get_vector().clone()

    run_virtual(scenario())
    assert torch.equal(after["stale"], own)  # dropped: the model is untouched
    assert torch.allclose(after["fresh"], own + 2.0, atol=1e-2)  # the mean of own and the neighbour's (fp16)


def test_after_a_lost_frame_the_next_update_to_that_neighbour_is_a_keyframe(workload):
    node = make_node(workload, settings=NodeSettings(initial_window=0.01, keyframe_every=100),
                     gossip={"codec": "topk", "topk_fraction": 0.25})
    transport: FakeTransport = node.transport  # type: ignore[assignment]

    def modes() -> list[str]:
        return [decode_update(e.body, node.spec, node.codec).mode for _, e in transport.sent]

    seen: list[list[str]] = []

    async def rounds() -> None:
        for r in range(5):
            if r == 3:
                seen.append(modes())
                transport.fail_next.add(NEIGHBOUR)  # this round's frame is lost: the receiver falls behind
            node.adapter.set_vector(node.adapter.get_vector() + 0.01)  # something to send as a delta
            await node.run_round()

    run_virtual(rounds())
    assert seen == [["model", "delta", "delta"]]
    assert modes() == ["model", "delta", "delta", "model"]


def test_a_delta_on_a_frame_the_node_never_got_is_refused_until_a_keyframe_resynchronises(workload):
    node = make_node(workload, gossip={"codec": "topk", "topk_fraction": 0.25})
    neighbour = Identity.generate()
    codec = make_codec("topk", topk_fraction=0.25)

    def frame(seq: int, mode: str, base: int, vector: torch.Tensor) -> bytes:
        body = bytes(encode_update(vector, node.spec, codec.keyframe if mode == "model" else codec, mode=mode,
                                   base=base))
        return signed(node, neighbour, "update", body, seq)

    delta = torch.zeros(node.spec.numel)
    delta[:20] = 1.0  # sparse enough for top-k to carry it whole

    async def deliver() -> None:
        node.handle(NEIGHBOUR, frame(5, "delta", 4, delta))   # base 4 never arrived
        assert node.rejected == {"delta_gap": 1} and not node.received
        node.handle(NEIGHBOUR, frame(6, "model", 0, torch.full((node.spec.numel,), 2.0)))
        node.handle(NEIGHBOUR, frame(7, "delta", 6, delta))

    run_virtual(deliver())
    assert torch.allclose(node.received[neighbour.peer_id].vector, 2.0 + delta, atol=1e-2)


def test_a_rule_that_returns_non_finite_values_leaves_the_model_intact(workload, caplog):
    node = make_node(workload, settings=NodeSettings(initial_window=0.5))
    own = node.adapter.get_vector().clone()
    node.rule = lambda own, others, meta: torch.full_like(own, float("nan"))

    async def scenario() -> None:
        node.handle(NEIGHBOUR, update_frame(node, Identity.generate(), 1, own + 1.0))
        with caplog.at_level(logging.ERROR, logger="peer.node"):
            await node.run_round()

    run_virtual(scenario())
    assert torch.equal(node.adapter.get_vector(), own)
    assert any("non-finite" in r.getMessage() for r in caplog.records)


def test_a_restored_node_resumes_its_round_and_jumps_its_sequence_past_what_it_may_have_sent(workload, tmp_path):
    node = make_node(workload, tmp_path, settings=NodeSettings(initial_window=0.01))
    run_virtual(node.run(rounds=3))  # one checkpoint per round; one update sent per round
    assert (node.round, node.seq) == (3, 3)
    trained = node.adapter.get_vector().clone()
    again = make_node(workload, tmp_path)
    assert again.restore_checkpoint()
    assert again.round == 3 and again.seq == 3 + SEQ_JUMP_ON_RESTORE
    assert torch.equal(again.adapter.get_vector(), trained)
    assert not make_node(workload, tmp_path / "empty").restore_checkpoint()


SYBILWALL = {"aggregation": {"rule": "sybilwall", "params": {}}}


def _sybilwall_node_after(workload, tmp_path, rounds: int) -> PeerNode:
    """A SybilWall node that heard one neighbour for `rounds` rounds (a checkpoint after each)."""
    node = make_node(workload, tmp_path, settings=NodeSettings(initial_window=0.5), **SYBILWALL)
    neighbour = Identity.generate()

    async def scenario() -> None:
        for r in range(rounds):
            node.handle(NEIGHBOUR, update_frame(node, neighbour, r + 1, node.adapter.get_vector() + 0.01 * (r + 1), r))
            await node.run_round()

    run_virtual(scenario())
    return node


def test_a_restored_node_remembers_its_rules_histories_and_probation(workload, tmp_path):
    """Kill -9 must not make every known clone a stranger again: the rule's memory is checkpointed."""
    node = _sybilwall_node_after(workload, tmp_path, 3)
    tensors, state = node.rule.state()
    assert len(state["keys"]) == 1 and list(node.rule.merges.values()) == [3]  # a memory to lose
    again = make_node(workload, tmp_path, **SYBILWALL)
    assert again.restore_checkpoint()
    restored_tensors, restored_state = again.rule.state()
    assert restored_state == state and torch.equal(restored_tensors["histories"], tensors["histories"])
    own, others = node.adapter.get_vector(), node.adapter.get_vector()[None] + 0.02
    meta = Meta(senders=(next(iter(node.rule.merges)),))
    assert torch.equal(again.rule(own, others, meta), node.rule(own, others, meta))


def test_a_checkpoint_whose_rule_memory_does_not_fit_is_skipped_and_the_rule_is_left_alone(workload, tmp_path):
    node = _sybilwall_node_after(workload, tmp_path, 2)
    good_tensors, good_state = node.rule.state()
    tensors, state = node.trainer.state()
    _, state["rule"] = node.rule.state()
    tensors["rule/histories"] = torch.ones(len(good_state["keys"]), 3)  # not this adapter's width
    state.update(round=node.round + 1, seq=node.seq, network_id=node.net.hex())
    node.checkpoints.save(tensors, state)  # newest, and wrong: the one before it is used
    again = make_node(workload, tmp_path, **SYBILWALL)
    assert again.restore_checkpoint() and again.round == 2
    assert again.rule.state()[1] == good_state and torch.equal(again.rule.state()[0]["histories"],
                                                                good_tensors["histories"])


def test_each_message_kind_reaches_the_handler_registered_for_it(workload):
    recorder = Recorder()
    node = make_node(workload, extensions=(recorder,), aggregation={"rule": "sybilwall", "params": {}})
    neighbour, subject = Identity.generate(), Identity.generate()
    history = bytes(encode_history([HistoryRecord(subject.peer_id, 1, torch.ones(node.spec.numel))], node.spec,
                                   node.codec.keyframe))

    async def deliver() -> None:
        for seq, kind in enumerate(["hello", "shuffle", "shuffle_reply"], start=1):
            node.handle(NEIGHBOUR, signed(node, neighbour, kind, b"", seq))
        node.handle(NEIGHBOUR, signed(node, neighbour, "history", history, 4))
        node.handle(NEIGHBOUR, update_frame(node, neighbour, 5, torch.zeros(node.spec.numel)))

    run_virtual(deliver())
    assert recorder.got == ["hello", "shuffle", "shuffle_reply"]
    assert subject.peer_id in node.rule.known  # type: ignore[attr-defined]  # SybilWall's exchange took it
    assert neighbour.peer_id in node.received and node.messages_received == 5 and not node.rejected


def test_a_kind_nobody_handles_is_refused_and_routes_are_one_per_kind(workload):
    node = make_node(workload)  # no membership, rule "mean": hellos and histories have no handler
    neighbour = Identity.generate()

    async def deliver() -> None:
        node.handle(NEIGHBOUR, signed(node, neighbour, "hello", b"", 1))
        node.handle(NEIGHBOUR, signed(node, neighbour, "history", b"", 2))

    run_virtual(deliver())
    assert node.rejected == {"unexpected_kind": 2}
    with pytest.raises(ValueError, match="already has a handler"):
        node.route("update", lambda envelope, address: None)
    with pytest.raises(ValueError, match="not a message kind"):
        node.route("gossip", lambda envelope, address: None)
