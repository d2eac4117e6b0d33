"""Opt-in fuzz target for the wire decoder (not collected by `make test`; run `make fuzz`).

Hypothesis generates valid messages of every kind and mutates them (bit flips, byte
insertions and deletions, overwrites, splices, pure random bytes); every input must decode or
raise DecodeError, nothing else. The number of inputs run is printed at the end; set
FUZZ_EXAMPLES to change it (default 200 000).
"""

import os

import msgpack
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gossip.codecs import make_codec
from gossip.errors import DecodeError
from gossip.identity import Identity
from gossip.payloads import decode_hello, decode_history, decode_update, decode_view, encode_update
from gossip.replay import ReplayGuard
from gossip.spec import AdapterSpec, TensorSpec
from gossip.wire import Envelope, decode, encode

NET = bytes(range(32))
SPEC = AdapterSpec((TensorSpec("a", (4, 3)), TensorSpec("b", (5,))))
KEY = Identity.from_seed(b"\x05" * 32)
CODECS = [make_codec(n, topk_fraction=0.3, int8_chunk=16) for n in ("fp32", "fp16", "int8", "topk", "topk+int8")]
COUNT = {"inputs": 0}


def _valid(codec_index: int, kind: str, seq: int) -> bytes:
    codec = CODECS[codec_index]
    vector = torch.linspace(-2, 2, SPEC.numel)
    if kind == "update":
        body = encode_update(vector, SPEC, codec, mode="delta" if codec.sparse else "model", base=seq - 1)
    else:
        body = msgpack.packb({"addrs": ["/ip4/127.0.0.1/tcp/1"], "round": 1})
    return encode(Envelope(kind, KEY.peer_id, seq, 1, 0, body, NET), KEY)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
    st.tuples(st.just("overwrite"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
)


def _mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for op, where, arg in mutations:
        if not buf:
            break
        i = where % len(buf)
        if op == "flip":
            buf[i] ^= 1 << arg
        elif op == "insert":
            buf[i:i] = arg
        elif op == "delete":
            del buf[i:i + arg]
        else:
            buf[i:i + len(arg)] = arg
    return bytes(buf)


def _decode_all(data: bytes, codec_index: int) -> None:
    try:
        env = decode(data, net=NET)
        ReplayGuard().check(env.sender, env.seq)
        if env.kind == "update":
            decode_update(env.body, SPEC, CODECS[codec_index])
        elif env.kind == "history":
            decode_history(env.body, SPEC, CODECS[codec_index])
        elif env.kind == "hello":
            decode_hello(env.body)
        else:
            decode_view(env.body)
    except DecodeError:
        pass


@pytest.mark.fuzz
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200000")), deadline=None, database=None)
@given(codec_index=st.integers(0, 4), kind=st.sampled_from(["update", "hello", "history", "shuffle"]),
       seq=st.integers(1, 2**40), mutations=st.lists(mutation, min_size=1, max_size=6),
       noise=st.one_of(st.none(), st.binary(max_size=512)))
def test_decode_never_raises_anything_but_decode_error(codec_index, kind, seq, mutations, noise):
    data = noise if noise is not None else _mutate(_valid(codec_index, kind, seq), mutations)
    COUNT["inputs"] += 1
    _decode_all(data, codec_index)


def teardown_module():
    print(f"\nfuzz: {COUNT['inputs']} inputs decoded without any exception but DecodeError")
