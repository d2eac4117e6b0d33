"""A testnet directory: what `testnet up` does with a stopped testnet already in it."""

from __future__ import annotations

import pytest

from peer.testnet import PeerProcess, Testnet, TestnetError, prepare_directory


def test_testnet_up_refuses_to_resume_a_stopped_testnet_silently(tmp_path):
    old = Testnet(tmp_path, "libp2p", str(tmp_path / "genesis.toml"),
                  peers=[PeerProcess("boot", 2**22 + 12345, str(tmp_path / "peers" / "boot"), "log")])
    old.save()
    (tmp_path / "peers" / "boot").mkdir(parents=True)
    with pytest.raises(TestnetError, match=r"holds a stopped testnet.*--resume.*--fresh"):
        prepare_directory(tmp_path, "libp2p", "refuse")
    with pytest.raises(TestnetError, match="ran over libp2p, not mqtt"):
        prepare_directory(tmp_path, "mqtt", "resume")
    prepare_directory(tmp_path, "libp2p", "resume")
    assert (tmp_path / "peers" / "boot").exists()
    prepare_directory(tmp_path, "mqtt", "fresh")
    assert not (tmp_path / "peers").exists() and not (tmp_path / "testnet.json").exists()
