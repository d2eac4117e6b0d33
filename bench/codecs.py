"""Codec throughput (encode + decode through msgpack bytes) for 1M and 16M float32 values,
as a ratio to a plain copy of the same 4·n bytes measured in the same run; and the envelope
overhead (signed message bytes over body bytes). Run: python -m bench.codecs

A round trip is what a sender and a receiver do: `codec.encode`, `gossip.packing.pack` into
message bytes, `wire.unpack_bounded` (the receiver's bounded reader), `codec.decode`."""

from __future__ import annotations

import numpy as np
import torch

from bench.timing import best_of
from gossip.codecs import make_codec
from gossip.identity import Identity
from gossip.packing import pack
from gossip.payloads import decode_update, encode_update
from gossip.spec import AdapterSpec, TensorSpec
from gossip.wire import DEFAULT_LIMITS, Envelope, decode, encode, unpack_bounded


def main() -> None:
    torch.manual_seed(0)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'n':>10} {'codec':>10} {'MB/s':>9} {'copy MB/s':>10} {'ratio':>6} {'compression':>11}")
    for n in (1 << 20, 1 << 24):
        x = torch.randn(n)
        raw = x.numpy()
        repeat = 20 if n < 1 << 22 else 5  # the same for the copy and every codec
        copy_s = best_of(lambda raw=raw: raw.copy(), repeat=repeat)
        mb = 4 * n / 1e6
        for name in ("fp32", "fp16", "int8", "topk", "topk+int8"):
            codec = make_codec(name, topk_fraction=0.01)

            def round_trip(codec=codec, x=x):
                data = pack(codec.encode("w", x))
                codec.decode(unpack_bounded(data, DEFAULT_LIMITS, "record"))

            seconds = best_of(round_trip, repeat=repeat)
            print(f"{n:>10} {name:>10} {mb / seconds:>9.0f} {mb / copy_s:>10.0f} {copy_s / seconds:>6.2f} "
                  f"{codec.compression_ratio(n):>10.1f}x")
    key = Identity.generate()
    net = bytes(32)
    print("\nenvelope overhead (signed message vs body bytes)")
    for n in (16_384, 262_144, 1 << 22):
        spec = AdapterSpec((TensorSpec("w", (n,)),))
        body = encode_update(torch.randn(n), spec, make_codec("fp16"))
        message = encode(Envelope("update", key.peer_id, 1, 1, 0, body, net), key)
        sign = best_of(lambda body=body: encode(Envelope("update", key.peer_id, 1, 1, 0, body, net), key))
        verify = best_of(lambda message=message: decode(message, net=net))
        full = best_of(lambda message=message, spec=spec: decode_update(decode(message, net=net).body, spec,
                                                                         make_codec("fp16")))
        print(f"body {len(body):>9} B  overhead {100 * (len(message) - len(body)) / len(message):.3f} %  "
              f"sign {sign * 1e3:.2f} ms  verify {verify * 1e3:.2f} ms  verify+decode {full * 1e3:.2f} ms")
    assert np.isfinite(copy_s)


if __name__ == "__main__":
    main()
