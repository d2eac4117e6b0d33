"""Per-neighbour replicas for sparse codecs (CHOCO-gossip) and body sharing across targets."""

import torch

from gossip.codecs import make_codec
from gossip.payloads import decode_update
from gossip.replicas import ReplicaReceiver, ReplicaSender
from gossip.spec import AdapterSpec, TensorSpec

SPEC = AdapterSpec((TensorSpec("a", (20, 10)), TensorSpec("b", (50,))))


def test_a_dense_codec_sends_one_body_to_every_target():
    sender = ReplicaSender(make_codec("fp16"), SPEC)
    bodies = sender.bodies_for(["x", "y", "z"], torch.randn(SPEC.numel), [1, 2, 3])
    assert bodies[0] is bodies[1] is bodies[2]


def test_receivers_reconstruct_exactly_the_senders_replica_and_it_converges_to_the_model():
    codec = make_codec("topk", topk_fraction=0.1)
    sender, receivers = ReplicaSender(codec, SPEC, keyframe_every=50), {t: ReplicaReceiver() for t in "xy"}
    model = torch.randn(SPEC.numel)
    for seq in range(1, 40):
        model = model + 0.01 * torch.randn(SPEC.numel) if seq < 20 else model
        seqs = [2 * seq, 2 * seq + 1]
        for target, seq_i, body in zip("xy", seqs, sender.bodies_for(list("xy"), model, seqs), strict=True):
            rebuilt = receivers[target].apply(b"s", seq_i, decode_update(body, SPEC, codec))
            assert torch.equal(rebuilt, sender._replicas[target].vector)
    assert torch.allclose(receivers["x"].apply(b"s", 0, decode_update(
        sender.bodies_for(["x"], model, [100])[0], SPEC, codec)), model, atol=1e-3)


def test_targets_needing_a_keyframe_share_one_and_a_forgotten_target_gets_a_keyframe_next():
    codec = make_codec("topk", topk_fraction=0.1)
    sender = ReplicaSender(codec, SPEC, keyframe_every=10)
    first = sender.bodies_for(["x", "y"], torch.randn(SPEC.numel), [1, 2])
    assert first[0] is first[1] and decode_update(first[0], SPEC, codec).mode == "model"
    assert decode_update(sender.bodies_for(["x"], torch.randn(SPEC.numel), [3])[0], SPEC, codec).mode == "delta"
    sender.forget("x")
    assert decode_update(sender.bodies_for(["x"], torch.randn(SPEC.numel), [4])[0], SPEC, codec).mode == "model"
