"""A virtual-time asyncio event loop: `asyncio.sleep(60)` returns at once, with the clock 60 s later.

The loop's `time()` is a counter. When no callback is ready, asyncio asks its selector to wait
until the next timer; this selector instead advances the counter by exactly that timeout and
reports no I/O. Everything built on the loop's clock (sleep, wait_for, call_later) then runs in
virtual time, in a deterministic order, as fast as the computation allows. Only for code that
does no real I/O: the simulator's memory transport.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list:
        if timeout is None:
            raise RuntimeError("virtual-time loop deadlock: every task waits and no timer is pending")
        if timeout > 0:
            self.now += timeout
        return super().select(0)  # the loop's self-pipe only; never blocks


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)
        # timers due within the loop's resolution run now; keep it tiny so virtual time is exact
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual.now


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    except KeyboardInterrupt:  # Ctrl-C: cancel every task cleanly, then let the caller keep what it has
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        raise
    finally:
        loop.close()
