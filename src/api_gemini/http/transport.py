"""HTTP transport: the one place that talks to httpx2.

Everything above this module sees only our types and our errors: httpx2 exceptions are
mapped to :mod:`api_gemini.errors` here (raised outside the ``except`` block, so that
no httpx2 exception, whose request holds the key header, hangs off ``__context__``),
HTTP error bodies become :class:`~api_gemini.errors.ApiError` subclasses here (with the
key scrubbed out should the server echo it), an answer the API never gives (a redirect,
204, an HTML page) is an :class:`~api_gemini.errors.UnexpectedResponseError` here, and
SSE bodies are decoded incrementally here, so the first chunk reaches the caller while
the server is still generating; a stream that ends before its last chunk is a
:class:`~api_gemini.errors.TruncatedStreamError`.

Requests carry absolute URLs and our headers each, so that an injected httpx2 client
(``http_client=``, with its proxies, TLS and mounts) works as one we built. Redirects are
never followed (the API never redirects, and a redirect could carry the key header
elsewhere). A :class:`~api_gemini.settings.RetryPolicy` (opt-in) retries here. The
streams themselves are in :mod:`api_gemini.http.streams`, the decoding of SSE events in
:mod:`api_gemini.http.events`.

httpx2 is imported when a transport is built, not when ``api_gemini`` is imported.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from .._closing import AsyncClosing, SyncClosing
from .._version import __version__
from .._wire import decode_response
from ..errors import (
    ClientClosedError,
    ConfigurationError,
    GeminiError,
    InvalidRequestError,
    ResponseParseError,
    UnexpectedResponseError,
    api_error_from_response,
)
from ..settings import ClientSettings, Timeouts, safe_url
from .events import chunk_from_event, feed_decoder, scrub
from .retry import Attempts
from .sse import SSEDecoder
from .streams import AsyncSSEStream, SSEStream, map_exception

if TYPE_CHECKING:
    import httpx2


__all__ = ["AsyncHttpTransport", "AsyncSSEStream", "CallTimeout", "HttpTransport", "SSEStream"]

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S", AsyncSSEStream, SSEStream)
C = TypeVar("C", "httpx2.AsyncClient", "httpx2.Client")

#: A per-call ``timeout=``: seconds for each of connect, read, write and pool (as httpx
#: and openai-python take it), or a :class:`~api_gemini.settings.Timeouts`.
CallTimeout = float | Timeouts | None

# Error bodies are read whole; a hostile server must not make us buffer without bound.
MAX_ERROR_BODY_BYTES = 1024 * 1024
# Nor may a success body (a unary answer is far smaller: this only stops an attack).
# Read at call time, like the SSE limit below, so that tests can lower them.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# One SSE event (and one line of it): a chunk is kilobytes; this bounds a hostile one.
MAX_SSE_EVENT_BYTES = 16 * 1024 * 1024

_JSON = "application/json"
_EVENT_STREAM = "text/event-stream"

# The names tests/test_properties.py imports from here.
_chunk_from_event = chunk_from_event
_feed_decoder = feed_decoder


def _headers(settings: ClientSettings) -> dict[str, str]:
    return {
        "user-agent": f"api-gemini/{__version__}",
        "x-goog-api-client": f"api-gemini/{__version__}",
        **settings.headers,
        **settings.auth_headers(),
    }


def _httpx_timeout(timeouts: Timeouts) -> httpx2.Timeout:
    import httpx2

    return httpx2.Timeout(
        connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
    )


def _call_timeouts(default: Timeouts, timeout: CallTimeout) -> Timeouts:
    """The timeouts of one call: the client's, or the call's ``timeout=``."""
    if timeout is None:
        return default
    if isinstance(timeout, Timeouts):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InvalidRequestError(
            f"timeout must be a number of seconds > 0, a Timeouts or None, got {timeout!r}"
        )
    seconds = float(timeout)
    return Timeouts(connect=seconds, read=seconds, write=seconds, pool=seconds)


def _client_kwargs(settings: ClientSettings) -> dict[str, Any]:
    # Proxies from the environment are honoured; redirects are not followed (each send
    # says so too, for an injected client).
    kwargs: dict[str, Any] = {
        "timeout": _httpx_timeout(settings.timeouts),
        "follow_redirects": False,
    }
    if settings.is_tls:
        kwargs["verify"] = settings.ssl_context()
    else:
        # A plain-http client never makes a TLS connection (redirects are not
        # followed), yet httpx2 would build its own CA store for it: ~20 ms per client
        # (measured). One shared, verifying context.
        kwargs["verify"] = _unused_tls_context()
    return kwargs


@functools.cache
def _unused_tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _check_open(client: httpx2.Client | httpx2.AsyncClient, owned: bool = True) -> None:
    """A call on a closed client fails typed and not retryable (httpx2 would raise a
    RuntimeError, which maps to a retryable TransportError: a retry loop would spin)."""
    if client.is_closed:
        raise ClientClosedError(
            "this client is closed" if owned else "the httpx2 client given as http_client is closed"
        )


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


def _too_big(limit: int) -> ResponseParseError:
    return ResponseParseError(f"response body larger than {limit} bytes; not read further")


def _api_error(response: httpx2.Response, body: bytes, secret: str | None) -> GeminiError:
    return api_error_from_response(response.status_code, scrub(body, secret), response.headers)


def _unexpected(
    response: httpx2.Response, what: str, wanted: str, secret: str | None
) -> UnexpectedResponseError | None:
    """The error for a status below 400 that is not 200, or a content type that is not
    ``wanted``; ``None`` for a proper answer (an absent content type passes, and the
    body is then judged by its decoder)."""
    status = response.status_code
    content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    json_like = wanted == _JSON and content_type.endswith("+json")
    if status == 200 and (not content_type or content_type == wanted or json_like):
        return None
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        location = scrub(safe_url(location)[:200].encode(), secret).decode("utf-8", "replace")
        detail = (
            f"a redirect{f' to {location!r}' if location else ''}, not followed (the API "
            "never redirects, and the key would go along)"
        )
    elif status == 200:
        detail = f"content type {content_type!r} where {wanted!r} was expected"
        if content_type == "text/html":
            detail += " (an HTML page: a captive portal or a proxy's login page?)"
    else:
        detail = "a status the API does not answer this call with"
    return UnexpectedResponseError(
        f"unexpected answer to {what}: HTTP {status}, {detail}",
        status=status,
        content_type=content_type,
    )


def _client_for(settings: ClientSettings, http_client: C | None, expected: type[C]) -> C:
    """The caller's client after a type check, or one we build (and own) for them."""
    if http_client is None:
        from .network import close_sockets_on_failed_handshakes

        client = expected(**_client_kwargs(settings))
        close_sockets_on_failed_handshakes(client)
        return client
    if not isinstance(http_client, expected):
        name = f"httpx2.{expected.__name__}"
        raise ConfigurationError(f"http_client must be an {name}, got {type(http_client).__name__}")
    return http_client


class _TransportBase:
    """What both transports share: the request template, the key guard, the limits."""

    def __init__(self, settings: ClientSettings, owns_client: bool) -> None:
        self._settings = settings
        self._owns_client = owns_client
        self._insecure = settings.insecure_http_refusal() is not None
        self._base = settings.base_url
        self._headers = _headers(settings)
        self._json_headers = {**self._headers, "content-type": "application/json"}
        self._secret = settings.api_key.reveal() if settings.api_key is not None else None
        self._default_timeout = _httpx_timeout(settings.timeouts)

    def _prepare(
        self,
        client: httpx2.AsyncClient | httpx2.Client,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, str] | None,
        timeout: CallTimeout,
    ) -> tuple[httpx2.Request, Timeouts, Attempts]:
        """The request of one call, its timeouts and its retry budget."""
        if self._insecure:
            refusal = self._settings.insecure_http_refusal()
            if refusal is not None:
                raise refusal
        timeouts = _call_timeouts(self._settings.timeouts, timeout)
        httpx_timeout = (
            self._default_timeout
            if timeouts is self._settings.timeouts
            else _httpx_timeout(timeouts)
        )
        request = client.build_request(
            method,
            self._base + path,
            content=body,
            params=params,
            headers=self._headers if body is None else self._json_headers,
            timeout=httpx_timeout,
        )
        return request, timeouts, Attempts(self._settings.retry, f"{method} {path}")

    def _sse_stream(
        self, stream_type: type[S], open_once: Any, attempts: Attempts, t: Timeouts
    ) -> S:
        return stream_type(
            open_once,
            attempts,
            new_decoder=_new_sse_decoder,
            event_gap=t.read,
            secret=self._secret,
        )


def _new_sse_decoder() -> SSEDecoder:
    return SSEDecoder(max_line_bytes=MAX_SSE_EVENT_BYTES, max_event_bytes=MAX_SSE_EVENT_BYTES)


# --------------------------------------------------------------------------- sans-I/O
# What to make of an answer is decided once, here, without I/O: a generator that yields
# each body it needs read, as (limit, cut), and returns the result. The two drivers
# below (async, sync) only send, read and close.

#: A body to read: at most ``limit`` bytes; ``cut``: keep the first ``limit`` bytes (an
#: error body), else more than ``limit`` is a ResponseParseError.
_Read = tuple[int, bool]
Answer = Generator[_Read, bytes, R]


def _json_answer(
    response: httpx2.Response, what: str, response_type: type[T], secret: str | None
) -> Answer[T]:
    """A unary call's answer: its decoded JSON, or the error it stands for."""
    if response.status_code >= 400:
        raise _api_error(response, (yield (MAX_ERROR_BODY_BYTES, True)), secret)
    unexpected = _unexpected(response, what, _JSON, secret)
    if unexpected is not None:
        raise unexpected
    return _decode_or_raise((yield (MAX_RESPONSE_BYTES, False)), response_type)


def _sse_answer(response: httpx2.Response, what: str, secret: str | None) -> Answer[None]:
    """An SSE call's answer: nothing to read when it is an event stream (the stream reads
    it), else the error it stands for."""
    if response.status_code >= 400:
        raise _api_error(response, (yield (MAX_ERROR_BODY_BYTES, True)), secret)
    unexpected = _unexpected(response, what, _EVENT_STREAM, secret)
    if unexpected is not None:
        raise unexpected
    return None


class _Body:
    """A body read in chunks, within its limit."""

    __slots__ = ("cut", "limit", "over", "parts", "size")

    def __init__(self, read: _Read) -> None:
        self.limit, self.cut = read
        self.parts: list[bytes] = []
        self.size = 0
        self.over = False

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; ``True`` when no more should be read."""
        self.parts.append(chunk)
        self.size += len(chunk)
        self.over = self.size > self.limit
        return self.over

    def data(self) -> bytes:
        """The body (an error body cut to its limit); raises when a whole one is over."""
        if self.over and not self.cut:
            raise _too_big(self.limit)
        data = b"".join(self.parts)
        return data[: self.limit] if self.cut else data


# --------------------------------------------------------------------------- async


class AsyncHttpTransport(_TransportBase, AsyncClosing):
    """The async HTTP side of a client: unary JSON calls and SSE streams.

    ``http_client``: an ``httpx2.AsyncClient`` of the caller's (proxies, TLS, mounts,
    limits); the caller owns it and closes it, :meth:`aclose` leaves it open. Our headers,
    timeouts and ``follow_redirects=False`` go with every request.
    """

    def __init__(
        self, settings: ClientSettings, http_client: httpx2.AsyncClient | None = None
    ) -> None:
        import httpx2

        super().__init__(settings, owns_client=http_client is None)
        self._client = _client_for(settings, http_client, httpx2.AsyncClient)

    async def request(
        self,
        method: str,
        path: str,
        response_type: type[T],
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        timeout: CallTimeout = None,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
    ) -> T:
        """Send one request (again, under a retry policy) and decode its JSON answer."""
        request, _, attempts = self._prepare(self._client, method, path, body, params, timeout)
        what, secret = f"{method} {path}", self._secret

        async def attempt() -> T:
            answer = await self._exchange(
                request, lambda r: _json_answer(r, what, response_type, secret), keep_open=False
            )
            return answer[1]

        return await attempts.run_async(attempt)

    async def stream_sse(
        self,
        path: str,
        body: bytes,
        *,
        timeout: CallTimeout = None,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
    ) -> AsyncSSEStream:
        """Open an SSE stream; raises the API error at once if the server refuses."""
        params = {"alt": "sse"}
        request, timeouts, attempts = self._prepare(
            self._client, "POST", path, body, params, timeout
        )
        what, secret = f"POST {path}", self._secret

        async def open_once() -> httpx2.Response:
            answer = await self._exchange(
                request, lambda r: _sse_answer(r, what, secret), keep_open=True
            )
            return answer[0]

        stream = self._sse_stream(AsyncSSEStream, open_once, attempts, timeouts)
        await stream._open()
        return stream

    async def _exchange(
        self,
        request: httpx2.Request,
        answer: Callable[[httpx2.Response], Answer[R]],
        *,
        keep_open: bool,
    ) -> tuple[httpx2.Response, R]:
        """Send, read what ``answer`` asks for, close (unless ``keep_open`` and the
        answer is good); map every failure to our errors."""
        secret = self._secret
        _check_open(self._client, self._owns_client)
        try:
            response = await self._client.send(request, stream=True, follow_redirects=False)
        except Exception as exc:
            error = map_exception(exc, secret)
        else:
            close = True
            try:
                steps = answer(response)
                try:
                    read = next(steps)
                    while True:
                        read = steps.send(await _read_async(response, _Body(read), secret))
                except StopIteration as done:
                    close = not keep_open
                    return response, done.value
            finally:
                if close:
                    await response.aclose()
        raise error

    async def aclose(self) -> None:
        """Close the connection pool (an injected ``http_client`` is left to its owner)."""
        if self._owns_client:
            await self._client.aclose()


async def _read_async(response: httpx2.Response, body: _Body, secret: str | None) -> bytes:
    try:
        async for chunk in response.aiter_bytes():
            if body.add(chunk):
                break
    except Exception as exc:
        error = map_exception(exc, secret)
    else:
        return body.data()
    raise error


# --------------------------------------------------------------------------- sync


class HttpTransport(_TransportBase, SyncClosing):
    """The sync HTTP side of a client, as :class:`AsyncHttpTransport` (``http_client``:
    an ``httpx2.Client``, owned and closed by the caller)."""

    def __init__(self, settings: ClientSettings, http_client: httpx2.Client | None = None) -> None:
        import httpx2

        super().__init__(settings, owns_client=http_client is None)
        self._client = _client_for(settings, http_client, httpx2.Client)

    def request(
        self,
        method: str,
        path: str,
        response_type: type[T],
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        timeout: CallTimeout = None,
    ) -> T:
        """Send one request (again, under a retry policy) and decode its JSON answer."""
        request, _, attempts = self._prepare(self._client, method, path, body, params, timeout)
        what, secret = f"{method} {path}", self._secret
        return attempts.run_sync(
            lambda: self._exchange(
                request, lambda r: _json_answer(r, what, response_type, secret), keep_open=False
            )[1]
        )

    def stream_sse(self, path: str, body: bytes, *, timeout: CallTimeout = None) -> SSEStream:
        """Open an SSE stream; raises the API error at once if the server refuses."""
        params = {"alt": "sse"}
        request, timeouts, attempts = self._prepare(
            self._client, "POST", path, body, params, timeout
        )
        args = (f"POST {path}", self._secret)
        stream = self._sse_stream(
            SSEStream,
            lambda: self._exchange(request, lambda r: _sse_answer(r, *args), keep_open=True)[0],
            attempts,
            timeouts,
        )
        stream._open()
        return stream

    def _exchange(
        self,
        request: httpx2.Request,
        answer: Callable[[httpx2.Response], Answer[R]],
        *,
        keep_open: bool,
    ) -> tuple[httpx2.Response, R]:
        """As :meth:`AsyncHttpTransport._exchange`."""
        secret = self._secret
        _check_open(self._client, self._owns_client)
        try:
            response = self._client.send(request, stream=True, follow_redirects=False)
        except Exception as exc:
            error = map_exception(exc, secret)
        else:
            close = True
            try:
                steps = answer(response)
                try:
                    read = next(steps)
                    while True:
                        read = steps.send(_read_sync(response, _Body(read), secret))
                except StopIteration as done:
                    close = not keep_open
                    return response, done.value
            finally:
                if close:
                    response.close()
        raise error

    def close(self) -> None:
        """Close the connection pool (an injected ``http_client`` is left to its owner)."""
        if self._owns_client:
            self._client.close()


def _read_sync(response: httpx2.Response, body: _Body, secret: str | None) -> bytes:
    try:
        for chunk in response.iter_bytes():
            if body.add(chunk):
                break
    except Exception as exc:
        error = map_exception(exc, secret)
    else:
        return body.data()
    raise error
