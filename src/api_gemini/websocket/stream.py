"""One request's answer over the Live API: :class:`Stream` and its factory
:func:`open_stream`.

A :class:`Stream` is one request: ``setup`` built from the request, its contents as one
``clientContent`` turn, and the answer as
:class:`~api_gemini.types.GenerateContentResponse` chunks (the type SSE streaming
yields). A drop ends it with the error; it never reconnects. Reading, the bounded
buffer, pause, resume and cancel are the :class:`~.receiver.Receiver`'s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Self

import msgspec

from ..errors import (
    DisconnectedError,
    InvalidRequestError,
    SessionStateError,
    StreamIdleTimeoutError,
)
from ..settings import ClientSettings, WebSocketSettings
from ..types import (
    Candidate,
    Content,
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationConfig,
    Part,
    RequestLike,
    Transcription,
    coerce_request,
)
from .connection import LiveConnection
from .decoding import frame_of
from .events import UnknownMessage, usage_to_http
from .live_types import AudioTranscriptionConfig, LiveSetup, LiveUsageMetadata, ServerMessage
from .receiver import ReaderPhase, Receiver

if TYPE_CHECKING:
    from .pool import LivePool

__all__ = ["Stream", "model_resource_name", "open_stream", "stream_setup"]


def model_resource_name(model: str) -> str:
    """``"gemini-x"`` and ``"models/gemini-x"`` both become ``"models/gemini-x"``.

    Raises:
        InvalidRequestError: an empty name.
    """
    name = model.strip()
    if not name or name in ("models/", "tunedModels/"):
        raise InvalidRequestError("the model name is empty")
    if name.startswith(("models/", "tunedModels/")):
        return name
    return f"models/{name}"


def _setup_from_request(model: str, request: GenerateContentRequest) -> LiveSetup:
    unsupported = [
        name
        for name, value in (
            ("tool_config", request.tool_config),
            ("cached_content", request.cached_content),
        )
        if value is not None
    ]
    if unsupported:
        raise InvalidRequestError(
            f"the Live API (WebSocket) does not take {', '.join(unsupported)}; "
            "use stream_generate_content (SSE) for this request"
        )
    generation = request.generation_config
    if generation is None:
        generation = GenerationConfig(response_modalities=["AUDIO"])
    elif not generation.response_modalities:
        generation = msgspec.structs.replace(generation, response_modalities=["AUDIO"])
    audio = "AUDIO" in (generation.response_modalities or ())
    return LiveSetup(
        model=model_resource_name(model),
        generation_config=generation,
        system_instruction=request.system_instruction,
        tools=request.tools,
        safety_settings=request.safety_settings,
        # Today's Live models answer in AUDIO only; the transcription is the chunks'
        # text (a GenerateContentRequest has no field to ask for it otherwise).
        output_audio_transcription=AudioTranscriptionConfig() if audio else None,
        # Top-level fields the library does not type go to setup, as given.
        extra=request.extra,
    )


def _user_turns(contents: Sequence[Content]) -> list[Content]:
    if not contents:
        raise InvalidRequestError("the request has no contents")
    # The Live API wants a role on every turn; the HTTP API defaults it to "user".
    return [c if c.role else msgspec.structs.replace(c, role="user") for c in contents]


class Stream(Receiver[GenerateContentResponse]):
    """One request's answer over the Live API, as ``GenerateContentResponse`` chunks.

    ``async for chunk in stream`` yields the same type SSE streaming yields; the last
    chunk has ``finish_reason == "STOP"`` and the usage metadata (it carries the last
    text when the server sent both together, else no parts). The connection is closed
    with a handshake when the turn completes, on :meth:`cancel`, and when an
    ``async with stream:`` block exits.
    """

    _what = "stream"

    def __init__(
        self,
        conn: LiveConnection,
        settings: WebSocketSettings,
        model: str,
        *,
        request_sent_at: float,
        from_pool: bool = False,
        after_first_chunk: Callable[[], None] | None = None,
    ) -> None:
        """Start reading the answer to a request already sent on ``conn`` (at
        ``request_sent_at``, a ``time.monotonic()``); :func:`open_stream` builds it."""
        super().__init__(conn, settings, from_pool=from_pool, after_first_chunk=after_first_chunk)
        self._request_sent_at = request_sent_at
        self._model_version = model.removeprefix("models/")
        self._usage: LiveUsageMetadata | None = None
        self._idle_timeout = settings.stream_idle_timeout
        self._idle_since = 0.0  # when the stream started to wait (the request went out)
        # Cancelled when the stream ends: a pending timer holds the stream, its
        # connection and its socket objects until it fires (issue 12, item 5).
        self._idle_handle: asyncio.TimerHandle | None = None
        self._start()

    def _start(self) -> None:
        super()._start()
        if self._idle_timeout is not None:
            # One timer re-armed from the last arrival, not a timeout per receive: the
            # per-chunk path pays nothing for the bound.
            self._idle_since = time.monotonic()
            self._idle_handle = self._loop.call_later(self._idle_timeout, self._check_idle)

    def _stop_idle_timer(self) -> None:
        handle = self._idle_handle
        if handle is not None:
            self._idle_handle = None
            handle.cancel()  # drops the handle's reference to this stream at once

    def _finish(self, error: BaseException | None) -> None:
        self._stop_idle_timer()
        super()._finish(error)

    async def _shutdown(self, code: int = 1000, reason: str = "") -> None:
        self._stop_idle_timer()
        await super()._shutdown(code, reason)

    def _check_idle(self) -> None:
        self._idle_handle = None
        timeout = self._idle_timeout
        if (
            timeout is None
            or self._phase >= ReaderPhase.CLOSING
            or self._cancelled
            or self._failed is not None
        ):
            return
        now = time.monotonic()
        if self._buffer.reader_waiting:
            # Receiving waits for a slow or paused consumer, not for the server.
            self._idle_since = now
        last = max(self._conn.last_message_at or 0.0, self._idle_since)
        left = last + timeout - now
        if left > 0:
            self._idle_handle = self._loop.call_later(left, self._check_idle)
            return
        error = StreamIdleTimeoutError(
            f"no message from the server for {timeout:g}s (stream_idle_timeout) after "
            f"{self.metrics.chunks} chunks; the stream has been closed"
        )
        self._closer = self._loop.create_task(
            self._end_idle(error), name="api-gemini stream closer"
        )

    async def _end_idle(self, error: StreamIdleTimeoutError) -> None:
        """Stop receiving, end the stream with ``error`` after what is buffered, and
        close the connection with a handshake."""
        if self._phase >= ReaderPhase.CLOSING:
            return  # it ended meanwhile
        self._conn.detach()
        self._finish(error)
        if not self._conn.closed:
            await self._conn.close(1000, "idle")

    def _convert(
        self, message: ServerMessage | UnknownMessage
    ) -> list[GenerateContentResponse] | None:
        # The per-chunk hot path: one attribute walk, one response object per chunk.
        if type(message) is not ServerMessage:
            return None
        if message.usage_metadata is not None:
            self._usage = message.usage_metadata
        content = message.server_content
        if content is not None:
            turn = content.model_turn
            if turn is not None:
                turn.role = "model"
            spoken = content.output_transcription
            if content.turn_complete:
                self._phase = ReaderPhase.LAST_ITEM_IN
                final = self._final(turn.parts if turn is not None else [], spoken)
                final.__dict__["_frame"] = frame_of(message)
                return [final]
            grounding = content.grounding_metadata
            url_context = content.url_context_metadata
            if turn is None and spoken is None and grounding is None and url_context is None:
                return None
            # One chunk per frame: audio and its transcription in one frame (3.1 Flash
            # Live) make one chunk; in separate frames (native audio), two.
            chunk = GenerateContentResponse(
                candidates=[
                    Candidate(
                        content=turn if turn is not None else Content(parts=[], role="model"),
                        index=0,
                        grounding_metadata=grounding,
                        url_context_metadata=url_context,
                    )
                ],
                output_transcription=spoken,
            )
            chunk.__dict__["_frame"] = frame_of(message)
            return [chunk]
        if message.tool_call is not None:
            # As over HTTP: the answer is a function call, and the request is over.
            self._phase = ReaderPhase.LAST_ITEM_IN
            parts = [Part(function_call=call) for call in message.tool_call.function_calls]
            final = self._final(parts, None)
            final.__dict__["_frame"] = frame_of(message)
            return [final]
        return None

    def _final(self, parts: list[Part], spoken: Transcription | None) -> GenerateContentResponse:
        usage = self._usage
        return GenerateContentResponse(
            candidates=[
                Candidate(content=Content(parts=parts, role="model"), finish_reason="STOP", index=0)
            ],
            usage_metadata=usage_to_http(usage) if usage is not None else None,
            model_version=self._model_version,
            output_transcription=spoken,
        )

    def __aiter__(self) -> Self:
        return self

    def __anext__(self) -> Coroutine[Any, Any, GenerateContentResponse]:
        """The next chunk; raises the stream's error after the chunks before it."""
        # Returns _next()'s coroutine itself: one coroutine per chunk, not two.
        return self._next()

    async def aclose(self) -> None:
        """Same as :meth:`cancel` (the async-iterator protocol's name); also what
        leaving ``async with stream:`` does."""
        await self.cancel()

    def __repr__(self) -> str:
        return f"Stream(model={self._model_version!r}, state={self.state.name})"


def stream_setup(model: str, request: GenerateContentRequest | RequestLike) -> LiveSetup:
    """The ``setup`` that :func:`open_stream` sends for ``request`` (its contents aside):
    what a warm pool connection for such requests is set up with."""
    return _setup_from_request(model, coerce_request(request))


async def open_stream(
    settings: ClientSettings,
    model: str,
    request: GenerateContentRequest | RequestLike,
    pool: LivePool | None = None,
) -> Stream:
    """Open a Live connection for one request and start streaming its answer.

    Sends ``setup`` built from the request (model, generation config with
    ``responseModalities: ["AUDIO"]`` unless set, and with AUDIO
    ``outputAudioTranscription`` (each chunk's ``.text`` is then the transcription and
    ``.audio`` the 24 kHz PCM of the same frame), system instruction, tools, safety
    settings), waits for ``setupComplete``, sends the contents as one ``clientContent``
    turn with ``turnComplete: true``, and returns the :class:`Stream` of chunks.

    With a ``pool`` holding a warm connection set up the same way, that connection is
    used and connect and setup are skipped (``stream.metrics.from_pool``). A warm
    connection found closed at the first send (nothing went out) is discarded and the
    request connects cold: the request itself is never sent twice.

    Raises:
        InvalidRequestError: no contents, or fields the Live API does not take.
        WebSocketConnectionError, SetupRejectedError: as
            :meth:`LiveConnection.open <api_gemini.websocket.connection.LiveConnection.open>`.
    """
    request = coerce_request(request)
    setup = _setup_from_request(model, request)
    turns = _user_turns(request.contents)
    while True:
        taken = await pool.acquire(setup, defer_refill=True) if pool is not None else None
        conn = taken[0] if taken is not None else (await LiveConnection.open(settings, setup))[0]
        try:
            sent_at = time.monotonic()
            await conn.send_client_content(turns, True)
        except (SessionStateError, DisconnectedError):
            await conn.close(1000)
            if taken is None or pool is None:
                raise
            pool.send_failed()  # closed under us before the frame went out: go cold
            pool.refill_after(conn)
            continue
        except BaseException:
            await conn.close(1000)
            if taken is not None and pool is not None:
                pool.refill_after(conn)
            raise
        return Stream(
            conn,
            settings.websocket,
            setup.model,
            request_sent_at=sent_at,
            from_pool=taken is not None,
            # The pool's refill waits for the first chunk: out of the request's path.
            after_first_chunk=partial(pool.refill_after, conn) if taken and pool else None,
        )
