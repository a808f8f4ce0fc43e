"""A private event loop in a daemon thread, so that synchronous code can drive the async
WebSocket layer.

One :class:`LoopPortal` belongs to one sync :class:`~api_gemini.Client`. Because the loop
runs in its own thread, the sync API also works from a thread whose own loop is running
(a notebook cell): that thread just blocks while it waits, as any sync call does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar, cast

__all__ = ["LoopPortal"]

T = TypeVar("T")


class LoopPortal:
    """Runs coroutines on a private loop thread and waits for their results."""

    def __init__(self, name: str = "api-gemini-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._closed = False
        # Objects opened through this portal and how to close them, so that closing the
        # client sends their close frames. Weak: a dropped object is not kept alive.
        self._open: weakref.WeakKeyDictionary[Any, Callable[[Any], Awaitable[None]]] = (
            weakref.WeakKeyDictionary()
        )
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result, re-raising its exception.

        A ``KeyboardInterrupt`` while waiting cancels the coroutine, waits for it to
        unwind (so it closes what it opened), then propagates.
        """
        if self._closed:
            coro.close()
            raise RuntimeError("the client's event loop is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync api_gemini call was made from its own loop thread")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            # Let the coroutine unwind; whatever it ends with, the interrupt is what the
            # caller must see.
            with contextlib.suppress(Exception):
                future.result(timeout=10)
            raise

    def adopt(self, obj: T, closer: Callable[[T], Awaitable[None]]) -> T:
        """Remember ``obj`` so that :meth:`close` closes it with ``closer(obj)``."""
        self._open[obj] = closer
        return obj

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """Drive an async iterator from sync code, one item per hop to the loop."""

        async def next_item() -> tuple[bool, T | None]:
            try:
                return True, await iterator.__anext__()
            except StopAsyncIteration:
                return False, None

        while True:
            has_item, item = self.run(next_item())
            if not has_item:
                return
            yield cast(T, item)  # has_item guarantees a T

    def close(self) -> None:
        """Stop the loop after its pending callbacks and join the thread."""
        if self._closed:
            return
        self._closed = True

        async def drain() -> None:
            for obj, closer in list(self._open.items()):
                with contextlib.suppress(Exception):  # closing others matters more
                    await closer(obj)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(drain(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
