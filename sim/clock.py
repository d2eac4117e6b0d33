"""A virtual-time asyncio event loop: `asyncio.sleep(60)` returns at once, with the clock 60 s later.

The loop's `time()` is a counter. When no callback is ready, asyncio asks its selector to wait
until the next timer; this selector instead advances the counter by exactly that timeout and
reports no I/O. Everything built on the loop's clock (sleep, wait_for, call_later) then runs in
virtual time, in a deterministic order, as fast as the computation allows. Only for code that
does no real I/O: the simulator's memory transport.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import selectors
from asyncio.events import TimerHandle
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _SequencedTimer(TimerHandle):
    """A timer that sorts by (time, order of scheduling). asyncio's own sorts by time alone, so
    timers due at one virtual instant, which are common on a virtual clock (equal link delays,
    equal training times), pop in whatever order the heap holds them, and any unrelated timer
    (a churn event that changes nothing, a progress tick) reshuffles the heap and with it the
    run. With ties broken by scheduling order, a timer that does nothing changes nothing."""

    __slots__ = ("_sequence",)

    def __init__(self, when: float, sequence: int, callback: Callable[..., object], args: tuple,
                 loop: asyncio.AbstractEventLoop, context: Any = None) -> None:
        super().__init__(when, callback, args, loop, context)
        self._sequence = sequence

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _SequencedTimer):
            return (self._when, self._sequence) < (other._when, other._sequence)
        return NotImplemented


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
        self._sequence = itertools.count()

    def time(self) -> float:
        return self._virtual.now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any,
                context: Any = None) -> TimerHandle:
        """`BaseEventLoop.call_at` with a timer that keeps ties in scheduling order."""
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        timer = _SequencedTimer(when, next(self._sequence), callback, args, self, context)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer


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
