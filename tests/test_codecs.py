import math

import msgpack
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gossip.codecs import CODECS, ErrorFeedback, make_codec, through_wire, top_indices
from gossip.errors import DecodeError
from gossip.packing import pack
from gossip.spec import TensorSpec

ALL = sorted(CODECS)
finite_floats = st.floats(-1e4, 1e4, allow_nan=False, width=32)
shapes = st.lists(st.integers(1, 40), min_size=1, max_size=3).map(tuple)


def _wire(record):
    """Through real msgpack bytes, as on the network: written by gossip.packing, read back by
    msgpack-python itself and by gossip.unpacking, which must agree."""
    data = pack(record)
    theirs, ours = msgpack.unpackb(data, raw=False), through_wire(record)
    assert {k: bytes(v) if isinstance(v, memoryview) else v for k, v in ours.items()} == theirs
    return ours


@given(name=st.sampled_from(ALL), data=st.data())
def test_round_trip_error_is_within_each_codecs_bound(name, data):
    shape = data.draw(shapes)
    x = torch.from_numpy(data.draw(arrays(np.float32, shape, elements=finite_floats)))
    codec = make_codec(name, topk_fraction=0.25, int8_chunk=16)
    out = codec.decode(_wire(codec.encode("w", x)), TensorSpec("w", shape))
    assert out.shape == x.shape and out.dtype == torch.float32
    if name == "fp32":
        assert torch.equal(out, x)
    elif name == "fp16":
        assert torch.allclose(out, x, rtol=1e-3, atol=1e-4)
    elif name == "int8":
        step = x.reshape(-1).abs().max() / 127
        assert float((out - x).abs().max()) <= float(step) / 2 + 1e-3
    else:
        kept = out.reshape(-1) != 0
        assert int(kept.sum()) <= codec.k(x.numel())
        flat_x = x.reshape(-1)
        # every dropped value is no larger than every kept one; with int8 values a kept value
        # can round to 0 and look dropped, so allow one quantisation step there
        slack = float(flat_x.abs().max()) / 127 if name == "topk+int8" else 1e-6
        if bool(kept.any()) and bool((~kept).any()):
            assert float(flat_x[~kept].abs().max()) <= float(flat_x[kept].abs().min()) + slack


@pytest.mark.parametrize("name", ALL)
def test_compression_ratio_is_reported(name):
    codec = make_codec(name, topk_fraction=0.1, int8_chunk=1024)
    ratio = codec.compression_ratio(1 << 20)
    expected = {"fp32": 1.0, "fp16": 2.0, "int8": 4 / (1 + 4 / 1024), "topk": 5.0,
                "topk+int8": 4 / (0.1 * (4 + 1 + 4 / 1024))}[name]
    assert ratio == pytest.approx(expected, rel=1e-3)
    x = torch.randn(1 << 16)
    record = codec.encode("w", x)
    payload = sum(len(record[k]) for k in ("data", "idx", "scale") if k in record)
    assert payload == codec.wire_bytes(1 << 16)


@pytest.mark.parametrize("name", ["int8", "topk", "topk+int8", "fp16"])
def test_error_feedback_loses_nothing_over_time(name):
    """Σ decoded = Σ true - residual, and the residual stays bounded, so the relative gap → 0."""
    gen = torch.Generator().manual_seed(0)
    codec = make_codec(name, topk_fraction=0.05, int8_chunk=64)
    ef = ErrorFeedback(codec)
    true_sum = torch.zeros(2000)
    decoded_sum = torch.zeros(2000)
    gaps = []
    for t in range(1, 401):
        x = torch.randn(2000, generator=gen) * 0.1 + 0.05  # a drift, as in training updates
        true_sum += x
        decoded_sum += codec.decode(_wire(ef.encode("w", x)))
        assert torch.allclose(true_sum - decoded_sum, ef.residual["w"], atol=1e-3)
        if t in (100, 400):
            gaps.append(float((true_sum - decoded_sum).norm() / true_sum.norm()))
    assert gaps[1] < gaps[0] * 0.6  # bounded residual over a growing sum
    assert gaps[1] < 0.25


def _valid(name="int8"):
    codec = make_codec(name, topk_fraction=0.5, int8_chunk=16)
    return codec, _wire(codec.encode("w", torch.randn(4, 8)))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("data"),
        lambda r: r.update(extra=1),
        lambda r: r.update(name=""),
        lambda r: r.update(name=7),
        lambda r: r.update(dtype="float64"),
        lambda r: r.update(shape=[4, -8]),
        lambda r: r.update(shape=[2**40]),
        lambda r: r.update(shape="4x8"),
        lambda r: r.update(shape=[4, 9]),
        lambda r: r.update(data=r["data"][:-1]),
        lambda r: r.update(data="text"),
        lambda r: r.update(scale=np.array([np.nan, 1], np.float32).tobytes()),
        lambda r: r.update(scale=np.array([-1, 1], np.float32).tobytes()),
        lambda r: r.update(chunk=0),
        lambda r: r.update(chunk=True),
    ],
)
def test_malformed_int8_records_raise_decode_error(mutate):
    codec, record = _valid()
    mutate(record)
    with pytest.raises(DecodeError):
        codec.decode(record, TensorSpec("w", (4, 8)))


@pytest.mark.parametrize("name", ["topk", "topk+int8"])
@pytest.mark.parametrize(
    "idx",
    [np.array([3, 2], np.int32), np.array([1, 1], np.int32), np.array([-1, 2], np.int32),
     np.array([0, 32], np.int32), np.arange(33, dtype=np.int32), b"\x00\x00\x00"],
)
def test_bad_topk_indices_raise_decode_error(name, idx):
    codec, record = _valid(name)
    record["idx"] = idx if isinstance(idx, bytes) else idx.tobytes()
    with pytest.raises(DecodeError):
        codec.decode(record, TensorSpec("w", (4, 8)))


def test_nan_and_inf_are_rejected():
    codec = make_codec("fp32")
    for bad in (math.nan, math.inf, -math.inf):
        x = torch.zeros(5)
        x[2] = bad
        with pytest.raises(DecodeError, match="not_finite"):
            codec.decode(_wire(codec.encode("w", x)))


def test_fp16_saturates_instead_of_overflowing_to_inf():
    codec = make_codec("fp16")
    out = codec.decode(_wire(codec.encode("w", torch.tensor([1e6, -1e6]))))
    assert torch.equal(out, torch.tensor([65504.0, -65504.0]))


def test_name_and_shape_must_match_the_spec():
    codec = make_codec("fp32")
    record = _wire(codec.encode("w", torch.zeros(3)))
    with pytest.raises(DecodeError, match="expected"):
        codec.decode(record, TensorSpec("v", (3,)))
    with pytest.raises(DecodeError, match="adapter spec"):
        codec.decode(record, TensorSpec("w", (1, 3)))


def test_unknown_codec_name():
    with pytest.raises(ValueError, match="unknown codec"):
        make_codec("zip")


@pytest.mark.parametrize("kind", ["gaussian", "heavy_tail", "mostly_zero", "constant", "with_nan"])
@pytest.mark.parametrize("fraction", [0.001, 0.01, 0.3])
def test_sampled_top_k_picks_exactly_the_largest_values(kind, fraction):
    gen = torch.Generator().manual_seed(3)
    n = 16 * 65_536 + 123
    x = {"gaussian": torch.randn(n, generator=gen),
         "heavy_tail": torch.randn(n, generator=gen) ** 5,
         "mostly_zero": torch.randn(n, generator=gen) * (torch.rand(n, generator=gen) < 0.002),
         "constant": torch.ones(n),
         "with_nan": torch.randn(n, generator=gen).index_fill_(0, torch.tensor([7]), float("nan"))}[kind]
    magnitude = x.abs()
    k = math.ceil(fraction * n)
    chosen = top_indices(magnitude, k)
    assert chosen.numel() == k and bool((chosen[1:] > chosen[:-1]).all())
    expected = torch.topk(magnitude, k).values  # ties may pick other indices, never other values
    assert torch.equal(magnitude[chosen].sort(descending=True).values.nan_to_num(), expected.nan_to_num())
