"""A trio event loop in its own thread, driven from asyncio.

py-libp2p runs on trio and the node runs on asyncio. Rather than mixing loops, trio gets a
thread of its own: asyncio code submits coroutine functions with `call` and awaits an asyncio
future; trio code hands results back with `loop.call_soon_threadsafe`. `stop` cancels
everything trio runs and joins the thread, so nothing outlives the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

T = TypeVar("T")


def _sole_cause(exc: BaseException) -> BaseException:
    """The one real error inside trio's nested exception groups, so callers can catch OSError & co."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class TrioThread:
    def __init__(self, name: str) -> None:
        self.name = name
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, main: Callable[[trio.Nursery, Callable[[], None]], Awaitable[None]]) -> None:
        """Run `main(nursery, ready)` in the trio thread; return once it calls `ready()`.

        `main` should set up its resources, call `ready()`, then wait for cancellation. An
        exception before `ready()` is raised here.
        """
        loop = self._loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if not started.done():
                started.set_result(None) if error is None else started.set_exception(error)

        async def root() -> None:
            self._token = trio.lowlevel.current_trio_token()
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    await main(nursery, lambda: loop.call_soon_threadsafe(settle, None))
            except BaseException as exc:  # report start-up failures to the awaiting side
                loop.call_soon_threadsafe(settle, _sole_cause(exc))
                raise
            finally:
                self._nursery = None

        def run() -> None:
            try:
                trio.run(root)
            except BaseException:  # already reported through `settle`
                pass
            finally:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(settle, RuntimeError(f"{self.name} thread ended before it was ready"))

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        await started

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._nursery is not None

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> asyncio.Future[T]:
        """Run `await fn(*args)` as a trio task; the returned asyncio future gets its outcome."""
        loop = self._loop
        assert loop is not None, "start() first"
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

        async def task() -> None:
            try:
                result = await fn(*args)
            except trio.Cancelled:
                loop.call_soon_threadsafe(settle, None, ConnectionError(f"{self.name} stopped"))
                raise
            except Exception as exc:
                loop.call_soon_threadsafe(settle, None, exc)
            else:
                loop.call_soon_threadsafe(settle, result, None)

        if not self.running:
            future.set_exception(ConnectionError(f"{self.name} is not running"))
            return future
        try:
            trio.from_thread.run_sync(self._nursery.start_soon, task, trio_token=self._token)  # type: ignore[union-attr]
        except (trio.RunFinishedError, RuntimeError) as exc:
            future.set_exception(ConnectionError(f"{self.name} is not running: {exc}"))
        return future

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a plain function in the trio thread without waiting for it (fire and forget)."""
        if self.running:
            with contextlib.suppress(trio.RunFinishedError, RuntimeError):
                trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    async def stop(self, timeout: float = 10.0) -> None:
        nursery = self._nursery
        if nursery is not None:
            self.call_soon(nursery.cancel_scope.cancel)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"{self.name} thread did not stop within {timeout} s")
            self._thread = None
