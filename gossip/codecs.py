"""Update codecs: how one float32 tensor becomes a wire record and back.

A record is a msgpack map `{name, dtype, shape, data, ...codec fields}`; `data` and the
other arrays are raw little-endian bytes (msgpack `bin`), never lists. Each codec is a
small strategy with `encode(name, x) -> record` and `decode(record, expected) -> tensor`,
and decoding validates like everything that crosses the network: exact fields, types,
sizes that match the declared shape, indices in range, finite values.

No array is copied on its way through: a cast or a quantisation writes straight into the
message (`gossip.packing.Fill`), and decoding reads the received bytes in place
(`gossip.unpacking`), so the only passes over the data are the conversions themselves.

Lossy codecs keep sender-side state in `ErrorFeedback`: whatever a message drops is added
to the next one, so the sum of what receivers decode tracks the sum of the true updates.
"""

from __future__ import annotations

import math
import sys
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from gossip.errors import DecodeError
from gossip.packing import Fill, pack
from gossip.spec import TensorSpec
from gossip.unpacking import Bounds, unpack

if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
    raise ImportError("loragossip's zero-copy wire format assumes a little-endian machine")

Record = dict[str, Any]
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int8": torch.int8, "int32": torch.int32}
_ITEMSIZE = {"float32": 4, "float16": 2, "int8": 1, "int32": 4}
MAX_NDIM = 8
MAX_NAME_BYTES = 256
_OWN_RECORDS = Bounds(max_bin=1 << 40, max_str=1 << 20, max_array=1 << 20, max_map=64)


def _as_bytes(tensor: torch.Tensor) -> memoryview:
    """A zero-copy byte view of a contiguous CPU tensor (msgpack packs it as `bin`)."""
    return memoryview(tensor.detach().contiguous().cpu().numpy()).cast("B")


def _writable(view: memoryview, dtype: str) -> torch.Tensor:
    """A tensor over a slice of the message being packed, for a codec to write into."""
    return torch.from_numpy(np.frombuffer(view, dtype=np.dtype(dtype)))


def _from_bytes(data: Any, dtype: str, count: int, field: str) -> torch.Tensor:
    """A tensor over received bytes after checking the length; read-only memory is never written."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError("schema", f"{field} must be bytes")
    if len(data) != count * _ITEMSIZE[dtype]:
        raise DecodeError("size", f"{field} has {len(data)} bytes, expected {count * _ITEMSIZE[dtype]}")
    if count == 0:
        return torch.empty(0, dtype=_DTYPES[dtype])
    with warnings.catch_warnings():  # read-only bytes: every decoder below only reads this tensor
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.frombuffer(data, dtype=np.dtype(dtype)))


def through_wire(record: Record) -> Record:
    """A record as its receiver sees it: packed into bytes and read back."""
    return unpack(pack(record), _OWN_RECORDS, "own record")


def all_finite(tensor: torch.Tensor) -> bool:
    """True when no value is NaN or ±Inf.

    A sum is one fast reduction (30x faster than `isfinite().all()` here) and is non-finite
    whenever any term is; only then (NaN/Inf, or finite terms that overflowed) is the exact
    element-wise test run. fp16 values are summed in float32, where their sum cannot overflow.
    """
    if tensor.numel() == 0:
        return True
    return bool(torch.isfinite(tensor.sum(dtype=torch.float32))) or bool(torch.isfinite(tensor).all())


def _check_finite(tensor: torch.Tensor, field: str) -> None:
    if tensor.dtype.is_floating_point and not all_finite(tensor):
        raise DecodeError("not_finite", f"{field} holds NaN or Inf")


class Codec(ABC):
    """One wire representation of a float32 tensor."""

    name: ClassVar[str]
    data_dtype: ClassVar[str]
    extra_fields: ClassVar[frozenset[str]] = frozenset()
    lossy: ClassVar[bool] = True
    #: Sparse codecs send a part of the tensor; they only make sense for deltas with error feedback.
    sparse: ClassVar[bool] = False

    def encode(self, name: str, x: torch.Tensor) -> Record:
        """The record for tensor `x` (any shape, float32)."""
        flat = x.detach().reshape(-1).to(torch.float32)
        record: Record = {"name": name, "dtype": self.data_dtype, "shape": list(x.shape)}
        record.update(self._encode_flat(flat))
        return record

    def decode(self, record: Mapping[str, Any], expected: TensorSpec | None = None) -> torch.Tensor:
        """The float32 tensor of a record, validated; raises `DecodeError` for anything off."""
        if not isinstance(record, Mapping):
            raise DecodeError("schema", "a tensor record must be a map")
        keys = set(record)
        wanted = {"name", "dtype", "shape", "data"} | self.extra_fields
        if keys != wanted:
            raise DecodeError("schema", f"tensor record fields {sorted(map(str, keys))}, expected {sorted(wanted)}")
        name, dtype, shape = record["name"], record["dtype"], record["shape"]
        if not isinstance(name, str) or not 0 < len(name.encode()) <= MAX_NAME_BYTES:
            raise DecodeError("schema", "tensor name must be a short non-empty string")
        if dtype != self.data_dtype:
            raise DecodeError("dtype", f"{name}: dtype {dtype!r}, codec {self.name} sends {self.data_dtype}")
        if (not isinstance(shape, list | tuple) or len(shape) > MAX_NDIM
                or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in shape)):
            raise DecodeError("shape", f"{name}: bad shape {shape!r}")
        shape = tuple(shape)
        if expected is not None:
            if name != expected.name:
                raise DecodeError("schema", f"tensor {name!r} where {expected.name!r} was expected")
            if shape != expected.shape:
                raise DecodeError("shape", f"{name}: shape {shape}, the adapter spec says {expected.shape}")
        numel = math.prod(shape)
        return self._decode_flat(record, numel).reshape(shape)

    @property
    def keyframe(self) -> Codec:
        """The dense codec for whole-model messages: itself, or for sparse codecs their dense counterpart."""
        return self

    def wire_bytes(self, numel: int) -> int:
        """Payload bytes for `numel` values (arrays only, not the few bytes of field names)."""
        return self._wire_bytes(numel)

    def compression_ratio(self, numel: int) -> float:
        """float32 bytes divided by wire bytes: 2.0 for fp16, ~4 for int8, ~1/(2·fraction) for topk."""
        return 4 * numel / max(1, self.wire_bytes(numel))

    def received(self, rows: torch.Tensor) -> torch.Tensor:
        """What receivers decode when each row of `rows` ([R, n]) is sent as one tensor record.

        The simulator's batched engine uses it instead of encoding R messages; it runs the
        same quantisation code as `encode`, so the values are the ones a real decode gives.
        """
        raise NotImplementedError(f"codec {self.name} has no batched form")

    @abstractmethod
    def _encode_flat(self, flat: torch.Tensor) -> Record: ...

    @abstractmethod
    def _decode_flat(self, record: Mapping[str, Any], numel: int) -> torch.Tensor: ...

    @abstractmethod
    def _wire_bytes(self, numel: int) -> int: ...


class Fp32(Codec):
    """Exact: the float32 bytes as they are."""

    name = "fp32"
    data_dtype = "float32"
    lossy = False

    def _encode_flat(self, flat: torch.Tensor) -> Record:
        return {"data": _as_bytes(flat)}

    def _decode_flat(self, record: Mapping[str, Any], numel: int) -> torch.Tensor:
        data = _from_bytes(record["data"], "float32", numel, "data")
        _check_finite(data, "data")
        return data.clone()

    def received(self, rows: torch.Tensor) -> torch.Tensor:
        return rows.to(torch.float32).clone()

    def _wire_bytes(self, numel: int) -> int:
        return 4 * numel


class Fp16(Codec):
    """Half precision: 2x smaller, relative error about 5e-4; values beyond ±65504 saturate."""

    name = "fp16"
    data_dtype = "float16"

    @staticmethod
    def _to_half(out: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return out.copy_(values).clamp_(-65504.0, 65504.0)  # ±inf saturates

    def _encode_flat(self, flat: torch.Tensor) -> Record:
        def write(view: memoryview) -> None:
            self._to_half(_writable(view, "float16"), flat)

        return {"data": Fill(2 * flat.numel(), write)}

    def received(self, rows: torch.Tensor) -> torch.Tensor:
        return self._to_half(torch.empty(rows.shape, dtype=torch.float16, device=rows.device), rows).to(torch.float32)

    def _decode_flat(self, record: Mapping[str, Any], numel: int) -> torch.Tensor:
        values = _from_bytes(record["data"], "float16", numel, "data").to(torch.float32)
        _check_finite(values, "data")  # summing float32 is far faster than summing float16 here
        return values

    def _wire_bytes(self, numel: int) -> int:
        return 2 * numel


_MAX_SCALE = float(np.finfo(np.float32).max) / 128  # q·s stays finite for |q| <= 127
_MIN_SCALE = float(np.finfo(np.float32).tiny)  # below it 1/s overflows; such chunks are sent as 0
_SCRATCH_VALUES = 1 << 18  # 1 MiB of float32: a block of the quantiser stays in a 2 MiB L2 (fastest measured)


class _ChunkedInt8:
    """Symmetric int8 quantisation with one float32 scale per chunk of `chunk` values.

    q = round(x / s), s = max|x| / 127 over the chunk, so |x - q·s| <= s/2 everywhere (a
    chunk whose max|x| is below 127 times the smallest normal float is sent as zeros).
    The last chunk may be shorter. max|x| is max(max x, -min x), two reductions without a
    temporary |x|; the quantised values are computed block by block in a scratch buffer that
    stays in cache and cast into the message, so no full-size float temporary is allocated.
    """

    def __init__(self, chunk: int = 1024) -> None:
        if chunk < 1:
            raise ValueError("int8 chunk must be positive")
        self.chunk = chunk

    def _blocks(self, count: int) -> list[tuple[int, int]]:
        """[start, stop) ranges of whole chunks that fit the scratch buffer, then the short last chunk."""
        full = count - count % self.chunk
        step = max(1, _SCRATCH_VALUES // self.chunk) * self.chunk
        ranges = [(start, min(full, start + step)) for start in range(0, full, step)]
        return ranges + ([(full, count)] if full < count else [])

    def _scales(self, rows: torch.Tensor) -> torch.Tensor:
        """Per row of `rows` ([R, n]), the scale of each chunk ([R, chunks])."""
        count, full = rows.shape[1], rows.shape[1] - rows.shape[1] % self.chunk
        peaks, r = [], rows.shape[0]
        for part in (rows[:, :full].reshape(r, -1, self.chunk), rows[:, full:].reshape(r, 1, -1)):
            if part.numel():
                peaks.append(torch.maximum(part.amax(dim=2), part.amin(dim=2).neg_()))
        if not peaks:
            return torch.empty(rows.shape[0], -(-count // self.chunk), device=rows.device)
        return torch.cat(peaks, dim=1).div_(127.0)

    @staticmethod
    def _inverse(scale: torch.Tensor) -> torch.Tensor:
        return torch.where(scale >= _MIN_SCALE, 1.0 / scale, torch.zeros_like(scale))

    def quantise(self, flat: torch.Tensor) -> Record:
        scale = self._scales(flat[None])[0]
        inverse = self._inverse(scale)
        scratch = torch.empty(min(flat.numel(), max(self.chunk, _SCRATCH_VALUES)))

        def write(view: memoryview) -> None:
            out = _writable(view, "int8")
            for start, stop in self._blocks(flat.numel()):
                width = min(self.chunk, stop - start)
                first = start // self.chunk
                rows = scratch[:stop - start].view(-1, width)
                torch.mul(flat[start:stop].view(-1, width), inverse[first:first + rows.shape[0], None], out=rows)
                out[start:stop].view(-1, width).copy_(rows.round_())  # |x|/s <= 127 (1 + 3 ulp): no clamp

        return {"data": Fill(flat.numel(), write), "scale": _as_bytes(scale), "chunk": self.chunk}

    def dequantise(self, record: Mapping[str, Any], count: int) -> torch.Tensor:
        chunk = record["chunk"]
        if not isinstance(chunk, int) or isinstance(chunk, bool) or not 1 <= chunk <= 1 << 24:
            raise DecodeError("schema", f"bad int8 chunk {chunk!r}")
        n_chunks = -(-count // chunk)
        q = _from_bytes(record["data"], "int8", count, "data")
        scale = _from_bytes(record["scale"], "float32", n_chunks, "scale")
        _check_finite(scale, "scale")
        if n_chunks and (float(scale.min()) < 0 or float(scale.max()) > _MAX_SCALE):
            raise DecodeError("schema", f"int8 scales must lie in [0, {_MAX_SCALE:.3g}]")
        values = q.to(torch.float32)
        full = count - count % chunk
        values[:full].view(-1, chunk).mul_(scale[:full // chunk, None])
        values[full:].mul_(scale[-1:])
        return values

    def received(self, rows: torch.Tensor) -> torch.Tensor:
        """`dequantise(quantise(row))` for every row of `rows` ([R, n]): the same products and roundings."""
        scale = self._scales(rows)
        inverse = self._inverse(scale)
        count, full = rows.shape[1], rows.shape[1] - rows.shape[1] % self.chunk
        out = torch.empty_like(rows, dtype=torch.float32)
        whole = full // self.chunk
        if whole:
            body = out[:, :full].view(rows.shape[0], whole, self.chunk)
            torch.mul(rows[:, :full].reshape(body.shape), inverse[:, :whole, None], out=body)
            body.round_().mul_(scale[:, :whole, None])
        if full < count:
            tail = out[:, full:]
            torch.mul(rows[:, full:], inverse[:, -1:], out=tail)
            tail.round_().mul_(scale[:, -1:])
        return out

    def wire_bytes(self, count: int) -> int:
        return count + 4 * -(-count // self.chunk)


class Int8(Codec):
    """int8 with per-chunk scales: ~4x smaller, error at most half a quantisation step."""

    name = "int8"
    data_dtype = "int8"
    extra_fields = frozenset({"scale", "chunk"})

    def __init__(self, chunk: int = 1024) -> None:
        self.quantiser = _ChunkedInt8(chunk)

    def _encode_flat(self, flat: torch.Tensor) -> Record:
        return self.quantiser.quantise(flat)

    def _decode_flat(self, record: Mapping[str, Any], numel: int) -> torch.Tensor:
        return self.quantiser.dequantise(record, numel)

    def received(self, rows: torch.Tensor) -> torch.Tensor:
        return self.quantiser.received(rows)

    def _wire_bytes(self, numel: int) -> int:
        return self.quantiser.wire_bytes(numel)


_SAMPLE = 65_536


def top_indices(magnitude: torch.Tensor, k: int) -> torch.Tensor:
    """Increasing indices of the `k` largest entries of `magnitude`, exactly.

    `torch.topk` over 16M values takes 270 ms on the bench machine. For large inputs, the
    (1 - 1.5k/n) quantile of a fixed sample of 65 536 entries is a threshold that about 1.5k
    entries pass. Whenever at least k pass, the k largest of them are the k largest of all: the
    k-th largest is then at least the threshold. Otherwise (heavy ties) it falls back to the
    full `topk`, and so does an input that is not all finite (topk ranks NaN highest, a
    threshold would drop it). 48 ms at 16M, measured.
    """
    n = magnitude.numel()
    if n >= 16 * _SAMPLE and 3 * k < 2 * n and all_finite(magnitude):
        sample = magnitude[torch.randint(n, (_SAMPLE,), generator=torch.Generator().manual_seed(0))]
        candidates = torch.nonzero(magnitude >= torch.quantile(sample, 1 - 1.5 * k / n)).squeeze(1)
        if candidates.numel() >= k:
            return candidates[torch.topk(magnitude[candidates], k, sorted=False).indices].sort().values
    return torch.topk(magnitude, k, sorted=False).indices.sort().values


class TopK(Codec):
    """Top-k sparsification: the k largest-magnitude values and their (increasing) uint32 indices.

    Unsent values are zero in the decoded tensor; pair with `ErrorFeedback` so they are sent later.
    """

    name = "topk"
    data_dtype = "float32"
    extra_fields = frozenset({"idx"})
    sparse = True

    def __init__(self, fraction: float = 0.1) -> None:
        if not 0 < fraction <= 1:
            raise ValueError("topk fraction must be in (0, 1]")
        self.fraction = fraction

    @property
    def keyframe(self) -> Codec:
        return Fp16()

    def k(self, numel: int) -> int:
        return min(numel, max(1, math.ceil(self.fraction * numel)))

    def _select(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx = top_indices(flat.abs(), self.k(flat.numel()) if flat.numel() else 0)
        return idx, flat[idx]

    def _values_record(self, values: torch.Tensor) -> Record:
        return {"data": _as_bytes(values)}

    def _values(self, record: Mapping[str, Any], k: int) -> torch.Tensor:
        values = _from_bytes(record["data"], "float32", k, "data")
        _check_finite(values, "data")
        return values

    def _encode_flat(self, flat: torch.Tensor) -> Record:
        idx, values = self._select(flat)
        record = self._values_record(values)
        record["idx"] = _as_bytes(idx.to(torch.int32))
        return record

    def _decode_flat(self, record: Mapping[str, Any], numel: int) -> torch.Tensor:
        raw_idx = record["idx"]
        if not isinstance(raw_idx, bytes | bytearray | memoryview) or len(raw_idx) % 4:
            raise DecodeError("schema", "idx must be bytes of int32")
        k = len(raw_idx) // 4
        if k > numel:
            raise DecodeError("size", f"{k} indices for {numel} values")
        idx = _from_bytes(raw_idx, "int32", k, "idx").to(torch.int64)
        if k and (int(idx[0]) < 0 or int(idx[-1]) >= numel or (k > 1 and not bool((idx[1:] > idx[:-1]).all()))):
            raise DecodeError("schema", "indices must be strictly increasing and inside the tensor")
        values = self._values(record, k)
        out = torch.zeros(numel, dtype=torch.float32)
        out[idx] = values.to(torch.float32)
        return out

    def _wire_bytes(self, numel: int) -> int:
        return 8 * self.k(numel)

    def _received_values(self, values: torch.Tensor) -> torch.Tensor:
        return values.to(torch.float32)

    def received(self, rows: torch.Tensor) -> torch.Tensor:
        """Each row's k largest-magnitude values kept (as `_values` decodes them), the rest zero.
        Which of several equal magnitudes is kept may differ from `top_indices`; the values do not."""
        if rows.shape[1] == 0:
            return rows.to(torch.float32).clone()
        idx = torch.topk(rows.abs(), self.k(rows.shape[1]), dim=1, sorted=False).indices.sort(dim=1).values
        values = self._received_values(rows.to(torch.float32).gather(1, idx))
        return torch.zeros(rows.shape, dtype=torch.float32, device=rows.device).scatter_(1, idx, values)


class TopKInt8(TopK):
    """Top-k values quantised to int8 with per-chunk scales: ~5 bytes per sent value."""

    name = "topk+int8"
    data_dtype = "int8"
    extra_fields = frozenset({"idx", "scale", "chunk"})

    def __init__(self, fraction: float = 0.1, chunk: int = 1024) -> None:
        super().__init__(fraction)
        self.quantiser = _ChunkedInt8(chunk)

    @property
    def keyframe(self) -> Codec:
        return Int8(self.quantiser.chunk)

    def _values_record(self, values: torch.Tensor) -> Record:
        return self.quantiser.quantise(values)

    def _values(self, record: Mapping[str, Any], k: int) -> torch.Tensor:
        return self.quantiser.dequantise(record, k)

    def _received_values(self, values: torch.Tensor) -> torch.Tensor:
        return self.quantiser.received(values)

    def _wire_bytes(self, numel: int) -> int:
        return 4 * self.k(numel) + self.quantiser.wire_bytes(self.k(numel))


CODECS: dict[str, Callable[[float, int], Codec]] = {
    Fp32.name: lambda topk_fraction, int8_chunk: Fp32(),
    Fp16.name: lambda topk_fraction, int8_chunk: Fp16(),
    Int8.name: lambda topk_fraction, int8_chunk: Int8(int8_chunk),
    TopK.name: lambda topk_fraction, int8_chunk: TopK(topk_fraction),
    TopKInt8.name: TopKInt8,
}
"""Every codec by its genesis name, built from the genesis' `topk_fraction` and `int8_chunk`
(the one list the genesis validation, the CLI and `make_codec` read)."""


def make_codec(name: str, *, topk_fraction: float = 0.1, int8_chunk: int = 1024) -> Codec:
    """A codec by its genesis name."""
    factory = CODECS.get(name)
    if factory is None:
        raise ValueError(f"unknown codec {name!r}; expected one of {sorted(CODECS)}")
    return factory(topk_fraction, int8_chunk)


class ErrorFeedback:
    """Sender-side memory of what lossy encoding dropped, per tensor name (EF-SGD / EF21 style).

    encode: y = x + e;  send C(y);  e <- y - D(C(y)).  Summed over messages, what receivers
    decode equals the sum of the true x minus the current residual e, which stays bounded,
    so nothing is lost, only delayed.
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.residual: dict[str, torch.Tensor] = {}

    def encode(self, name: str, x: torch.Tensor) -> Record:
        corrected = x.detach().to(torch.float32)
        if name in self.residual:
            corrected = corrected + self.residual[name]
        record = self.codec.encode(name, corrected)
        if self.codec.lossy:
            self.residual[name] = corrected - self.codec.decode(through_wire(record))
        return record
