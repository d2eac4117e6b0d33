"""The daemon checks every input before it writes anything to its state folder."""

from pathlib import Path

import pytest

from peer.daemon import Daemon, DaemonOptions
from peer.genesis import GenesisError, default_genesis_text
from peer.workloads import WorkloadError


def test_a_bad_shard_is_refused_before_the_state_folder_or_an_identity_exists(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.toml"
    genesis.write_text(default_genesis_text())
    state = tmp_path / "state"
    with pytest.raises(WorkloadError, match=r"missing\.safetensors"):
        Daemon(DaemonOptions(genesis=genesis, state_dir=state, data=tmp_path / "missing.safetensors"))
    assert not state.exists()


def test_a_bad_genesis_is_refused_before_the_state_folder_exists(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.toml"
    genesis.write_text(default_genesis_text().replace("rank = 8", "rank = -1"))
    state = tmp_path / "state"
    with pytest.raises(GenesisError, match="rank"):
        Daemon(DaemonOptions(genesis=genesis, state_dir=state))
    assert not state.exists()
