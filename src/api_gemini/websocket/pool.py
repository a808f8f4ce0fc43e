"""The warm pool: fresh Live connections kept ready so that a request skips TCP, TLS,
the WebSocket upgrade and ``setup``.

A Live session carries conversation state, so a connection that served a request is
never handed to another one: the pool only ever holds connections that nobody has used,
each connected, set up (``setupComplete`` received) and watched while it waits. They are
keyed by URL, credentials and the canonical ``setup`` bytes, so a hit always has exactly
the setup the request asked for.

While a connection waits, one watcher task reads it: a close from the server, a
``goAway``, an unexpected message, the idle timeout or the maximum age each discard it
(closed with a handshake, counted by reason in :class:`PoolMetrics`). It is checked once
more when it is taken, so a connection the server closed while idle is never handed
out. Reading is safe to stop: ``websockets`` keeps a message whose read was cancelled,
and the messages a waiting session received (its ``setupComplete``, resumption
updates) are handed over with it.

Nothing here retries: a failed background open is counted (``open_failures``) and
remembered (``last_error``), and the next request simply connects cold. Nothing is
written anywhere; the pool ends with its client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from .._closing import AsyncClosing
from ..errors import (
    DisconnectedError,
    InvalidRequestError,
    PoolClosedError,
    SetupRejectedError,
    WebSocketError,
    WrongEventLoopError,
)
from ..settings import ClientSettings
from .connection import ConnectionHealth, LiveConnection
from .events import UnknownMessage
from .live_types import LiveSetup, ServerMessage
from .protocol import encode_setup
from .transport import live_endpoint

__all__ = ["DISCARD_REASONS", "LivePool", "PoolMetrics"]

logger = logging.getLogger(__name__)

EarlyMessages = list[ServerMessage | UnknownMessage]

#: Why a warm connection was closed instead of handed out (keys of
#: :attr:`PoolMetrics.discarded`).
DISCARD_REASONS: Final = (
    "idle_timeout",  # nobody asked for it within PoolSettings.idle_timeout
    "max_age",  # older than PoolSettings.max_age
    "server_closed",  # the server closed it (or the TCP connection dropped) while idle
    "go_away",  # the server announced its end
    "unexpected_message",  # content, a malformed frame, or too many messages while idle
    "send_failed",  # taken, but the first send found it closed (nothing had been sent)
    "pool_closed",  # the client was closed
)

# A fresh session may receive a few messages while it waits (resumption updates);
# more than this is not a fresh session any more.
_MAX_EARLY: Final = 8


@dataclass(frozen=True, slots=True)
class PoolMetrics:
    """A snapshot of the pool's counters.

    Attributes:
        hits: requests served by a warm connection (no connect, no setup).
        misses: requests that found none and connected themselves.
        opened: connections the pool opened (prewarm, refill, warm after a miss).
        open_failures: background or prewarm opens that failed (never retried).
        discarded: connections closed unused, by reason (see :data:`DISCARD_REASONS`).
        idle: warm connections waiting right now.
        opening: connections being opened right now.
        last_error: the last open failure, as text (never holds the API key).
    """

    hits: int = 0
    misses: int = 0
    opened: int = 0
    open_failures: int = 0
    discarded: Mapping[str, int] = field(default_factory=dict)
    idle: int = 0
    opening: int = 0
    last_error: str | None = None

    @property
    def discarded_total(self) -> int:
        """Connections discarded for any reason."""
        return sum(self.discarded.values())


class _Entry:
    """A warm connection, the messages it received while waiting, and its watcher."""

    __slots__ = ("conn", "early", "idle_since", "watcher")

    def __init__(self, conn: LiveConnection, early: EarlyMessages) -> None:
        self.conn = conn
        self.early = early
        self.idle_since = time.monotonic()
        self.watcher: asyncio.Task[None] | None = None


class LivePool(AsyncClosing):
    """Warm, never-reused Live connections for one client (see the module docstring).

    Settings come from ``settings.pool`` (:class:`~api_gemini.settings.PoolSettings`).
    Use :meth:`prewarm` to open connections, :meth:`acquire` to take one, and
    :meth:`aclose` to close everything; :meth:`metrics` and :meth:`health` read it.
    """

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        self._config = settings.pool
        self._idle: dict[bytes, deque[_Entry]] = {}
        self._targets: dict[bytes, int] = {}
        self._setups: dict[bytes, LiveSetup] = {}
        self._opening: dict[bytes, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Hits whose refill waits for their first chunk (weak: a connection is not kept
        # alive for it).
        self._deferred: weakref.WeakKeyDictionary[LiveConnection, bytes] = (
            weakref.WeakKeyDictionary()
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._key_prefix: bytes | None = None
        self._hits = 0
        self._misses = 0
        self._opened = 0
        self._open_failures = 0
        self._discarded: dict[str, int] = {}
        self._last_error: str | None = None
        self._watchers_of_metrics: list[
            tuple[Callable[[PoolMetrics], bool], asyncio.Future[None]]
        ] = []

    # ---- keys

    def key_for(self, setup: LiveSetup) -> bytes:
        """The pool key of ``setup``: a digest of URL, credentials and setup bytes.

        A digest rather than the values, so that the key (which lives as long as the
        pool) holds no copy of the credentials.
        """
        prefix = self._key_prefix
        if prefix is None:
            endpoint = live_endpoint(self._settings)
            digest = hashlib.blake2b(endpoint.url.encode(), digest_size=16)
            for name, value in sorted(endpoint.headers):
                digest.update(b"\0" + name.encode() + b"\0" + value.encode())
            prefix = self._key_prefix = digest.digest()
        return hashlib.blake2b(prefix + encode_setup(setup), digest_size=16).digest()

    # ---- taking

    async def acquire(
        self, setup: LiveSetup, *, defer_refill: bool = False
    ) -> tuple[LiveConnection, EarlyMessages] | None:
        """A warm connection set up with exactly ``setup``, or ``None`` (a miss).

        The connection is checked before it is handed out (open, no ``goAway``, within
        ``idle_timeout`` and ``max_age``); one that fails is discarded and the next one
        tried. Returns the connection and the messages it received so far (its
        ``setupComplete`` first). A hit starts a background refill when ``refill`` is on;
        with ``defer_refill`` it starts only at :meth:`refill_after` (the streams call it
        after their first chunk: a replacement's TCP and TLS handshake on the same loop
        would otherwise delay the very chunk the hit was meant to speed up).

        Raises:
            PoolClosedError: the pool is closed.
            WrongEventLoopError: the pool belongs to another event loop.
        """
        self._bind_loop()
        key = self.key_for(setup)
        entries = self._idle.get(key)
        while entries:
            entry = entries.popleft()
            try:
                await self._stop_watcher(entry)
            except BaseException:
                entry.conn.abort()  # cancelled while taking it: leave nothing open
                raise
            reason = self._unfit(entry)
            if reason is not None:
                self._count_discard(reason)
                await entry.conn.close(1000)
                continue
            self._hits += 1
            logger.debug("pool hit: a warm connection (refill: %s)", self._config.refill)
            self._changed()
            if self._config.refill:
                if defer_refill:
                    self._deferred[entry.conn] = key
                else:
                    self._fill(key)
            return entry.conn, entry.early
        self._misses += 1
        logger.debug("pool miss: connecting cold")
        self._changed()
        if self._config.warm_per_key > 0:
            self._setups[key] = setup
            self._targets[key] = max(self._targets.get(key, 0), self._config.warm_per_key)
            self._fill(key)
        return None

    def refill_after(self, conn: LiveConnection) -> None:
        """Start the refill that the hit of ``conn`` deferred; idempotent, and a no-op
        for a connection that was not a deferred hit."""
        key = self._deferred.pop(conn, None)
        if key is not None:
            self._fill(key)

    def send_failed(self) -> None:
        """Record that a connection just taken was found closed at its first send (the
        caller connects cold instead): it counts as discarded, not as a hit."""
        self._hits -= 1
        self._count_discard("send_failed")

    def _unfit(self, entry: _Entry) -> str | None:
        conn = entry.conn
        if not conn.is_open:
            return "server_closed"
        if conn.go_away_at is not None:
            return "go_away"
        now = time.monotonic()
        if now - conn.opened_at >= self._config.max_age:
            return "max_age"
        if now - entry.idle_since >= self._config.idle_timeout:
            return "idle_timeout"
        return None

    # ---- warming

    async def prewarm(self, setup: LiveSetup, count: int) -> int:
        """Make ``count`` connections with ``setup`` ready, and keep that many after
        hits (with ``refill``); returns how many are ready now.

        Opens what is missing, concurrently, within ``max_total``. ``count=0`` stops
        refilling this setup (connections already warm stay until they expire).

        Raises:
            InvalidRequestError: ``count`` is negative.
            WebSocketConnectionError, SetupRejectedError: an open failed (the first
                failure is raised; connections that opened are kept).
            PoolClosedError: the pool is closed.
        """
        if count < 0:
            raise InvalidRequestError("count must be >= 0")
        self._bind_loop()
        key = self.key_for(setup)
        self._setups[key] = setup
        self._targets[key] = count
        wanted = min(self._missing(key), self._room())
        if wanted > 0:
            self._opening[key] = self._opening.get(key, 0) + wanted
            results = await asyncio.gather(
                *(self._open_one(key) for _ in range(wanted)),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        return len(self._idle.get(key, ()))

    def _missing(self, key: bytes) -> int:
        have = len(self._idle.get(key, ())) + self._opening.get(key, 0)
        return self._targets.get(key, 0) - have

    def _room(self) -> int:
        held = sum(len(q) for q in self._idle.values()) + sum(self._opening.values())
        return self._config.max_total - held

    def _fill(self, key: bytes) -> None:
        """Open what ``key`` lacks, in the background, within ``max_total``."""
        if self._closed or self._loop is None:
            return
        wanted = min(self._missing(key), self._room())
        for _ in range(wanted):
            self._opening[key] = self._opening.get(key, 0) + 1
            task = self._loop.create_task(self._background_open(key), name="api-gemini pool refill")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _background_open(self, key: bytes) -> None:
        # A background open has no caller to raise to: its failure is counted and
        # remembered, and the next request connects cold.
        with contextlib.suppress(Exception):
            await self._open_one(key)

    async def _open_one(self, key: bytes) -> None:
        """Open one connection for ``key`` into the pool (``_opening`` already counts it)."""
        try:
            conn, early = await LiveConnection.open(self._settings, self._setups[key])
        except BaseException as exc:
            self._opening[key] -= 1
            if isinstance(exc, Exception):
                self._open_failures += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                logger.debug("pool: opening a warm connection failed: %s", self._last_error)
            self._changed()
            raise
        self._opening[key] -= 1
        self._opened += 1
        logger.debug("pool: opened a warm connection")
        if self._closed or self._loop is None:
            self._count_discard("pool_closed")
            await conn.close(1000)
            return
        entry = _Entry(conn, list(early))
        watcher = self._loop.create_task(self._watch(key, entry), name="api-gemini pool watcher")
        entry.watcher = watcher
        self._tasks.add(watcher)
        watcher.add_done_callback(self._tasks.discard)
        self._idle.setdefault(key, deque()).append(entry)
        self._changed()

    # ---- watching

    async def _watch(self, key: bytes, entry: _Entry) -> None:
        """Read the idle connection until something makes it unfit, then discard it.

        Cancelled (safely: no message is lost) when the connection is taken.
        """
        conn = entry.conn
        config = self._config
        reason = "server_closed"
        try:
            while True:
                now = time.monotonic()
                idle_end = entry.idle_since + config.idle_timeout
                age_end = conn.opened_at + config.max_age
                end = min(idle_end, age_end)
                if end <= now:
                    reason = "idle_timeout" if idle_end <= age_end else "max_age"
                    break
                try:
                    async with asyncio.timeout(end - now) as deadline:
                        received = await conn.recv()
                except TimeoutError:
                    if deadline.expired():
                        continue
                    raise  # the connection's own (a keepalive timeout): it is dead
                if received is None:
                    break
                message = received[0]
                if type(message) is ServerMessage:
                    if message.go_away is not None:
                        reason = "go_away"
                        break
                    if (
                        message.server_content is not None
                        or message.tool_call is not None
                        or message.tool_call_cancellation is not None
                    ):
                        reason = "unexpected_message"
                        break
                entry.early.append(message)
                if len(entry.early) > _MAX_EARLY:
                    reason = "unexpected_message"
                    break
        except WebSocketError as exc:
            closed = isinstance(exc, DisconnectedError | SetupRejectedError)
            reason = "server_closed" if closed else "unexpected_message"
        queue = self._idle.get(key)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(entry)
        self._count_discard(reason)
        await conn.close(1000)

    async def _stop_watcher(self, entry: _Entry) -> None:
        watcher = entry.watcher
        if watcher is not None and not watcher.done():
            watcher.cancel()
            # wait(), not `await watcher`: suppressing the watcher's CancelledError
            # would swallow the caller's own cancellation too.
            await asyncio.wait([watcher])

    def _count_discard(self, reason: str) -> None:
        logger.debug("pool: discarded a connection (%s)", reason)
        self._discarded[reason] = self._discarded.get(reason, 0) + 1
        self._changed()

    def _changed(self) -> None:
        waiting = self._watchers_of_metrics
        if not waiting:
            return
        metrics = self.metrics()
        keep = []
        for predicate, future in waiting:
            if future.done():
                continue
            if predicate(metrics):
                future.set_result(None)
            else:
                keep.append((predicate, future))
        self._watchers_of_metrics = keep

    async def wait_until(self, predicate: Callable[[PoolMetrics], bool]) -> PoolMetrics:
        """Wait until ``predicate(metrics)`` holds, e.g. ``lambda m: m.opening == 0``
        after a hit (the refill is done). Bound it with ``asyncio.timeout``."""
        metrics = self.metrics()
        if predicate(metrics):
            return metrics
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers_of_metrics.append((predicate, future))
        await future
        return self.metrics()

    # ---- reading

    def metrics(self) -> PoolMetrics:
        """A snapshot of hits, misses, opens, discards by reason, idle and opening."""
        return PoolMetrics(
            hits=self._hits,
            misses=self._misses,
            opened=self._opened,
            open_failures=self._open_failures,
            discarded=dict(self._discarded),
            idle=sum(len(q) for q in self._idle.values()),
            opening=sum(self._opening.values()),
            last_error=self._last_error,
        )

    def health(self) -> list[ConnectionHealth]:
        """The health of every warm connection (state, ping RTT, idle time, age...)."""
        return [entry.conn.health() for q in self._idle.values() for entry in q]

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._closed

    # ---- life cycle

    def _bind_loop(self) -> None:
        if self._closed:
            raise PoolClosedError("the connection pool is closed (its client was closed)")
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        busy = self._tasks or any(self._idle.values())
        if self._loop is not None and busy:
            raise WrongEventLoopError(
                "this client's connection pool holds connections of another event loop; "
                "use one AsyncClient per event loop"
            )
        self._loop = loop

    async def aclose(self) -> None:
        """Stop opening, close every warm connection with a handshake; idempotent."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        entries = [entry for q in self._idle.values() for entry in q]
        self._idle.clear()
        self._targets.clear()
        # Watchers are among the tasks: cancelled, they leave their connection to us.
        await asyncio.gather(*tasks, return_exceptions=True)
        for _ in entries:
            self._count_discard("pool_closed")
        await asyncio.gather(*(e.conn.close(1000) for e in entries), return_exceptions=True)

    def __repr__(self) -> str:
        m = self.metrics()
        return f"LivePool(idle={m.idle}, opening={m.opening}, hits={m.hits}, misses={m.misses})"
