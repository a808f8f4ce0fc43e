"""A private event loop in a daemon thread, so that synchronous code can drive the async
WebSocket layer.

One :class:`LoopPortal` belongs to one sync :class:`~api_gemini.Client`. Because the loop
runs in its own thread, the sync API also works from a thread whose own loop is running
(a notebook cell): that thread just blocks while it waits, as any sync call does.

Three things make it safe to share between threads and processes:

- every call is submitted under one lock that :meth:`LoopPortal.close` also takes, so a
  call either reaches the loop before the close drains it (and is ended by it) or is
  refused with :class:`~api_gemini.errors.ClientClosedError`; nothing starts on a loop
  that is going away;
- a ``KeyboardInterrupt`` in the waiting thread cancels the task, then waits for its
  outcome: a result that was already there is handed to the caller's ``salvage``
  (a chunk is kept for the next ``next()``), never dropped;
- after ``os.fork()`` the loop thread does not exist in the child: every portal is
  marked there, and a call on it raises at once instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from .errors import ClientClosedError, SessionStateError

__all__ = ["LoopPortal"]

T = TypeVar("T")

#: How long an interrupted call may take to unwind (close what it opened).
_UNWIND_TIMEOUT = 10.0
#: How long close() waits for the loop to close what is open and for the thread to end.
_CLOSE_TIMEOUT = 30.0

# Every portal alive in this process, so that a fork can mark them all in the child.
_portals: weakref.WeakSet[LoopPortal] = weakref.WeakSet()


def _mark_forked() -> None:
    """In a child of ``os.fork()``: the loop threads were not copied, so no portal inherited
    from the parent may be used (its loop's epoll fd and sockets are the parent's too)."""
    for portal in list(_portals):
        portal._forked = True


os.register_at_fork(after_in_child=_mark_forked)


class _Call(Generic[T]):
    """One coroutine submitted to the loop: its task (once started) and its outcome."""

    __slots__ = ("coro", "outcome", "task")

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self.coro = coro
        self.task: asyncio.Task[T] | None = None
        self.outcome: concurrent.futures.Future[T] = concurrent.futures.Future()

    def start(self) -> None:
        """On the loop: run the coroutine as a task and report its outcome."""
        task = asyncio.get_running_loop().create_task(self.coro)
        self.task = task
        task.add_done_callback(self._settle)

    def cancel(self) -> None:
        """On the loop: cancel the task (it may have finished already: then a no-op)."""
        if self.task is not None:
            self.task.cancel()

    def _settle(self, task: asyncio.Task[T]) -> None:
        outcome = self.outcome
        if task.cancelled():
            outcome.cancel()
            return
        error = task.exception()
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(task.result())


class LoopPortal:
    """Runs coroutines on a private loop thread and waits for their results."""

    def __init__(self, name: str = "api-gemini-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        # Orders submissions against close(): held only to check and to enqueue.
        self._lock = threading.Lock()
        self._closing = False
        self._closed = threading.Event()  # set once the loop is stopped and closed
        self._forked = False  # set in a child process by _mark_forked
        # Objects opened through this portal and how to close them, so that closing the
        # client sends their close frames. Weak: a dropped object is not kept alive.
        self._open: weakref.WeakKeyDictionary[Any, Callable[[Any], Awaitable[None]]] = (
            weakref.WeakKeyDictionary()
        )
        _portals.add(self)  # before the thread starts: a fork from then on must mark it
        try:
            self._thread.start()
        except BaseException:
            self._loop.close()
            raise

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    # ---- state

    @property
    def closing(self) -> bool:
        """True once :meth:`close` has begun: no new call is accepted."""
        return self._closing

    @property
    def forked(self) -> bool:
        """True in a child process of ``os.fork()``: this portal's loop is the parent's."""
        return self._forked

    def _refuse(self) -> Exception | None:
        """Why no call may be submitted now, or ``None``. Checked under the lock."""
        if self._forked:
            return SessionStateError(
                "this object was opened in the parent process before os.fork(): its "
                "connection and event loop belong to the parent; open a new one in this "
                "process (the client itself starts a fresh loop here)"
            )
        if self._closing:
            return ClientClosedError("this client is closed")
        if threading.current_thread() is self._thread:
            return RuntimeError("a sync api_gemini call was made from its own loop thread")
        return None

    def _submit(self, coro: Coroutine[Any, Any, T]) -> _Call[T]:
        call = _Call(coro)
        refusal = self._refuse() if self._forked else None  # a forked child: no lock
        if refusal is None:
            with self._lock:
                refusal = self._refuse()
                if refusal is None:
                    self._loop.call_soon_threadsafe(call.start)
                    return call
        coro.close()
        raise refusal

    # ---- running

    def run(
        self, coro: Coroutine[Any, Any, T], *, salvage: Callable[[T], object] | None = None
    ) -> T:
        """Run ``coro`` on the loop and return its result, re-raising its exception.

        A ``KeyboardInterrupt`` while waiting cancels the coroutine and waits (bounded)
        for it to unwind, then propagates. If the coroutine had already finished (the
        interrupt came as its result arrived), the result is passed to ``salvage``
        instead of being lost: an iterator keeps it for its next ``next()``.

        Raises:
            ClientClosedError: the client is closed, or another thread closed it while
                this call was running (the call was ended by the close).
            SessionStateError: in a child process, on an object opened before the fork.
        """
        call = self._submit(coro)
        try:
            return call.outcome.result()
        except KeyboardInterrupt:
            self._interrupted(call, salvage)
            raise
        except concurrent.futures.CancelledError:
            # Only close() cancels a call's task (an interrupt re-raises above).
            raise ClientClosedError("the client was closed while this call was running") from None
        except SessionStateError as exc:
            if self._closing:  # "the session was closed", "the pool is closed": by close()
                raise ClientClosedError(
                    "the client was closed while this call was running"
                ) from exc
            raise

    def _interrupted(self, call: _Call[T], salvage: Callable[[T], object] | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(call.cancel)
        try:
            # The cancel runs after the start (the loop runs callbacks in order), so the
            # outcome is either the task's own (it had finished) or its cancellation.
            result = call.outcome.result(timeout=_UNWIND_TIMEOUT)
        except Exception:  # cancelled or failed: the interrupt is what the caller sees
            return
        if salvage is not None:
            salvage(result)

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Start ``coro`` on the loop without waiting (a close nobody waits for); a
        no-op once the portal is closing (its close closes what is open)."""
        with contextlib.suppress(Exception):
            self._submit(coro)

    def open(self, coro: Coroutine[Any, Any, T], closer: Callable[[T], Awaitable[None]]) -> T:
        """Run ``coro``, which opens something, and remember the result so that
        :meth:`close` closes it with ``closer(obj)``.

        The object is remembered on the loop, as soon as it exists: a close from another
        thread cannot miss it. Interrupted just after it opened, it is closed at once.
        """

        async def opening() -> T:
            obj = await coro
            self._open[obj] = closer
            return obj

        def orphan(obj: T) -> None:
            self.spawn(_close_quietly(closer, obj))

        return self.run(opening(), salvage=orphan)

    def read(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the loop thread, where the loop-owned state it reads is consistent;
        once the loop has stopped (the client closed, or in a forked child), here."""
        outcome: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                outcome.set_result(fn())
            except BaseException as exc:  # handed to the reader, who raises it
                outcome.set_exception(exc)

        if not self._forked:
            if threading.current_thread() is self._thread:
                return fn()
            with self._lock:
                submitted = not self._closing
                if submitted:
                    self._loop.call_soon_threadsafe(call)
            if submitted:
                return outcome.result()
            # Closing in another thread: read once the loop has stopped changing it.
            self._closed.wait(_CLOSE_TIMEOUT)
        return fn()

    # ---- closing

    def close(self, first: Callable[[], Awaitable[None]] | None = None) -> None:
        """Close what is open (``first()``, then every object remembered by :meth:`open`),
        cancel what still runs, stop the loop and join its thread. Idempotent; a second
        caller waits for the first one's close to finish. Calls waiting in other threads
        raise :class:`~api_gemini.errors.ClientClosedError`."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a sync api_gemini client was closed from its own loop thread")
        with self._lock:
            already = self._closing
            self._closing = True
        if self._forked:
            return  # the parent's loop and sockets: nothing of them may be touched here
        if already:
            self._closed.wait(_CLOSE_TIMEOUT)
            return

        async def drain() -> None:
            if first is not None:
                with contextlib.suppress(Exception):  # closing the rest matters more
                    await first()
            for obj, closer in list(self._open.items()):
                await _close_quietly(closer, obj)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop = asyncio.get_running_loop()
            await loop.shutdown_asyncgens()
            await loop.shutdown_default_executor()

        try:
            asyncio.run_coroutine_threadsafe(drain(), self._loop).result(timeout=_CLOSE_TIMEOUT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_CLOSE_TIMEOUT)
            if not self._thread.is_alive():
                self._loop.close()
            self._closed.set()


async def _close_quietly(closer: Callable[[T], Awaitable[None]], obj: T) -> None:
    with contextlib.suppress(Exception):  # closing the others matters more
        await closer(obj)
