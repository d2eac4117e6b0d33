import os
import stat

import pytest

from gossip.identity import Identity, IdentityError, peer_id_from_str, peer_id_to_str, public_from_peer_id, verify


def test_peer_id_is_the_libp2p_ed25519_form(identity):
    text = identity.peer_id_str
    assert text.startswith("12D3KooW")  # every libp2p Ed25519 peer id starts so
    assert peer_id_from_str(text) == identity.peer_id
    assert public_from_peer_id(identity.peer_id) == identity.public


def test_sign_and_verify(identity):
    sig = identity.sign(b"hello")
    assert verify(identity.peer_id, b"hello", sig)
    assert not verify(identity.peer_id, b"hellO", sig)
    assert not verify(Identity.generate().peer_id, b"hello", sig)
    assert not verify(b"\x00" * 38, b"hello", sig)


def test_key_file_is_private_and_round_trips(tmp_path):
    path = tmp_path / "keys" / "peer.key"
    created = Identity.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Identity.load_or_create(path).peer_id == created.peer_id


def test_key_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "peer.key"
    Identity.generate().save(path)
    os.chmod(path, 0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        Identity.load(path)


def test_bad_peer_id_text():
    with pytest.raises(IdentityError):
        peer_id_from_str("0OIl")
    with pytest.raises(IdentityError):
        peer_id_from_str(peer_id_to_str(b"\x01" * 38))
