"""msgpack writing into one buffer, with tensors cast straight into their place.

`msgpack.packb` copies every binary into its own growing buffer and then into a new `bytes`.
Here an object is first laid out as a list of pieces (small msgpack headers and scalars from
msgpack itself, and references to the large binaries), then written once:

- `Fill(nbytes, write)` is a `bin` field whose bytes a codec writes in place: an fp16 cast
  or an int8 quantisation goes from the float32 tensor straight into the message, with no
  intermediate array (bench/codecs.py measures it).
- `Packed(data)` is an object already in msgpack form (an encoding memoised for several
  receivers), copied verbatim.
- any bytes-like object is a `bin` field, copied once.

Without a `Fill` the result is one `bytes` built by `bytes.join`; with one, it is a read-only
view of a buffer allocated once at its final size. Every transport and decoder takes either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

Buffer = bytes | bytearray | memoryview

_SCALARS = msgpack.Packer(use_bin_type=True)  # autoreset: each call returns the bytes of one item


@dataclass(frozen=True)
class Fill:
    """A `bin` field of `nbytes` bytes that `write(view)` fills in place."""

    nbytes: int
    write: Callable[[memoryview], None]

    def __len__(self) -> int:
        return self.nbytes


@dataclass(frozen=True)
class Packed:
    """An object already encoded as msgpack."""

    data: Buffer


def bin_header(nbytes: int) -> bytes:
    """The msgpack header of a `bin` of `nbytes` bytes (bin 8, 16 or 32)."""
    if nbytes < 1 << 8:
        return bytes((0xC4, nbytes))
    if nbytes < 1 << 16:
        return b"\xc5" + nbytes.to_bytes(2, "big")
    return b"\xc6" + nbytes.to_bytes(4, "big")


def _byte_view(data: Buffer) -> memoryview:
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _lay_out(obj: Any, pieces: list[memoryview | bytes | Fill]) -> None:
    if isinstance(obj, dict):
        pieces.append(_SCALARS.pack_map_header(len(obj)))
        for key, value in obj.items():
            _lay_out(key, pieces)
            _lay_out(value, pieces)
    elif isinstance(obj, list | tuple):
        pieces.append(_SCALARS.pack_array_header(len(obj)))
        for value in obj:
            _lay_out(value, pieces)
    elif isinstance(obj, Fill):
        pieces += (bin_header(obj.nbytes), obj)
    elif isinstance(obj, Packed):
        pieces.append(_byte_view(obj.data))
    elif isinstance(obj, bytes | bytearray | memoryview):
        view = _byte_view(obj)
        pieces += (bin_header(len(view)), view)
    else:
        pieces.append(_SCALARS.pack(obj))


def pack(obj: Any) -> Buffer:
    """The msgpack encoding of `obj` (maps, lists, scalars, binaries, `Fill`, `Packed`)."""
    pieces: list[memoryview | bytes | Fill] = []
    _lay_out(obj, pieces)
    if not any(isinstance(p, Fill) for p in pieces):
        return b"".join(pieces)  # type: ignore[arg-type]  # no Fill among them
    out = memoryview(np.empty(sum(map(len, pieces)), np.uint8))
    pos = 0
    for piece in pieces:
        end = pos + len(piece)
        if isinstance(piece, Fill):
            piece.write(out[pos:end])
        else:
            out[pos:end] = piece
        pos = end
    return out.toreadonly()
