"""Shared fixtures. Hypothesis profiles: `ci` (default, bounded) and `fuzz` (opt-in, long)."""

from __future__ import annotations

import os
import signal

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=200_000, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Started in the background (`nohup make test &`, some job runners), pytest inherits SIGINT
# ignored, and so would every process it starts: the tests that press Ctrl-C on a real
# `loragossip sim`, `sweep` or `testnet status --watch` would see it ignored and fail. A Python
# handler is reset to the default in each child at exec, so children get Ctrl-C as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

pytest_plugins = ["tests.dashboard_fixtures"]  # fake_testnet, for the dashboard's two test modules


@pytest.fixture
def identity():
    from gossip.identity import Identity

    return Identity.from_seed(bytes(range(32)))
