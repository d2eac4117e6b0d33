"""`loragossip peer --settings FILE`: every timeout and limit of a daemon from one TOML file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loragossip.main import main
from peer.daemon import Daemon, DaemonOptions
from peer.genesis import default_genesis_text
from peer.peer_settings import PeerSettings, SettingsError, load_settings, parse_settings


def test_printed_settings_read_back_as_the_defaults(capsys):
    assert main(["peer", "--print-settings"]) == 0
    printed = capsys.readouterr().out
    assert parse_settings(tomllib.loads(printed)) == PeerSettings()
    assert "[net.rate]" in printed and "frame_burst = 100.0" in printed and "shutdown_grace = 10.0" in printed


def test_a_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("[node]\nmax_staleness = 2\n[net.rate]\nframe_burst = 400\n[membership]\nview_size = 8\n")
    settings = load_settings(path)
    default = PeerSettings()
    assert settings.node.max_staleness == 2 and settings.net.rate.frame_burst == 400.0
    assert settings.membership.view_size == 8
    assert settings.node.catch_up_rounds and settings.node.train_in_thread  # the daemon's own defaults stay
    assert settings.net.dial_timeout == default.net.dial_timeout and settings.net.newcomers == default.net.newcomers


def test_every_problem_is_reported_with_its_key():
    with pytest.raises(SettingsError) as info:
        parse_settings({"node": {"max_stalenes": 3, "min_window": -1.0, "window_history": 0},
                        "net": {"rate": {"frame_burst": "many"}}, "nett": {}})
    problems = info.value.problems
    assert any("'nett'" in p and "did you mean 'net'" in p for p in problems)
    assert any("'max_stalenes'" in p and "did you mean 'max_staleness'" in p for p in problems)
    assert "node.min_window: expected at least 0, got -1.0" in problems
    assert "node.window_history: expected at least 1, got 0" in problems
    assert "net.rate.frame_burst: expected a number, got 'many'" in problems


@given(st.dictionaries(st.sampled_from(["node", "net", "membership", "daemon", "x"]),
                       st.one_of(st.integers(-5, 5), st.text(max_size=3),
                                 st.dictionaries(st.sampled_from(["max_staleness", "rate", "view_size", "y"]),
                                                 st.one_of(st.integers(-3, 3), st.floats(allow_nan=True),
                                                           st.booleans(), st.dictionaries(st.text(max_size=3),
                                                                                          st.integers())),
                                                 max_size=3)),
                       max_size=4))
def test_any_table_parses_or_raises_the_settings_error(raw):
    try:
        settings = parse_settings(raw)
    except SettingsError:
        return
    assert isinstance(settings, PeerSettings)


def test_the_cli_names_a_bad_file_and_the_daemon_runs_with_a_good_one(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[node]\nmax_window = 'long'\n")
    assert main(["peer", "--print-settings", "--settings", str(bad)]) == 2
    assert "node.max_window: expected a number, got 'long'" in capsys.readouterr().err
    assert main(["peer", "--print-settings", "--settings", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err
    assert main(["peer"]) == 2
    assert "--genesis is required" in capsys.readouterr().err
    genesis = tmp_path / "genesis.toml"
    genesis.write_text(default_genesis_text())
    settings = parse_settings({"node": {"max_staleness": 3}, "membership": {"shuffle_period": 1.5}})
    daemon = Daemon(DaemonOptions(genesis=genesis, state_dir=Path(tmp_path / "state"), settings=settings))
    assert daemon.node.settings.max_staleness == 3 and daemon.membership.settings.shuffle_period == 1.5


def test_testnet_up_refuses_a_bad_settings_file_before_starting_anything(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[net.rate]\nframe_burst = -1\n")
    assert main(["testnet", "up", "--dir", str(tmp_path / "net"), "--settings", str(bad)]) == 2
    assert "net.rate.frame_burst: expected at least 0" in capsys.readouterr().err
    assert not (tmp_path / "net").exists()
