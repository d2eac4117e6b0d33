"""A bounded msgpack reader that hands large `bin` fields back as views, not copies.

msgpack-python copies every `bin` into a new `bytes`; for a 16M-value update that is two
full copies on the way in (the envelope's body, then each tensor's data), as much time as
the useful work of decoding. This reader parses the subset of msgpack that loragossip sends
(maps with string keys, arrays, strings, binaries, integers, floats, nil, booleans) and
returns every `bin` of `VIEW_MIN_BYTES` or more as a read-only `memoryview` into the input.
Shorter ones are copied into `bytes`, so an id or a signature never keeps a large message
alive and compares and hashes as `bytes`.

It trusts nothing: every length is checked against the bytes that remain and against the
caller's bounds before anything is allocated, nesting is bounded, map keys must be unique
strings, extension types and trailing bytes are refused, and every failure is a
`DecodeError`. `tests/test_unpacking.py` checks it against msgpack-python itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from gossip.errors import DecodeError

VIEW_MIN_BYTES = 4096
MAX_DEPTH = 16

_FLOAT32 = struct.Struct(">f")
_FLOAT64 = struct.Struct(">d")
# (first byte) -> (signed, width) for fixed-width integers
_INTS = {0xCC: (False, 1), 0xCD: (False, 2), 0xCE: (False, 4), 0xCF: (False, 8),
         0xD0: (True, 1), 0xD1: (True, 2), 0xD2: (True, 4), 0xD3: (True, 8)}
# (first byte) -> (kind, width of the length field) for sized containers and strings
_SIZED = {0xC4: ("bin", 1), 0xC5: ("bin", 2), 0xC6: ("bin", 4),
          0xD9: ("str", 1), 0xDA: ("str", 2), 0xDB: ("str", 4),
          0xDC: ("array", 2), 0xDD: ("array", 4), 0xDE: ("map", 2), 0xDF: ("map", 4)}


@dataclass(frozen=True)
class Bounds:
    """The largest binary, string, array and map a message may contain."""

    max_bin: int
    max_str: int
    max_array: int
    max_map: int


class _Reader:
    def __init__(self, data: memoryview, bounds: Bounds) -> None:
        self.data = data
        self.pos = 0
        self.bounds = bounds

    def take(self, count: int) -> memoryview:
        end = self.pos + count
        if end > len(self.data):
            raise DecodeError("malformed", f"truncated: {count} bytes wanted at offset {self.pos}")
        piece = self.data[self.pos:end]
        self.pos = end
        return piece

    def uint(self, width: int) -> int:
        return int.from_bytes(self.take(width), "big")

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise DecodeError("malformed", f"nested deeper than {MAX_DEPTH}")
        if self.pos >= len(self.data):
            raise DecodeError("malformed", "truncated: a value is missing at the end")
        head = self.data[self.pos]
        self.pos += 1
        if head <= 0x7F:
            return head
        if head >= 0xE0:
            return head - 0x100
        if head <= 0x8F:
            return self.map(head & 0x0F, depth)
        if head <= 0x9F:
            return self.array(head & 0x0F, depth)
        if head <= 0xBF:
            return self.string(head & 0x1F)
        if head == 0xC0:
            return None
        if head in (0xC2, 0xC3):
            return head == 0xC3
        if head in _INTS:
            signed, width = _INTS[head]
            return int.from_bytes(self.take(width), "big", signed=signed)
        if head == 0xCA:
            return _FLOAT32.unpack(self.take(4))[0]
        if head == 0xCB:
            return _FLOAT64.unpack(self.take(8))[0]
        if head in _SIZED:
            kind, width = _SIZED[head]
            count = self.uint(width)
            if kind == "bin":
                return self.binary(count)
            if kind == "str":
                return self.string(count)
            return self.array(count, depth) if kind == "array" else self.map(count, depth)
        raise DecodeError("malformed", f"msgpack type byte 0x{head:02x} is not accepted")

    def binary(self, count: int) -> bytes | memoryview:
        if count > self.bounds.max_bin:
            raise DecodeError("too_large", f"binary of {count} bytes, limit {self.bounds.max_bin}")
        piece = self.take(count)
        return piece if count >= VIEW_MIN_BYTES else bytes(piece)

    def string(self, count: int) -> str:
        if count > self.bounds.max_str:
            raise DecodeError("too_large", f"string of {count} bytes, limit {self.bounds.max_str}")
        try:
            return str(self.take(count), "utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("malformed", f"string is not UTF-8: {exc}") from exc

    def array(self, count: int, depth: int) -> list[Any]:
        self.check_count(count, self.bounds.max_array, "array")
        return [self.value(depth + 1) for _ in range(count)]

    def map(self, count: int, depth: int) -> dict[str, Any]:
        self.check_count(count, self.bounds.max_map, "map")
        out: dict[str, Any] = {}
        for _ in range(count):
            key = self.value(depth + 1)
            if not isinstance(key, str):
                raise DecodeError("malformed", f"map key {type(key).__name__}, keys must be strings")
            if key in out:
                raise DecodeError("malformed", f"map key {key!r} appears twice")
            out[key] = self.value(depth + 1)
        return out

    def check_count(self, count: int, limit: int, what: str) -> None:
        """Every element takes at least one byte, so a count beyond the rest is a lie."""
        if count > limit:
            raise DecodeError("too_large", f"{what} of {count} items, limit {limit}")
        if count > len(self.data) - self.pos:
            raise DecodeError("malformed", f"{what} of {count} items in {len(self.data) - self.pos} bytes")


def unpack(data: bytes | bytearray | memoryview, bounds: Bounds, what: str = "message") -> Any:
    """The one msgpack object in `data`, with large binaries as views; DecodeError for anything off."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError("type", f"{what} must be bytes")
    view = memoryview(data)
    if not view.c_contiguous:
        raise DecodeError("type", f"{what} must be contiguous bytes")
    if view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    reader = _Reader(view.toreadonly(), bounds)
    value = reader.value(0)
    if reader.pos != len(view):
        raise DecodeError("malformed", f"{what}: {len(view) - reader.pos} bytes after the end")
    return value
