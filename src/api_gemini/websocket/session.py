"""A bidirectional Live session: :class:`LiveSession` (sends, receiving across turns,
close) and its factory :func:`connect_live`.

Reading, the bounded buffer, pause and cancel are the :class:`~.receiver.Receiver`'s;
reconnecting (explicit, a policy on a drop, a policy on ``goAway``) and the sends that
wait for it are the :class:`~.reconnect.Reconnector`'s; the rules that decide when a
move loses nothing are the sans-I/O :class:`~.rules.SessionRules`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Self

import msgspec

from .._wire import convert
from ..errors import (
    ConfigurationError,
    DisconnectedError,
    InvalidRequestError,
    SessionClosedError,
    SessionStateError,
)
from ..settings import ClientSettings, ReconnectPolicy, WebSocketSettings
from ..types import Blob, Content, FunctionResponse
from .connection import LiveConnection
from .decoding import events_from_message
from .events import (
    GoAway,
    LiveEvent,
    ModelTurn,
    Reconnected,
    SetupComplete,
    TurnComplete,
    UnknownMessage,
)
from .live_types import (
    LiveConnectConfig,
    LiveSetup,
    RealtimeInput,
    ServerMessage,
    coerce_live_config,
)
from .protocol import (
    ACTIVITY_END,
    ACTIVITY_START,
    AUDIO_STREAM_END,
    SessionState,
    encode_audio,
)
from .receiver import Move, ReaderPhase, Receiver
from .reconnect import Reconnector, SendOp
from .rules import SessionRules
from .stream import model_resource_name

if TYPE_CHECKING:
    from .pool import LivePool

__all__ = ["LiveSession", "connect_live", "live_setup"]

logger = logging.getLogger(__name__)


def _as_content(turn: Content | Mapping[str, Any] | str) -> Content:
    if isinstance(turn, Content):
        return turn if turn.role else msgspec.structs.replace(turn, role="user")
    if isinstance(turn, str):
        return Content.user_text(turn)
    content = convert(turn, Content)  # both spellings; untyped keys kept in extra
    return content if content.role else msgspec.structs.replace(content, role="user")


def _as_response(item: FunctionResponse | Mapping[str, Any]) -> FunctionResponse:
    return convert(item, FunctionResponse)  # both spellings; untyped keys kept in extra


class LiveSession(Receiver[LiveEvent]):
    """A bidirectional Live session: send turns, audio, video, tool responses; receive
    typed events across turns.

    ``async for event in session`` spans turns and ends only when the session closes;
    :meth:`receive_turn` stops after one :class:`~.protocol.TurnComplete`. The newest
    :attr:`resumption_handle` and the last :attr:`go_away` are kept as they arrive,
    whether or not anyone is iterating. Sends are safe from several tasks at once;
    only one task may receive at a time.

    Reconnection is explicit: :meth:`reconnect` moves the session to a new connection
    with its newest resumption handle, and a
    :class:`~api_gemini.settings.ReconnectPolicy` given to ``connect`` does it for the
    caller on ``goAway`` and on retryable drops. Either way a :class:`Reconnected`
    event marks the move in the event stream, and ``metrics.reconnects`` counts it.

    Sends made while a reconnect is in progress wait (at most ``max_pending_sends`` of
    them, in order) and go out on the new connection once it is set up; if the
    reconnect fails they raise its error. One more is refused at once with
    :class:`~api_gemini.errors.SendQueueFullError`. Nothing is ever sent twice: a send
    waits only when its frame did not go out.
    """

    _what = "session"

    def __init__(
        self,
        conn: LiveConnection,
        settings: WebSocketSettings,
        *,
        early: Sequence[ServerMessage | UnknownMessage] = (),
        from_pool: bool = False,
        after_first_chunk: Callable[[], None] | None = None,
        client_settings: ClientSettings | None = None,
        setup: LiveSetup | None = None,
        reconnect: ReconnectPolicy | None = None,
    ) -> None:
        """Start receiving on ``conn``, already set up; ``early`` are the messages it
        received up to ``setupComplete`` (the first events). :func:`connect_live`
        builds it; ``client_settings`` and ``setup`` let it reconnect."""
        super().__init__(conn, settings, from_pool=from_pool, after_first_chunk=after_first_chunk)
        self._rules = SessionRules(act_on_go_away=reconnect is not None and reconnect.on_go_away)
        self._reconnector = Reconnector(
            _Host(self), self._rules, settings=client_settings, setup=setup, policy=reconnect
        )
        #: The last failed reconnect attempt's error (also counted in metrics).
        self.last_reconnect_error: BaseException | None = None
        for message in early:
            events = self._convert_early(message)
            if events:
                self._push(events, 0)
        self._start()

    @property
    def go_away(self) -> GoAway | None:
        """The last ``goAway`` of the current connection (``None`` after a reconnect)."""
        return self._rules.go_away

    def _convert(self, message: ServerMessage | UnknownMessage) -> list[LiveEvent] | None:
        """The events of the message just received on the current connection: its
        protocol has parsed the ``goAway`` duration already (one parse per frame)."""
        if type(message) is not ServerMessage:
            return events_from_message(message)
        go_away = message.go_away
        if go_away is None:
            events = events_from_message(message)  # the per-chunk path
        else:
            left = self._conn.protocol.go_away_time_left
            events = events_from_message(message, go_away_time_left=left)
        self._rules.message_received(message, events, self._conn.protocol, self.metrics.chunks)
        if go_away is not None:
            self._go_away_received(go_away.time_left)
        return events

    def _convert_early(self, message: ServerMessage | UnknownMessage) -> list[LiveEvent]:
        """The events of a message received while connecting (``early``): several may
        have arrived, so the protocol's last ``goAway`` duration may not be this one's."""
        events = events_from_message(message)
        if type(message) is ServerMessage:
            self._rules.message_received(message, events, self._conn.protocol, self.metrics.chunks)
            if message.go_away is not None:
                self._go_away_received(message.go_away.time_left)
        return events

    def _go_away_received(self, time_left: object) -> None:
        logger.info("goAway: the server ends this connection in %s", time_left)
        if self._rules.go_away_due and self._move is Move.NOT_DUE:
            self._move = Move.DUE

    def _is_chunk(self, item: LiveEvent) -> bool:
        return type(item) is ModelTurn

    def _chunks_received(self) -> int:
        return self._rules.turn_chunks(self.metrics.chunks)

    def _install(
        self,
        new: LiveConnection,
        early: list[ServerMessage | UnknownMessage],
        event: Reconnected,
    ) -> None:
        """Make ``new`` the connection and buffer ``event`` then ``early``'s events."""
        old = self._conn
        old.detach()  # nothing of the old connection may follow Reconnected
        self._drain_overflow()
        self._conn = new
        self.metrics.reconnects += 1
        unconfirmed = self._rules.moved(self.metrics.chunks)
        events: list[LiveEvent] = [
            msgspec.structs.replace(
                event, session_id=new.protocol.session_id, unconfirmed_sends=unconfirmed
            )
        ]
        for message in early:
            converted = self._convert_early(message)
            if converted:
                events.extend(e for e in converted if type(e) is not SetupComplete)
        self._push(events, 0)
        self._rules.turn_chunks_base = self.metrics.chunks
        if self._phase is ReaderPhase.READING:
            # What ``new`` received since setupComplete follows, then the rest.
            new.attach(self._on_message, self._on_closed)

    def _count_failure(self, error: BaseException) -> None:
        """A reconnect's connection attempt failed: counted, and kept as the last."""
        self.metrics.reconnect_failures += 1
        self.last_reconnect_error = error

    # ---- reconnection

    @property
    def reconnect_policy(self) -> ReconnectPolicy | None:
        """The policy given to ``connect`` (``None``: nothing reconnects by itself)."""
        return self._reconnector.policy

    async def reconnect(self) -> None:
        """Move the session to a new connection, resumed with the newest handle.

        For the caller who got a :class:`~.protocol.GoAway` or a
        :class:`~api_gemini.errors.DisconnectedError`: the same session object goes on,
        its event stream continuing with a :class:`Reconnected` event (and iteration
        may start again after the error). The old connection, if still open, is closed
        with a handshake. Sends made meanwhile wait and follow on the new connection.

        Raises:
            SessionClosedError: the session was closed or cancelled.
            SessionStateError: it has no resumption handle (enable
                ``session_resumption`` in the config), or it was not opened by
                ``connect``.
            WebSocketConnectionError, SetupRejectedError: the new connection failed
                (1007 when the server no longer knows the handle); the session stays
                as it was and the call may be repeated.
        """
        if self._move is Move.STOPPED or self._cancelled:
            raise SessionClosedError("cannot reconnect: the session was closed")
        if not self._reconnector.can_reconnect:
            raise SessionStateError("cannot reconnect: this session was not opened by connect")
        if self.resumption_handle is None:
            raise SessionStateError(
                "cannot reconnect: no resumption handle (enable session_resumption in the "
                "config, and wait for the server's first sessionResumptionUpdate)"
            )
        await self._reconnector.explicit(
            self._conn, self._settle_end_task, self._revive, self._start
        )

    async def _settle_end_task(self) -> None:
        end_task = self._end_task
        if end_task is not None and self._phase is ReaderPhase.CLOSING and not end_task.done():
            await asyncio.wait([end_task])  # it is closing up: let it end first

    def _revive(self) -> bool:
        """Before a move: True if the receiving side had ended (a drop without a
        policy); it then goes on with the new connection after the move."""
        if self._phase is not ReaderPhase.DONE:
            return False
        self._phase = ReaderPhase.READING
        self._failed = None
        self._error = None
        return True

    async def _on_end(self, conn: LiveConnection, error: DisconnectedError | None) -> bool:
        return await self._reconnector.after_drop(conn, error)

    async def _on_due(self) -> None:
        """Act on a goAway under a policy, at the first moment nothing would be lost."""
        rules = self._rules
        if not rules.go_away_due:
            self._move = Move.NOT_DUE
            return
        if not rules.wants_reconnect(self._conn.protocol.state):
            return  # mid-turn, or the newest handle predates a turn: wait for more
        self._move = Move.NOT_DUE
        await self._reconnector.on_go_away()

    def _fail_pending(self, error: BaseException) -> None:
        self._reconnector.fail_pending(error)

    async def _send(self, op: SendOp) -> None:
        await self._reconnector.send(op)

    # ---- properties

    @property
    def session_id(self) -> str | None:
        """The id the server gave in ``setupComplete``, if any."""
        return self._conn.protocol.session_id

    @property
    def resumption_handle(self) -> str | None:
        """The newest resumption handle (with ``session_resumption`` enabled), kept
        across reconnects."""
        return self._conn.protocol.resumption_handle or self._rules.handle

    @property
    def session_state(self) -> SessionState:
        """The protocol state: ``READY``, ``IN_TURN``, ``CLOSING``, ``CLOSED``..."""
        return self._conn.protocol.state

    # ---- sending

    def _mark_request(self) -> None:
        if self._request_sent_at is None:
            self._request_sent_at = time.monotonic()

    async def send_text(self, text: str, turn_complete: bool = True) -> None:
        """Send a user text turn (``clientContent``); interrupts an answer in progress."""
        self._mark_request()
        turns = [Content.user_text(text)]
        await self._send(lambda conn: conn.send_client_content(turns, turn_complete))

    async def send_content(
        self,
        turns: Content | Mapping[str, Any] | str | Sequence[Content | Mapping[str, Any] | str],
        turn_complete: bool = True,
    ) -> None:
        """Send turns (``clientContent``); ``turn_complete=False`` adds context only.

        Raises:
            InvalidRequestError: a turn is not a Content (or its wire-form dict).
            SessionStateError: the session is closing or closed.
        """
        if isinstance(turns, Content | Mapping | str):
            items = [_as_content(turns)]
        else:
            items = [_as_content(t) for t in turns]
        self._mark_request()
        await self._send(lambda conn: conn.send_client_content(items, turn_complete))

    async def send_audio(self, pcm: bytes, rate: int = 16000) -> None:
        """Send 16-bit little-endian mono PCM at ``rate`` Hz (``realtimeInput.audio``)."""
        self._mark_request()
        data = encode_audio(pcm, rate)
        await self._send(lambda conn: conn.send_encoded_realtime(data))

    async def send_realtime_input(
        self,
        *,
        audio: Blob | bytes | None = None,
        video: Blob | None = None,
        text: str | None = None,
        activity_start: bool = False,
        activity_end: bool = False,
        audio_stream_end: bool = False,
    ) -> None:
        """Send one ``realtimeInput`` message; exactly one argument must be given.

        ``audio`` as bytes is taken as 16 kHz PCM.

        Raises:
            InvalidRequestError: none or several inputs given.
        """
        given = (
            sum((audio is not None, video is not None, text is not None))
            + activity_start
            + activity_end
            + audio_stream_end
        )
        if given != 1:
            raise InvalidRequestError(f"send_realtime_input takes exactly one input, got {given}")
        self._mark_request()
        if activity_start:
            await self._send_encoded(ACTIVITY_START)
        elif activity_end:
            await self._send_encoded(ACTIVITY_END)
        elif audio_stream_end:
            await self._send_encoded(AUDIO_STREAM_END)
        else:
            if isinstance(audio, bytes):
                audio = Blob(mime_type="audio/pcm;rate=16000", data=audio)
            message = RealtimeInput(audio=audio, video=video, text=text)
            await self._send(lambda conn: conn.send_realtime_input(message))

    async def _send_encoded(self, data: bytes) -> None:
        await self._send(lambda conn: conn.send_encoded_realtime(data))

    async def send_activity_start(self) -> None:
        """Tell the server the user started speaking (automatic detection off)."""
        await self._send_encoded(ACTIVITY_START)

    async def send_activity_end(self) -> None:
        """Tell the server the user stopped speaking (automatic detection off)."""
        await self._send_encoded(ACTIVITY_END)

    async def send_audio_stream_end(self) -> None:
        """Tell the server the audio stream paused (flushes the server's audio input)."""
        await self._send_encoded(AUDIO_STREAM_END)

    async def send_tool_response(
        self,
        responses: FunctionResponse
        | Mapping[str, Any]
        | Sequence[FunctionResponse | Mapping[str, Any]],
    ) -> None:
        """Answer a :class:`~.protocol.ToolCall` (each response needs the call's ``id``).

        Raises:
            InvalidRequestError: a response is not a FunctionResponse (or its dict).
        """
        if isinstance(responses, FunctionResponse | Mapping):
            items = [_as_response(responses)]
        else:
            items = [_as_response(r) for r in responses]
        await self._send(lambda conn: conn.send_tool_response(items))

    # ---- receiving

    def __aiter__(self) -> Self:
        return self

    def __anext__(self) -> Coroutine[Any, Any, LiveEvent]:
        """The next event, across turns; ends when the session closes."""
        return self._next()  # no wrapping coroutine (see Stream.__anext__)

    async def receive_turn(self) -> AsyncIterator[LiveEvent]:
        """Events up to and including the next :class:`~.protocol.TurnComplete`, or a
        :class:`Reconnected` event whose ``turn_lost`` says that turn will not complete."""
        while True:
            try:
                event = await self._next()
            except StopAsyncIteration:
                return
            yield event
            if type(event) is TurnComplete or (type(event) is Reconnected and event.turn_lost):
                return

    # ---- closing

    async def close(self) -> None:
        """Close with a handshake; events already buffered can still be read. Stops
        any reconnect in progress; sends waiting for it raise ``SessionClosedError``."""
        self._move = Move.STOPPED
        self._rules.act_on_go_away = False
        self._stop_pause_timer()
        await self._wait_closer()
        await self._shutdown(1000, "")

    async def aclose(self) -> None:
        """Same as :meth:`close` (the name every async object of this package has);
        also what leaving ``async with session:`` does."""
        await self.close()

    def __repr__(self) -> str:
        return f"LiveSession(state={self._conn.protocol.state.name})"


class _Host:
    """A session as its reconnector sees it (:class:`~.reconnect.ReconnectHost`)."""

    __slots__ = ("_session",)

    def __init__(self, session: LiveSession) -> None:
        self._session = session

    @property
    def connection(self) -> LiveConnection:
        return self._session._conn

    @property
    def stopped(self) -> bool:
        session = self._session
        return session._move is Move.STOPPED or session._cancelled

    @property
    def receiving_done(self) -> bool:
        return self._session._phase is ReaderPhase.DONE

    @property
    def receiving_blocked(self) -> bool:
        return self._session._buffer.reader_waiting

    def install(
        self, new: LiveConnection, early: list[ServerMessage | UnknownMessage], event: Reconnected
    ) -> None:
        self._session._install(new, early, event)

    def count_failure(self, error: BaseException) -> None:
        self._session._count_failure(error)


def live_setup(model: str, config: LiveConnectConfig | Mapping[str, Any] | None) -> LiveSetup:
    """The ``setup`` that :func:`connect_live` sends for ``config``."""
    return coerce_live_config(config).to_setup(model_resource_name(model))


async def connect_live(
    settings: ClientSettings,
    model: str,
    config: LiveConnectConfig | Mapping[str, Any] | None = None,
    pool: LivePool | None = None,
    reconnect: ReconnectPolicy | None = None,
) -> LiveSession:
    """Open a Live session: connect, send ``setup`` from ``config``, wait for
    ``setupComplete``. Use as ``async with await connect_live(...) as session:``.

    With a ``pool`` holding a warm connection with the same setup, the session starts
    on it (no connect, no setup; ``session.metrics.from_pool``). A config that resumes
    an earlier session (``session_resumption.handle``) always connects.

    ``reconnect`` opts in to reconnection (see
    :class:`~api_gemini.settings.ReconnectPolicy`); it needs ``session_resumption``.

    Raises:
        InvalidRequestError: a malformed config.
        ConfigurationError: a reconnect policy without session resumption.
        WebSocketConnectionError, SetupRejectedError: as
            :meth:`LiveConnection.open <api_gemini.websocket.connection.LiveConnection.open>`.
    """
    setup = live_setup(model, config)
    resumption = setup.session_resumption
    if reconnect is not None and resumption is None:
        raise ConfigurationError(
            "a ReconnectPolicy needs session resumption: add sessionResumption={} "
            "(SessionResumptionConfig()) to the config"
        )
    taken = None
    if pool is not None and (resumption is None or resumption.handle is None):
        taken = await pool.acquire(setup, defer_refill=True)
    conn, early = taken if taken is not None else await LiveConnection.open(settings, setup)
    return LiveSession(
        conn,
        settings.websocket,
        early=early,
        from_pool=taken is not None,
        after_first_chunk=partial(pool.refill_after, conn) if taken and pool else None,
        client_settings=settings,
        setup=setup,
        reconnect=reconnect,
    )
