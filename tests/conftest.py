"""Shared fixtures. Hypothesis profiles: `ci` (default, bounded) and `fuzz` (opt-in, long)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=200_000, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = ["tests.dashboard_fixtures"]  # fake_testnet, for the dashboard's two test modules


@pytest.fixture
def identity():
    from gossip.identity import Identity

    return Identity.from_seed(bytes(range(32)))
