"""Length-prefixed frames for stream transports: a 4-byte big-endian length, then the bytes.

The length is checked against the bound *before* any of the body is read, so a peer that
announces a 2 GiB frame costs the receiver four bytes, not two gigabytes.
"""

from __future__ import annotations

HEADER_BYTES = 4
MAX_LENGTH = (1 << 32) - 1


class FrameError(ValueError):
    """A frame header announces a length outside the allowed bounds."""


def header(length: int) -> bytes:
    if not 0 < length <= MAX_LENGTH:
        raise FrameError(f"a frame carries 1 to {MAX_LENGTH} bytes, not {length}")
    return length.to_bytes(HEADER_BYTES, "big")


def parse_header(data: bytes, max_frame: int) -> int:
    """The body length announced by a header; FrameError when it is empty or over `max_frame`."""
    if len(data) != HEADER_BYTES:
        raise FrameError(f"a frame header has {HEADER_BYTES} bytes, got {len(data)}")
    length = int.from_bytes(data, "big")
    if length == 0 or length > max_frame:
        raise FrameError(f"frame of {length} bytes, limit {max_frame}")
    return length
