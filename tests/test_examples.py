"""Every example config loads from the checkout, and `loragossip demo` finds its config there."""

from __future__ import annotations

from pathlib import Path

import pytest

from loragossip.demo_cmd import QUICKSTART
from sim.config import load_config
from sim.sweep.spec import load_sweep

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_demo_runs_the_quickstart_of_this_checkout():
    assert QUICKSTART == EXAMPLES / "quickstart.toml" and QUICKSTART.is_file()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_config_loads(path):
    config = load_config(path)
    assert config.run.name


@pytest.mark.parametrize("path", sorted((EXAMPLES / "sweeps").glob("*.toml")), ids=lambda p: p.name)
def test_every_example_sweep_loads(path):
    assert load_sweep(path).cells
