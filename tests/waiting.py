"""Polling helpers for tests of live components (transports, brokers, processes)."""

from __future__ import annotations

import asyncio


async def wait_for(predicate, timeout: float = 20.0) -> None:
    """Poll `predicate` on the running loop until it holds; fail the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
