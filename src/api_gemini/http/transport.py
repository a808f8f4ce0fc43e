"""HTTP transport: the one place that talks to httpx2.

Everything above this module sees only our types and our errors: httpx2 exceptions are
mapped to :mod:`api_gemini.errors` here, HTTP error bodies become
:class:`~api_gemini.errors.ApiError` subclasses here, and SSE bodies are decoded
incrementally here, so the first chunk reaches the caller while the server is still
generating.

httpx2 is imported when a transport is built, not when ``api_gemini`` is imported.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import time
from collections.abc import AsyncGenerator, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import msgspec

from .._version import __version__
from .._wire import decode_response
from ..errors import (
    ClientClosedError,
    ConnectError,
    GeminiError,
    ReadError,
    RequestTimeoutError,
    ResponseParseError,
    TransportError,
    api_error_from_response,
)
from ..settings import ClientSettings
from ..types import GenerateContentResponse
from .sse import ServerSentEvent, SSEDecoder

if TYPE_CHECKING:
    import httpx2

__all__ = ["AsyncHttpTransport", "AsyncSSEStream", "SSEStream", "SyncHttpTransport"]

T = TypeVar("T")

# Error bodies are read whole; a hostile server must not make us buffer without bound.
MAX_ERROR_BODY_BYTES = 1024 * 1024
# Nor may a success body (a unary answer is far smaller: this only stops an attack).
# Read at call time, like the SSE limit below, so that tests can lower them.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# One SSE event (and one line of it): a chunk is kilobytes; this bounds a hostile one.
MAX_SSE_EVENT_BYTES = 16 * 1024 * 1024
_chunk_decoder = msgspec.json.Decoder(GenerateContentResponse, strict=False)


def _headers(settings: ClientSettings) -> dict[str, str]:
    return {
        "user-agent": f"api-gemini/{__version__}",
        "x-goog-api-client": f"api-gemini/{__version__}",
        **settings.headers,
        **settings.auth_headers(),
    }


def _client_kwargs(settings: ClientSettings) -> dict[str, Any]:
    import httpx2

    timeouts = settings.timeouts
    kwargs: dict[str, Any] = {
        "base_url": settings.base_url,
        "headers": _headers(settings),
        "timeout": httpx2.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
        ),
        # Proxies from the environment are honoured; redirects are not followed because
        # the API never redirects and a redirect could carry the key header elsewhere.
        "follow_redirects": False,
    }
    if settings.is_tls:
        kwargs["verify"] = settings.ssl_context()
    else:
        # A plain-http client never makes a TLS connection (paths are relative to the
        # base URL and redirects are not followed), yet httpx2 would build its own CA
        # store for it: ~20 ms per client (measured). One shared, verifying context.
        kwargs["verify"] = _unused_tls_context()
    return kwargs


@functools.cache
def _unused_tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _check_open(client: httpx2.Client | httpx2.AsyncClient) -> None:
    """A call on a closed client fails typed and not retryable (httpx2 would raise a
    RuntimeError, which maps to a retryable TransportError: a retry loop would spin)."""
    if client.is_closed:
        raise ClientClosedError("this client is closed")


def _map_exception(exc: Exception) -> GeminiError:
    """Translate an httpx2 exception into ours; messages never hold the key (it is only
    ever in a header, and httpx2 messages name the URL at most)."""
    import httpx2

    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx2.TimeoutException):
        return RequestTimeoutError(f"request timed out: {text}")
    if isinstance(exc, httpx2.ConnectError):
        return ConnectError(f"could not connect: {text}")
    if isinstance(exc, httpx2.ReadError | httpx2.RemoteProtocolError):
        return ReadError(f"connection broke while reading: {text}")
    return TransportError(f"{type(exc).__name__}: {text}")


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder_for(type_: type[T]) -> msgspec.json.Decoder[T]:
    # strict=False: protobuf JSON writes int64 fields as strings. One per type, kept.
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_, strict=False)
    return decoder


def _decode_or_raise(body: bytes, type_: type[T]) -> T:
    try:
        # Keeps the body for .raw; a bad metadata value does not lose the answer.
        return decode_response(body, _decoder_for(type_), type_)
    # RecursionError: JSON nested deeper than the decoder goes (a hostile body).
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError) as exc:
        raise ResponseParseError(f"unexpected response body for {type_.__name__}: {exc}") from None


def _decode_response(response: httpx2.Response, body: bytes, response_type: type[T]) -> T:
    """Raise the API error for an error status, else decode the JSON body."""
    if response.status_code >= 400:
        raise api_error_from_response(
            response.status_code, body[:MAX_ERROR_BODY_BYTES], response.headers
        )
    return _decode_or_raise(body, response_type)


def _body_limit(response: httpx2.Response) -> int:
    # Error bodies are cut (the message is at the start); success bodies must be whole.
    return MAX_ERROR_BODY_BYTES if response.status_code >= 400 else MAX_RESPONSE_BYTES


def _too_big(limit: int) -> ResponseParseError:
    return ResponseParseError(f"response body larger than {limit} bytes; not read further")


def _new_sse_decoder() -> SSEDecoder:
    return SSEDecoder(max_line_bytes=MAX_SSE_EVENT_BYTES, max_event_bytes=MAX_SSE_EVENT_BYTES)


def _sse_request(
    client: httpx2.AsyncClient | httpx2.Client, path: str, body: bytes
) -> httpx2.Request:
    return client.build_request(
        "POST", path, content=body, params={"alt": "sse"}, headers=_json_headers(body)
    )


def _chunk_from_event(event: ServerSentEvent) -> GenerateContentResponse:
    data = event.data
    # The service reports a failure mid-stream as an event holding {"error": {...}}.
    if data.startswith('{"error"'):
        status = _error_status(data)
        raise api_error_from_response(status, data.encode())
    try:
        return decode_response(data, _chunk_decoder, GenerateContentResponse)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError) as exc:
        raise ResponseParseError(f"malformed SSE chunk: {exc}") from None


def _error_status(data: str) -> int:
    with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        code = msgspec.json.decode(data, type=dict[str, dict[str, Any]])["error"].get("code")
        if isinstance(code, int) and 400 <= code <= 599:
            return code
    return 500


class _EventGap:
    """Bounds the network wait between two SSE events, not only between two bytes.

    The read timeout restarts with every byte, so a server sending comments (or any
    bytes that never complete an event) kept a stream open forever. Only time spent
    waiting for bytes counts (a consumer that stops reading for a while is not the
    server's fault); checked when bytes arrive, so the error comes at most one read
    timeout after the bound was passed.
    """

    __slots__ = ("_limit", "_waited")

    def __init__(self, limit: float | None) -> None:
        self._limit = limit
        self._waited = 0.0

    def after_read(self, waited: float, got_events: bool) -> None:
        if got_events:
            self._waited = 0.0
            return
        self._waited += waited
        if self._limit is not None and self._waited > self._limit:
            raise RequestTimeoutError(
                f"no SSE event for more than {self._limit}s (the read timeout) although "
                "bytes kept arriving"
            )


def _feed_decoder(decoder: SSEDecoder, chunk: bytes | None) -> list[ServerSentEvent]:
    """Feed ``chunk`` (``None``: the end of the stream) and map a size error to ours."""
    try:
        return decoder.feed(chunk) if chunk is not None else decoder.close()
    except ValueError as exc:
        raise ResponseParseError(str(exc)) from None


# --------------------------------------------------------------------------- async


class AsyncHttpTransport:
    """The async HTTP side of a client: unary JSON calls and SSE streams."""

    def __init__(self, settings: ClientSettings) -> None:
        import httpx2

        self._client = httpx2.AsyncClient(**_client_kwargs(settings))
        self._event_gap = settings.timeouts.read

    async def request(
        self,
        method: str,
        path: str,
        response_type: type[T],
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> T:
        """Send one request and decode its JSON answer into ``response_type``."""
        request = self._client.build_request(
            method, path, content=body, params=params, headers=_json_headers(body)
        )
        _check_open(self._client)
        try:
            response = await self._client.send(request, stream=True)
        except Exception as exc:
            raise _map_exception(exc) from None
        try:
            data = await _read_limited_async(response, _body_limit(response))
        finally:
            await response.aclose()
        return _decode_response(response, data, response_type)

    async def stream_sse(self, path: str, body: bytes) -> AsyncSSEStream:
        """Open an SSE stream; raises the API error at once if the server refuses."""
        request = _sse_request(self._client, path, body)
        _check_open(self._client)
        try:
            response = await self._client.send(request, stream=True)
        except Exception as exc:
            raise _map_exception(exc) from None
        if response.status_code >= 400:
            try:
                error_body = await _read_bounded_async(response)
            finally:
                await response.aclose()
            raise api_error_from_response(response.status_code, error_body, response.headers)
        return AsyncSSEStream(response, self._event_gap)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


async def _read_bounded_async(response: httpx2.Response) -> bytes:
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) >= MAX_ERROR_BODY_BYTES:
                break
    except Exception as exc:
        raise _map_exception(exc) from None
    return bytes(data[:MAX_ERROR_BODY_BYTES])


async def _read_limited_async(response: httpx2.Response, limit: int) -> bytes:
    """The whole body; an error status keeps its first ``limit`` bytes, a success body
    over ``limit`` is a :class:`ResponseParseError`."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                if response.status_code >= 400:
                    break
                raise _too_big(limit)
    except GeminiError:
        raise
    except Exception as exc:
        raise _map_exception(exc) from None
    return b"".join(parts)


class AsyncSSEStream:
    """Chunks of one ``streamGenerateContent`` call, yielded as they arrive.

    An async iterator of :class:`~api_gemini.types.GenerateContentResponse` and an async
    context manager; leaving the ``async with`` block or calling :meth:`aclose` releases
    the connection even when the stream was not read to its end.
    """

    def __init__(self, response: httpx2.Response, event_gap: float | None = None) -> None:
        self._response = response
        self._gap = _EventGap(event_gap)
        self._chunks = self._iterate()
        #: Chunks handed to the caller so far.
        self.chunks_received = 0

    async def _iterate(self) -> AsyncGenerator[GenerateContentResponse, None]:
        decoder = _new_sse_decoder()
        gap = self._gap
        reads = self._response.aiter_bytes().__aiter__()
        try:
            while True:
                started = time.monotonic()
                try:
                    raw = await reads.__anext__()
                except StopAsyncIteration:
                    break
                events = _feed_decoder(decoder, raw)
                gap.after_read(time.monotonic() - started, bool(events))
                for event in events:
                    yield _chunk_from_event(event)
            for event in _feed_decoder(decoder, None):
                yield _chunk_from_event(event)
        except GeminiError:
            raise
        except Exception as exc:
            raise _map_exception(exc) from None
        finally:
            await self._response.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> GenerateContentResponse:
        chunk = await self._chunks.__anext__()
        self.chunks_received += 1
        return chunk

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        await self._chunks.aclose()
        await self._response.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


# --------------------------------------------------------------------------- sync


class SyncHttpTransport:
    """The synchronous twin of :class:`AsyncHttpTransport`."""

    def __init__(self, settings: ClientSettings) -> None:
        import httpx2

        self._client = httpx2.Client(**_client_kwargs(settings))
        self._event_gap = settings.timeouts.read

    def request(
        self,
        method: str,
        path: str,
        response_type: type[T],
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> T:
        """Send one request and decode its JSON answer into ``response_type``."""
        request = self._client.build_request(
            method, path, content=body, params=params, headers=_json_headers(body)
        )
        _check_open(self._client)
        try:
            response = self._client.send(request, stream=True)
        except Exception as exc:
            raise _map_exception(exc) from None
        try:
            data = _read_limited_sync(response, _body_limit(response))
        finally:
            response.close()
        return _decode_response(response, data, response_type)

    def stream_sse(self, path: str, body: bytes) -> SSEStream:
        """Open an SSE stream; raises the API error at once if the server refuses."""
        request = _sse_request(self._client, path, body)
        _check_open(self._client)
        try:
            response = self._client.send(request, stream=True)
        except Exception as exc:
            raise _map_exception(exc) from None
        if response.status_code >= 400:
            try:
                error_body = _read_bounded_sync(response)
            finally:
                response.close()
            raise api_error_from_response(response.status_code, error_body, response.headers)
        return SSEStream(response, self._event_gap)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _read_limited_sync(response: httpx2.Response, limit: int) -> bytes:
    """The synchronous twin of :func:`_read_limited_async`."""
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                if response.status_code >= 400:
                    break
                raise _too_big(limit)
    except GeminiError:
        raise
    except Exception as exc:
        raise _map_exception(exc) from None
    return b"".join(parts)


def _read_bounded_sync(response: httpx2.Response) -> bytes:
    data = bytearray()
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= MAX_ERROR_BODY_BYTES:
                break
    except Exception as exc:
        raise _map_exception(exc) from None
    return bytes(data[:MAX_ERROR_BODY_BYTES])


class SSEStream:
    """The synchronous twin of :class:`AsyncSSEStream`: an iterator and context manager."""

    def __init__(self, response: httpx2.Response, event_gap: float | None = None) -> None:
        self._response = response
        self._gap = _EventGap(event_gap)
        self._chunks = self._iterate()
        #: Chunks handed to the caller so far.
        self.chunks_received = 0

    def _iterate(self) -> Generator[GenerateContentResponse, None, None]:
        decoder = _new_sse_decoder()
        gap = self._gap
        reads = iter(self._response.iter_bytes())
        try:
            while True:
                started = time.monotonic()
                raw = next(reads, None)
                if raw is None:
                    break
                events = _feed_decoder(decoder, raw)
                gap.after_read(time.monotonic() - started, bool(events))
                for event in events:
                    yield _chunk_from_event(event)
            for event in _feed_decoder(decoder, None):
                yield _chunk_from_event(event)
        except GeminiError:
            raise
        except Exception as exc:
            raise _map_exception(exc) from None
        finally:
            self._response.close()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> GenerateContentResponse:
        chunk = next(self._chunks)
        self.chunks_received += 1
        return chunk

    def close(self) -> None:
        """Stop reading and release the connection."""
        self._chunks.close()
        self._response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _json_headers(body: bytes | None) -> dict[str, str] | None:
    return {"content-type": "application/json"} if body is not None else None
