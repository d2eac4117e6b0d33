"""Envelope round trips and hostile input: every mutation is a DecodeError (or a replay), nothing else."""

import msgpack
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gossip.codecs import make_codec
from gossip.errors import DecodeError, ReplayError
from gossip.identity import Identity
from gossip.payloads import decode_update, encode_update
from gossip.replay import ReplayGuard
from gossip.spec import AdapterSpec, TensorSpec
from gossip.wire import Envelope, Limits, decode, encode

NET = bytes(range(32))
SPEC = AdapterSpec((TensorSpec("a.lora_B", (8, 4)), TensorSpec("head.weight", (3, 8))))
KEY = Identity.from_seed(b"\x07" * 32)
CODEC = make_codec("fp16")


def _message(seq=1, kind="update", body=None, net=NET, vector=None):
    vector = torch.linspace(-1, 1, SPEC.numel) if vector is None else vector
    body = encode_update(vector, SPEC, CODEC) if body is None else body
    env = Envelope(kind=kind, sender=KEY.peer_id, seq=seq, round=3, t=1_700_000_000_000, body=body, net=net)
    return env, encode(env, KEY)


def _full_decode(data, guard=None):
    env = decode(data, net=NET)
    if guard is not None:
        guard.check(env.sender, env.seq)
    if env.kind == "update":
        decode_update(env.body, SPEC, CODEC)
    return env


def test_round_trip():
    env, data = _message()
    got = decode(data, net=NET)
    assert got == env
    update = decode_update(got.body, SPEC, CODEC)
    assert torch.allclose(update.vector, torch.linspace(-1, 1, SPEC.numel), atol=1e-3)


@given(seq=st.integers(0, 2**63 - 1), rnd=st.integers(0, 2**63 - 1), t=st.integers(0, 2**63 - 1),
       body=st.binary(max_size=256), kind=st.sampled_from(["update", "history", "hello", "shuffle"]))
def test_envelope_round_trip_any_fields(seq, rnd, t, body, kind):
    env = Envelope(kind=kind, sender=KEY.peer_id, seq=seq, round=rnd, t=t, body=body, net=NET)
    assert decode(encode(env, KEY), net=NET) == env


def test_envelope_overhead_is_below_one_percent_at_64kib():
    body = encode_update(torch.randn(32768), AdapterSpec((TensorSpec("w", (32768,)),)), make_codec("fp16"))
    assert len(body) >= 65536
    _, data = _message(body=body)
    assert (len(data) - len(body)) / len(data) < 0.01


def _expect_rejected(data, guard=None):
    with pytest.raises(DecodeError):
        _full_decode(data, guard)


@given(data=st.data())
def test_any_bit_flip_is_rejected(data):
    _, message = _message()
    position = data.draw(st.integers(0, len(message) * 8 - 1))
    flipped = bytearray(message)
    flipped[position // 8] ^= 1 << (position % 8)
    _expect_rejected(bytes(flipped))


@given(data=st.data())
def test_any_truncation_is_rejected(data):
    _, message = _message()
    _expect_rejected(message[: data.draw(st.integers(0, len(message) - 1))])


@given(extra=st.binary(min_size=1, max_size=64))
def test_any_extension_is_rejected(extra):
    _, message = _message()
    _expect_rejected(message + extra)


WRONG_VALUES = [None, True, -1, 2**64 - 1, 1.5, "x", b"", [], {}, b"\x00" * 1000]


@pytest.mark.parametrize("field", ["v", "net", "kind", "from", "seq", "round", "t", "body", "sig"])
@pytest.mark.parametrize("value", WRONG_VALUES, ids=repr)
def test_wrong_types_and_values_in_every_field(field, value):
    _, message = _message()
    raw = msgpack.unpackb(message, raw=False)
    raw[field] = value
    _expect_rejected(msgpack.packb(raw, use_bin_type=True))


def test_missing_and_extra_fields():
    _, message = _message()
    raw = msgpack.unpackb(message, raw=False)
    for mutated in ({k: v for k, v in raw.items() if k != "t"}, {**raw, "x": 1}):
        _expect_rejected(msgpack.packb(mutated, use_bin_type=True))
    _expect_rejected(msgpack.packb([1, 2, 3]))
    _expect_rejected(b"")


def test_huge_declared_lengths_are_refused_unread():
    # bin32 header claiming 4 GiB, a map32 claiming 2**32-1 entries, a deep nest
    for evil in (b"\x81\xa4body\xc6\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\x91" * 100_000):
        _expect_rejected(evil)
    with pytest.raises(DecodeError, match="too_large"):
        decode(b"\x00" * 2048, net=NET, limits=Limits(max_message_bytes=1024))


def test_wrong_network_forged_signature_and_wrong_sender():
    _, other_net = _message(net=b"\x01" * 32)
    with pytest.raises(DecodeError, match="wrong_network"):
        decode(other_net, net=NET)
    _, message = _message()
    raw = msgpack.unpackb(message, raw=False)
    mallory = Identity.from_seed(b"\x09" * 32)
    raw["sig"] = mallory.sign(b"anything")
    with pytest.raises(DecodeError, match="signature"):
        decode(msgpack.packb(raw, use_bin_type=True), net=NET)
    raw = msgpack.unpackb(message, raw=False)
    raw["from"] = mallory.peer_id  # claim another sender without its key
    with pytest.raises(DecodeError, match="signature"):
        decode(msgpack.packb(raw, use_bin_type=True), net=NET)
    with pytest.raises(ValueError):
        encode(Envelope("update", mallory.peer_id, 0, 0, 0, b"", NET), KEY)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_inf_inside_a_signed_update_is_rejected(bad):
    vector = torch.zeros(SPEC.numel)
    vector[5] = bad
    body = msgpack.packb({"codec": "fp16", "mode": "model", "base": -1,
                          "tensors": [make_codec("fp32").encode(n, t) for n, t in SPEC.split(vector).items()]})
    body = body.replace(b"float32", b"float16")  # lie about dtype: sizes then mismatch
    _, message = _message(body=body)
    _expect_rejected(message)
    fp16_body = encode_update(vector, SPEC, make_codec("fp32"))
    _, message = _message(body=fp16_body)
    with pytest.raises(DecodeError):
        decode_update(decode(message, net=NET).body, SPEC, make_codec("fp32"))


def test_update_against_the_spec():
    wrong_spec = AdapterSpec((TensorSpec("a.lora_B", (4, 8)), TensorSpec("head.weight", (3, 8))))
    _, message = _message()
    env = decode(message, net=NET)
    with pytest.raises(DecodeError, match="shape"):
        decode_update(env.body, wrong_spec, CODEC)
    with pytest.raises(DecodeError, match="codec"):
        decode_update(env.body, SPEC, make_codec("int8"))
    short = AdapterSpec(SPEC.tensors[:1])
    with pytest.raises(DecodeError, match="tensors"):
        decode_update(env.body, short, CODEC)


def test_sparse_codecs_send_dense_keyframes_and_sparse_deltas():
    topk = make_codec("topk", topk_fraction=0.5)
    keyframe = decode_update(encode_update(torch.ones(SPEC.numel), SPEC, topk, mode="model"), SPEC, topk)
    assert keyframe.codec == "fp16" and torch.equal(keyframe.vector, torch.ones(SPEC.numel))
    delta = decode_update(encode_update(torch.randn(SPEC.numel), SPEC, topk, mode="delta", base=4), SPEC, topk)
    assert delta.mode == "delta" and delta.base == 4 and delta.codec == "topk"
    sparse_as_model = msgpack.packb({"codec": "topk", "mode": "model", "base": -1, "tensors": []})
    with pytest.raises(DecodeError, match="codec"):
        decode_update(sparse_as_model, SPEC, topk)
    with pytest.raises(DecodeError, match="whole models"):
        decode_update(encode_update(torch.ones(SPEC.numel), SPEC, topk, mode="delta"), SPEC, CODEC)


def test_replayed_seq_is_rejected_after_the_signature_check():
    guard = ReplayGuard(window=4)
    _, first = _message(seq=10)
    _full_decode(first, guard)
    with pytest.raises(ReplayError):
        _full_decode(first, guard)
    for seq in (12, 11, 9):  # reordering within the window is fine, once each
        _full_decode(_message(seq=seq)[1], guard)
    with pytest.raises(ReplayError):
        _full_decode(_message(seq=11)[1], guard)
    with pytest.raises(ReplayError, match="older than the window"):
        _full_decode(_message(seq=3)[1], guard)


def test_an_update_carries_the_senders_degree_and_a_bad_one_is_refused():
    vector = torch.zeros(SPEC.numel)
    assert decode_update(bytes(encode_update(vector, SPEC, CODEC, degree=7)), SPEC, CODEC).degree == 7
    good = msgpack.unpackb(bytes(encode_update(vector, SPEC, CODEC)))
    for bad in (-1, True, 2**21, 1.5, "3"):
        with pytest.raises(DecodeError, match="degree"):
            decode_update(msgpack.packb({**good, "degree": bad}), SPEC, CODEC)
    without = {k: v for k, v in good.items() if k != "degree"}
    with pytest.raises(DecodeError, match="fields"):
        decode_update(msgpack.packb(without), SPEC, CODEC)
