"""SSE streams of ``streamGenerateContent``: chunks as they arrive, the stream's end
judged (a last chunk, or :class:`~api_gemini.errors.TruncatedStreamError`), retries
before the first chunk under a :class:`~api_gemini.settings.RetryPolicy`.

Opened by :mod:`api_gemini.http.transport`, which hands each stream the function that
opens (and re-opens) its response and a factory of SSE decoders with the size limits.
Also home of :func:`map_exception`, the one translation of httpx2 exceptions, which
both modules use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Generic, Self, TypeVar

from .._closing import AsyncClosing, SyncClosing
from ..errors import (
    ConnectError,
    GeminiError,
    ReadError,
    RequestTimeoutError,
    TransportError,
    TruncatedStreamError,
)
from .events import EventGap, chunk_from_event, feed_decoder, is_last_chunk, scrub
from .retry import Attempts
from .sse import ServerSentEvent, SSEDecoder

if TYPE_CHECKING:
    import httpx2

    from ..types import GenerateContentResponse

__all__ = ["AsyncSSEStream", "SSEStream", "map_exception", "truncated"]

# The function that opens (and re-opens) a stream's response: async or sync.
OpenT = TypeVar("OpenT")
#: The chunk generator a stream reads from (async or sync).
ChunksT = TypeVar("ChunksT")


def map_exception(exc: Exception, secret: str | None) -> GeminiError:
    """Translate an httpx2 exception into ours. Call it in an ``except`` block but raise
    its result after the block, so that the httpx2 exception is not kept as context."""
    import httpx2

    text = scrub((str(exc) or type(exc).__name__).encode(), secret).decode("utf-8", "replace")
    if isinstance(exc, httpx2.TimeoutException):
        return RequestTimeoutError(f"request timed out: {text}")
    if isinstance(exc, httpx2.ConnectError):
        return ConnectError(f"could not connect: {text}")
    if isinstance(exc, httpx2.ReadError | httpx2.RemoteProtocolError):
        return ReadError(f"connection broke while reading: {text}")
    return TransportError(f"{type(exc).__name__}: {text}")


def truncated(chunks: int) -> TruncatedStreamError:
    """The error of a stream that ended after ``chunks`` chunks, none of them the last."""
    return TruncatedStreamError(
        f"the SSE stream ended after {chunks} chunks without a finishReason: the answer "
        "is incomplete (the connection was closed early)",
        chunks_received=chunks,
    )


class _Reading:
    """One response's reading, without I/O: bytes in, chunks out, and the error its end
    stands for. Both streams drive one per (re)opened response."""

    __slots__ = ("_decoder", "_gap", "_secret", "finished")

    def __init__(self, decoder: SSEDecoder, event_gap: float | None, secret: str | None) -> None:
        self._decoder = decoder
        self._gap = EventGap(event_gap)
        self._secret = secret
        self.finished = False

    def feed(self, raw: bytes | None, started: float) -> list[ServerSentEvent]:
        """The events ``raw`` completes (``None``: the stream ended), read since
        ``started`` (``time.monotonic()``). The caller turns each into a chunk with
        :meth:`chunk`, one at a time, so that a bad event raises after the chunks
        before it were handed over (and no generator frame sits on the per-chunk path)."""
        events = feed_decoder(self._decoder, raw)
        if raw is not None:
            self._gap.after_read(time.monotonic() - started, bool(events))
        return events

    def chunk(self, event: ServerSentEvent) -> GenerateContentResponse:
        """The chunk of one event (and whether it is the last)."""
        chunk = chunk_from_event(event, self._secret)
        if not self.finished and is_last_chunk(chunk):
            self.finished = True
        return chunk

    def end(self, chunks_received: int) -> GeminiError | None:
        """The error of a stream that ended here: none after its last chunk."""
        return None if self.finished else truncated(chunks_received)


class _SSEStreamBase(Generic[OpenT, ChunksT]):
    """What both streams share: how to (re)open, the retry budget, the reading."""

    def __init__(
        self,
        open_once: OpenT,
        attempts: Attempts,
        new_decoder: Callable[[], SSEDecoder],
        event_gap: float | None = None,
        secret: str | None = None,
    ) -> None:
        self._open_once = open_once
        self._new_decoder = new_decoder
        self._attempts = attempts
        self._event_gap = event_gap
        self._secret = secret
        self._response: httpx2.Response | None = None
        #: Chunks handed to the caller so far.
        self.chunks_received = 0
        self._chunks: ChunksT = self._iterate()

    def _iterate(self) -> ChunksT:
        """The generator of chunks, reopening within the retry budget (per twin)."""
        raise NotImplementedError

    def _reading(self) -> tuple[httpx2.Response, _Reading]:
        response = self._response
        assert response is not None
        return response, _Reading(self._new_decoder(), self._event_gap, self._secret)

    def _retry_delay(self, error: GeminiError) -> float:
        """The wait before opening again, or ``error`` raised when there is no retry."""
        # Never after a chunk: sending again would repeat what the caller has.
        delay = None if self.chunks_received else self._attempts.delay_after(error)
        if delay is None:
            raise error
        return delay


class AsyncSSEStream(
    _SSEStreamBase[
        Callable[[], Awaitable["httpx2.Response"]],
        AsyncGenerator["GenerateContentResponse", None],
    ],
    AsyncClosing,
):
    """Chunks of one ``streamGenerateContent`` call, yielded as they arrive.

    An async iterator of :class:`~api_gemini.types.GenerateContentResponse` and an async
    context manager; leaving the ``async with`` block or calling :meth:`aclose` releases
    the connection even when the stream was not read to its end. A stream that ends
    without a chunk carrying a ``finishReason`` raises
    :class:`~api_gemini.errors.TruncatedStreamError` after the chunks it had.
    """

    async def _open(self) -> None:
        self._response = await self._attempts.run_async(self._open_once)

    async def _iterate(self) -> AsyncGenerator[GenerateContentResponse, None]:
        while True:
            response, reading = self._reading()
            reads = response.aiter_bytes().__aiter__()
            error: GeminiError | None = None
            try:
                while True:
                    started = time.monotonic()
                    try:
                        raw: bytes | None = await reads.__anext__()
                    except StopAsyncIteration:
                        raw = None
                    except Exception as exc:
                        error = map_exception(exc, self._secret)
                        break
                    for event in reading.feed(raw, started):
                        yield reading.chunk(event)
                    if raw is None:
                        error = reading.end(self.chunks_received)
                        break
            except GeminiError as exc:
                error = exc
            finally:
                await response.aclose()
            if error is None:
                return
            await asyncio.sleep(self._retry_delay(error))
            await self._open()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> GenerateContentResponse:
        chunk = await self._chunks.__anext__()
        self.chunks_received += 1
        return chunk

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        await self._chunks.aclose()
        if self._response is not None:
            await self._response.aclose()


class SSEStream(
    _SSEStreamBase[
        Callable[[], "httpx2.Response"], Generator["GenerateContentResponse", None, None]
    ],
    SyncClosing,
):
    """The synchronous twin of :class:`AsyncSSEStream`: an iterator and context manager."""

    def _open(self) -> None:
        self._response = self._attempts.run_sync(self._open_once)

    def _iterate(self) -> Generator[GenerateContentResponse, None, None]:
        while True:
            response, reading = self._reading()
            reads = iter(response.iter_bytes())
            error: GeminiError | None = None
            try:
                while True:
                    started = time.monotonic()
                    try:
                        raw = next(reads, None)
                    except Exception as exc:
                        error = map_exception(exc, self._secret)
                        break
                    for event in reading.feed(raw, started):
                        yield reading.chunk(event)
                    if raw is None:
                        error = reading.end(self.chunks_received)
                        break
            except GeminiError as exc:
                error = exc
            finally:
                response.close()
            if error is None:
                return
            time.sleep(self._retry_delay(error))
            self._open()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> GenerateContentResponse:
        chunk = next(self._chunks)
        self.chunks_received += 1
        return chunk

    def close(self) -> None:
        """Stop reading and release the connection."""
        self._chunks.close()
        if self._response is not None:
            self._response.close()
