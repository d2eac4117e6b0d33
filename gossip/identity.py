"""Peer identity: one Ed25519 key pair per peer, with the libp2p peer-id derivation.

The peer id is the libp2p identity multihash of the protobuf-encoded public key, so the
same key and id serve the signed wire format and a libp2p host. Because the id *contains*
the public key, any receiver can verify a signature from the id alone: no key directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

# protobuf PublicKey { Type = Ed25519 (1), Data = 32 bytes }: field 1 varint, field 2 length-delimited.
_PROTO_ED25519_PREFIX = b"\x08\x01\x12\x20"
# multihash "identity" (code 0x00) of the 36-byte protobuf: the key is short enough to inline.
_MULTIHASH_PREFIX = b"\x00\x24"
PEER_ID_PREFIX = _MULTIHASH_PREFIX + _PROTO_ED25519_PREFIX
PEER_ID_LEN = len(PEER_ID_PREFIX) + 32
SIGNATURE_LEN = 64


class IdentityError(ValueError):
    """A key file or peer id is malformed."""


def peer_id_from_public(public: bytes) -> bytes:
    """The 38-byte libp2p peer id of an Ed25519 public key."""
    if len(public) != 32:
        raise IdentityError("an Ed25519 public key has 32 bytes")
    return PEER_ID_PREFIX + public


def public_from_peer_id(peer_id: bytes) -> bytes:
    """Extract the public key from a peer id, or raise IdentityError when it is not an Ed25519 id."""
    if len(peer_id) != PEER_ID_LEN or not peer_id.startswith(PEER_ID_PREFIX):
        raise IdentityError("not an Ed25519 libp2p peer id")
    return peer_id[len(PEER_ID_PREFIX):]


def peer_id_to_str(peer_id: bytes) -> str:
    """Base58btc text form, as libp2p prints it (`12D3KooW...`)."""
    return base58.b58encode(peer_id).decode()


def peer_id_from_str(text: str) -> bytes:
    try:
        raw = base58.b58decode(text)
    except ValueError as exc:
        raise IdentityError(f"not a base58 peer id: {text!r}") from exc
    public_from_peer_id(raw)
    return raw


def verify(peer_id: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is the Ed25519 signature of `message` by the key inside `peer_id`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_from_peer_id(peer_id)).verify(signature, message)
    except (InvalidSignature, IdentityError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Identity:
    """A peer's private key and the id derived from it."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """Deterministic identity from 32 bytes (simulated peers derive theirs from the run seed)."""
        if len(seed) != 32:
            raise IdentityError("an Ed25519 seed has 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def seed(self) -> bytes:
        return self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def peer_id(self) -> bytes:
        return peer_id_from_public(self.public)

    @property
    def peer_id_str(self) -> str:
        return peer_id_to_str(self.peer_id)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def save(self, path: str | Path) -> None:
        """Write the 32-byte seed with mode 0600, atomically (temp file, fsync, rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, self.seed)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> Identity:
        path = Path(path)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise IdentityError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
        seed = path.read_bytes()
        if len(seed) != 32:
            raise IdentityError(f"{path}: expected a 32-byte Ed25519 seed, found {len(seed)} bytes")
        return cls.from_seed(seed)

    @classmethod
    def load_or_create(cls, path: str | Path) -> Identity:
        path = Path(path)
        if path.exists():
            return cls.load(path)
        identity = cls.generate()
        identity.save(path)
        return identity
