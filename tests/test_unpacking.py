"""gossip.packing and gossip.unpacking against msgpack-python, the reference implementation."""

import contextlib
import math

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gossip.errors import DecodeError
from gossip.packing import Fill, Packed, bin_header, pack
from gossip.unpacking import MAX_DEPTH, VIEW_MIN_BYTES, Bounds, unpack

WIDE = Bounds(max_bin=1 << 30, max_str=1 << 20, max_array=1 << 20, max_map=1 << 20)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False),
    st.text(max_size=40), st.binary(max_size=300),
    st.integers(0, 3).map(lambda i: bytes(range(256)) * (VIEW_MIN_BYTES // 256 + i)),  # viewed, not copied
)
objects = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=10), inner, max_size=6)),
    max_leaves=30,
)


def _plain(value):
    """Views as bytes and tuples as lists: what msgpack-python would return."""
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@given(objects)
def test_reads_what_msgpack_writes(obj):
    assert _plain(unpack(msgpack.packb(obj, use_bin_type=True), WIDE)) == obj


@given(objects)
def test_msgpack_reads_what_pack_writes(obj):
    assert msgpack.unpackb(pack(obj), raw=False, strict_map_key=False) == obj


@settings(max_examples=300)
@given(objects, st.data())
def test_every_mutation_is_read_as_msgpack_reads_it_or_refused(obj, data):
    """Whatever this reader accepts, msgpack-python accepts and reads as the same value."""
    raw = bytearray(msgpack.packb(obj, use_bin_type=True))
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(raw)))
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "flip" and where < len(raw):
            raw[where] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            raw[where:where] = data.draw(st.binary(min_size=1, max_size=5))
        elif op == "delete":
            del raw[where:where + data.draw(st.integers(1, 5))]
        else:
            del raw[where:]
    try:
        ours = unpack(bytes(raw), WIDE)
    except DecodeError:
        return
    theirs = msgpack.unpackb(bytes(raw), raw=False, strict_map_key=False)
    assert _plain(ours) == theirs or (isinstance(theirs, float) and math.isnan(theirs))


@given(st.binary(max_size=64))
def test_random_bytes_never_raise_anything_but_decode_error(raw):
    with contextlib.suppress(DecodeError):
        unpack(raw, WIDE)


def test_large_binaries_are_read_only_views_into_the_input_and_small_ones_bytes():
    big, small = bytes(range(256)) * 64, b"id" * 10
    data = msgpack.packb({"big": big, "small": small}, use_bin_type=True)
    out = unpack(data, WIDE)
    assert isinstance(out["big"], memoryview) and out["big"].readonly and out["big"] == big
    assert out["big"].obj is data  # the received bytes, not a copy
    assert type(out["small"]) is bytes and out["small"] == small


@pytest.mark.parametrize(("data", "reason"), [
    (b"\xc6\xff\xff\xff\xff", "too_large"),       # a 4 GiB binary announced in 5 bytes
    (b"\xdd\x00\x10\x00\x00", "too_large"),       # more array items than the bound
    (b"\xdd\x00\x00\x00\x10" + b"\x01" * 4, "malformed"),  # more items than bytes left
    (b"\xdf\x00\x00\x00\x08", "malformed"),
    (b"\xdb\x00\x10\x00\x00", "too_large"),       # a 1 MiB string
    (b"\x81\x01\x02", "malformed"),              # an integer map key
    (b"\x82\xa1a\x01\xa1a\x02", "malformed"),    # a key twice
    (b"\xa2\xff\xfe", "malformed"),              # not UTF-8
    (b"\xd4\x01\x00", "malformed"),              # an extension type
    (b"\xc1", "malformed"),                      # the byte msgpack never uses
    (b"\x01\x02", "malformed"),                  # bytes after the value
    (b"", "malformed"),
    (b"\x91" * (MAX_DEPTH + 2) + b"\x01", "malformed"),
])
def test_bad_inputs_are_refused_before_anything_is_allocated(data, reason):
    small = Bounds(max_bin=1024, max_str=64, max_array=1024, max_map=32)
    with pytest.raises(DecodeError) as error:
        unpack(data, small)
    assert error.value.reason == reason


def test_only_contiguous_byte_buffers_are_read():
    with pytest.raises(DecodeError):
        unpack("text", WIDE)  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        unpack(memoryview(bytes(8))[::2], WIDE)
    assert unpack(memoryview(np.frombuffer(msgpack.packb([1, 2, 3]), np.int16)), WIDE) == [1, 2, 3]


def test_fill_writes_in_place_and_packed_is_copied_verbatim():
    def write(view: memoryview) -> None:
        view[:] = b"xyz"

    inner = pack({"k": 7})
    data = pack({"fill": Fill(3, write), "packed": Packed(inner), "raw": memoryview(np.arange(3, dtype=np.int16))})
    assert isinstance(data, memoryview) and data.readonly
    assert msgpack.unpackb(data, raw=False) == {"fill": b"xyz", "packed": {"k": 7},
                                                 "raw": np.arange(3, dtype=np.int16).tobytes()}
    assert isinstance(pack({"k": b"abc"}), bytes)  # without a Fill: one joined bytes


@pytest.mark.parametrize("size", [0, 255, 256, 65535, 65536])
def test_bin_header_matches_msgpack(size):
    assert bin_header(size) + bytes(size) == msgpack.packb(bytes(size), use_bin_type=True)
