"""One reconnector for a Live session: the explicit :meth:`LiveSession.reconnect`, a
:class:`~api_gemini.settings.ReconnectPolicy` acting on a drop, and the same policy
acting on ``goAway`` all go through :class:`Reconnector`, which owns the lock, the
state, the failure count, the move itself and the queue of sends that wait for it.

Reconnection never happens by itself: the caller calls ``reconnect()`` or gives a
policy. The session moves to a new connection resumed with its newest handle; a
:class:`~.events.Reconnected` event, after every event of the old connection that was
delivered to the buffer, tells the consumer. Frames of the old connection still unread
when the session moves are dropped, never delivered after ``Reconnected``; they
belong to the turn the reconnect cut (``Reconnected.turn_lost``).

Sends during a reconnect wait (at most ``max_pending_sends``, in order) and go out on
the new connection. Outside one, a send on a connection that has closed raises
:class:`~api_gemini.errors.DisconnectedError` (with the handle) when the session cannot
see the drop yet because the buffer is full and nobody reads; it does not wait without
bound. A send the socket accepted before the drop was noticed may be lost: it is
counted in ``Reconnected.unconfirmed_sends``.

The session rules that decide *when* (a fresh handle between turns) and *what was
lost* are sans-I/O, in :class:`~.rules.SessionRules`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import msgspec

from ..errors import (
    ConfigurationError,
    DisconnectedError,
    ReconnectFailedError,
    SendQueueFullError,
    SessionClosedError,
    SessionStateError,
    SetupRejectedError,
    WebSocketError,
)
from ..settings import ClientSettings, ReconnectPolicy
from .connection import LiveConnection
from .events import Reconnected, UnknownMessage
from .live_types import LiveSetup, ServerMessage, SessionResumptionConfig
from .rules import SessionRules

__all__ = ["DEFAULT_MAX_PENDING_SENDS", "ReconnectState", "Reconnector", "SendOp"]

logger = logging.getLogger(__name__)

#: Sends that may wait for an explicit :meth:`LiveSession.reconnect` (a policy sets its
#: own ``max_pending_sends``).
DEFAULT_MAX_PENDING_SENDS: Final = 32

#: A send, applied to whichever connection is current when it goes out.
SendOp = Callable[[LiveConnection], Awaitable[None]]

EarlyMessages = list[ServerMessage | UnknownMessage]


class ReconnectState(enum.Enum):
    """Whether a move to a new connection is in progress."""

    IDLE = "idle"
    RECONNECTING = "reconnecting"


class ReconnectHost(Protocol):
    """What the reconnector needs of its session (kept narrow, and no import of
    the session module: the arrow points down only)."""

    @property
    def connection(self) -> LiveConnection:
        """The current connection."""

    @property
    def stopped(self) -> bool:
        """Closed or cancelled by the caller: no reconnect may revive it."""

    @property
    def receiving_done(self) -> bool:
        """The receiving side will add nothing more to the buffer."""

    @property
    def receiving_blocked(self) -> bool:
        """A frame waits for buffer room and the socket is not read (a drop is not seen
        until events are read)."""

    def install(self, new: LiveConnection, early: EarlyMessages, event: Reconnected) -> None:
        """Make ``new`` the current connection and buffer ``event`` and the events of
        ``early`` (the messages ``new`` received during its setup)."""

    def count_failure(self, error: BaseException) -> None:
        """A connection attempt of a reconnect failed."""


class Reconnector:
    """The one path into a reconnect (see the module docstring)."""

    def __init__(
        self,
        host: ReconnectHost,
        rules: SessionRules,
        *,
        settings: ClientSettings | None,
        setup: LiveSetup | None,
        policy: ReconnectPolicy | None,
    ) -> None:
        self._host = host
        self._rules = rules
        self._settings = settings
        self._setup = setup
        self.policy = policy
        self.state = ReconnectState.IDLE
        self._lock = asyncio.Lock()
        self._pending: deque[tuple[SendOp, asyncio.Future[None]]] = deque()
        self._max_pending = (
            policy.max_pending_sends if policy is not None else DEFAULT_MAX_PENDING_SENDS
        )

    @property
    def reconnecting(self) -> bool:
        """True while a move to a new connection is in progress."""
        return self.state is ReconnectState.RECONNECTING

    @property
    def can_reconnect(self) -> bool:
        """The session was opened by ``connect`` (it knows its settings and setup)."""
        return self._settings is not None and self._setup is not None

    # ---- the three ways in

    async def explicit(
        self,
        before: LiveConnection,
        settle: Callable[[], Awaitable[None]],
        revive: Callable[[], bool],
        restart: Callable[[], None],
    ) -> None:
        """:meth:`LiveSession.reconnect`: one attempt now, its failure raised.

        ``settle`` waits for a receiving side that is closing up; ``revive`` (once the
        new connection is up) says whether receiving had ended, and then ``restart``
        starts it again after the move.
        """
        async with self._lock:
            host = self._host
            current = host.connection
            if current is not before and current.is_open:
                return  # a policy reconnect finished while we waited for the lock
            await settle()
            old = host.connection
            state = old.protocol.state if not old.closed else old.state_at_close
            event = Reconnected(cause="explicit", turn_lost=SessionRules.turn_lost(state))
            self.state = ReconnectState.RECONNECTING
            try:
                new, early = await self._open_resumed(
                    old.protocol.resumption_handle or self._rules.handle
                )
            except BaseException as exc:
                self.state = ReconnectState.IDLE
                host.count_failure(exc)
                self.fail_pending(exc)
                raise
            if host.stopped:
                # Closed by another task while we connected: do not revive it.
                self.state = ReconnectState.IDLE
                await new.close(1000)
                raise SessionClosedError("the session was closed during the reconnect")
            # The old connection may have failed while we connected: receiving from it
            # ends first (it reports the failure), then starts on the new connection.
            await settle()
            restart_receiving = revive()
            try:
                await self._move(old, new, early, event)
            finally:
                self.state = ReconnectState.IDLE
            if restart_receiving:
                restart()

    async def after_drop(self, conn: LiveConnection, error: DisconnectedError | None) -> bool:
        """The receiving side saw ``conn`` end (``error``; ``None``: a clean close).
        Returns True when the session moved (receiving goes on with the new connection).

        Raises:
            ReconnectFailedError: the policy's attempts all failed.
        """
        rules = self._rules
        if error is not None and error.resumption_handle is None:
            error.resumption_handle = rules.handle
        policy = self.policy
        host = self._host
        if policy is None or host.stopped or rules.handle is None:
            return False
        if error is None:
            # A clean close is the end of the session, unless it is the end a goAway
            # announced (some backends close with 1000 at the connection cap).
            if not rules.go_away_due:
                return False
            code: int | None = 1000
            reason = ""
        else:
            if not policy.retries(error.close_code):
                return False
            code, reason = error.close_code, error.reason
        async with self._lock:
            try:
                if host.connection is not conn:
                    return True  # an explicit reconnect already moved the session
                self.state = ReconnectState.RECONNECTING
                logger.info(
                    "the connection closed (%s): reconnecting, at most %d attempts",
                    code,
                    policy.max_attempts,
                )
                turn_lost = SessionRules.turn_lost(conn.state_at_close)
                last: BaseException | None = None
                attempts = 0
                for attempt in range(1, policy.max_attempts + 1):
                    attempts = attempt
                    # Jitter only spreads clients apart; it needs no cryptographic source.
                    await asyncio.sleep(policy.delay(attempt, random.random()))  # noqa: S311
                    try:
                        new, early = await self._open_resumed(rules.handle)
                    except (WebSocketError, ConfigurationError) as exc:
                        last = exc
                        host.count_failure(exc)
                        logger.info("reconnect attempt %d failed: %s", attempt, exc)
                        if isinstance(exc, SetupRejectedError) and not exc.retryable:
                            break  # a refused setup (never retryable) is refused for good
                        continue
                    event = Reconnected(
                        cause="disconnected" if error is not None else "go_away",
                        close_code=code,
                        attempt=attempt,
                        turn_lost=turn_lost,
                    )
                    await self._move(conn, new, early, event)
                    logger.info("reconnected on attempt %d (turn lost: %s)", attempt, turn_lost)
                    return True
                logger.info("reconnecting gave up after %d attempt(s)", attempts)
                failed = ReconnectFailedError(
                    f"the connection closed ({code}"
                    + (f": {reason[:200]}" if reason else "")
                    + f") and {attempts} reconnect attempt(s) failed; last: {last}",
                    close_code=code,
                    reason=reason,
                    resumption_handle=rules.handle,
                    attempts=attempts,
                    last_error=last,
                )
                self.fail_pending(failed)
                raise failed from last
            finally:
                self.state = ReconnectState.IDLE  # also when cancelled (closed) mid-way

    async def on_go_away(self) -> bool:
        """Act on a due goAway if nothing would be lost now. Returns False while the
        goAway must wait (mid-turn, or a handle older than the last turn)."""
        host = self._host
        rules = self._rules
        conn = host.connection
        if not rules.wants_reconnect(conn.protocol.state):
            return False
        rules.go_away_due = False
        async with self._lock:
            if host.connection is not conn or not conn.is_open or rules.handle is None:
                return True
            self.state = ReconnectState.RECONNECTING
            logger.info("goAway: moving the session to a new connection between turns")
            try:
                new, early = await self._open_resumed(rules.handle)
            except (WebSocketError, ConfigurationError) as exc:
                logger.info("moving after goAway failed (the old connection goes on): %s", exc)
                # Not fatal: the old connection still works until the server cuts it,
                # and that drop is then handled by the policy like any other.
                self.state = ReconnectState.IDLE
                host.count_failure(exc)
                rules.go_away_due = True
                await self._flush(conn)
                return True
            try:
                await self._move(conn, new, early, Reconnected(cause="go_away"))
            finally:
                self.state = ReconnectState.IDLE
        return True

    # ---- the move

    async def _open_resumed(self, handle: str | None) -> tuple[LiveConnection, EarlyMessages]:
        settings, setup = self._settings, self._setup
        if settings is None or setup is None or handle is None:  # reconnect() checked
            raise SessionStateError("cannot reconnect: no settings, setup or handle")
        previous = setup.session_resumption or SessionResumptionConfig()
        resumed = msgspec.structs.replace(
            setup, session_resumption=msgspec.structs.replace(previous, handle=handle)
        )
        logger.debug("reconnecting with the newest resumption handle")
        return await LiveConnection.open(settings, resumed)

    async def _move(
        self,
        old: LiveConnection,
        new: LiveConnection,
        early: EarlyMessages,
        event: Reconnected,
    ) -> None:
        """Make ``new`` the session's connection, announce it, flush waiting sends,
        and close ``old`` (receiving, if it goes on, moves to ``new``)."""
        self._host.install(new, early, event)
        try:
            await self._flush(new)
        finally:
            # Also when the flush is cancelled (a caller's timeout, close()): otherwise
            # the old socket stays open and receiving may stay blocked on it.
            if not old.closed:
                await old.close(1000, "reconnected")

    # ---- the send queue

    async def send(self, op: SendOp) -> None:
        """Send through the current connection, or wait while the session reconnects."""
        rules = self._rules
        host = self._host
        rules.send_started()
        if self.state is ReconnectState.IDLE and not self._pending:
            conn = host.connection
            rules.in_flight += 1
            try:
                await op(conn)
            except (DisconnectedError, SessionStateError) as exc:
                rules.in_flight -= 1
                # The frame did not go out (a closed WebSocket refuses it). If the
                # session has moved (reconnect() or a policy), send it on the new
                # connection; if a policy is about to move it, wait; otherwise say so.
                if host.stopped or host.receiving_done:
                    raise
                reconnecting = self.reconnecting  # a property: it changed during the await
                if conn is not host.connection and not reconnecting:
                    await self.send(op)  # already reconnected meanwhile
                    return
                if self.policy is None:
                    raise
                if conn is host.connection and conn.is_open:
                    raise  # a state error of the live connection, not a drop
                if not reconnecting and host.receiving_blocked:
                    # Receiving waits for buffer room, so it sees the drop (and starts
                    # the reconnect) only once events are read: a send queued now could
                    # wait without bound. Say so instead; the caller may reconnect().
                    error = exc if isinstance(exc, DisconnectedError) else None
                    raise DisconnectedError(
                        "cannot send: the connection has closed and the session does "
                        "not reconnect until its buffered events are read",
                        close_code=error.close_code if error is not None else None,
                        reason=error.reason if error is not None else "",
                        resumption_handle=rules.handle,
                    ) from exc
            except BaseException:
                rules.in_flight -= 1
                raise
            else:
                rules.in_flight -= 1
                # Replaced meanwhile: the move counted this send for the old connection
                # (Reconnected.unconfirmed_sends); the new one has not seen it.
                if conn is host.connection:
                    rules.sent_since_handle += 1
                return
        if host.receiving_done and self.state is ReconnectState.IDLE:
            raise SessionClosedError("cannot send: the session has ended")
        limit = self._max_pending
        if len(self._pending) >= limit:
            raise SendQueueFullError(
                f"the session is reconnecting and {limit} sends already wait: this one "
                "was refused (ReconnectPolicy.max_pending_sends)"
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((op, waiter))
        await waiter

    async def _flush(self, conn: LiveConnection) -> None:
        """Send the waiting sends on ``conn`` in order, then let sends go straight."""
        pending = self._pending
        try:
            while pending:
                op, waiter = pending.popleft()
                if waiter.done():
                    continue  # its sender was cancelled
                try:
                    await op(conn)
                except BaseException as exc:
                    # Cancelled mid-send too: the popped waiter is out of reach of
                    # fail_pending, so fail it here, then the rest of the queue.
                    failure: BaseException = exc
                    if isinstance(exc, asyncio.CancelledError):
                        failure = SessionStateError(
                            "the reconnect was cancelled while this send was flushed; "
                            "it may or may not have reached the server"
                        )
                    if not waiter.done():
                        waiter.set_exception(failure)
                    self.fail_pending(failure)
                    if isinstance(exc, Exception):
                        return
                    raise
                self._rules.sent_since_handle += 1
                waiter.set_result(None)
        finally:
            self.state = ReconnectState.IDLE

    def fail_pending(self, error: BaseException) -> None:
        """Fail every send waiting for a reconnect with ``error``."""
        pending = self._pending
        while pending:
            _, waiter = pending.popleft()
            if not waiter.done():
                waiter.set_exception(error)
