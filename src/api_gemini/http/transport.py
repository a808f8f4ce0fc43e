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
from collections.abc import Mapping
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


def _check_client(client: object, expected: type, name: str) -> None:
    if not isinstance(client, expected):
        raise ConfigurationError(f"http_client must be an {name}, got {type(client).__name__}")


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

    def _build(
        self,
        client: httpx2.AsyncClient | httpx2.Client,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, str] | None,
        timeouts: Timeouts,
    ) -> httpx2.Request:
        if self._insecure:
            refusal = self._settings.insecure_http_refusal()
            if refusal is not None:
                raise refusal
        timeout = (
            self._default_timeout
            if timeouts is self._settings.timeouts
            else _httpx_timeout(timeouts)
        )
        return client.build_request(
            method,
            self._base + path,
            content=body,
            params=params,
            headers=self._headers if body is None else self._json_headers,
            timeout=timeout,
        )

    def _attempts(self, method: str, path: str) -> Attempts:
        return Attempts(self._settings.retry, f"{method} {path}")


def _new_sse_decoder() -> SSEDecoder:
    return SSEDecoder(max_line_bytes=MAX_SSE_EVENT_BYTES, max_event_bytes=MAX_SSE_EVENT_BYTES)


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
        if http_client is None:
            from .network import close_sockets_on_failed_handshakes

            http_client = httpx2.AsyncClient(**_client_kwargs(settings))
            close_sockets_on_failed_handshakes(http_client)
        else:
            _check_client(http_client, httpx2.AsyncClient, "httpx2.AsyncClient")
        self._client = http_client

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
        timeouts = _call_timeouts(self._settings.timeouts, timeout)
        request = self._build(self._client, method, path, body, params, timeouts)
        what = f"{method} {path}"

        async def attempt() -> T:
            return await self._request_once(request, response_type, what)

        return await self._attempts(method, path).run_async(attempt)

    async def _request_once(self, request: httpx2.Request, response_type: type[T], what: str) -> T:
        secret = self._secret
        _check_open(self._client, self._owns_client)
        try:
            response = await self._client.send(request, stream=True, follow_redirects=False)
        except Exception as exc:
            error = map_exception(exc, secret)
        else:
            try:
                if response.status_code >= 400:
                    body = await _read_async(response, MAX_ERROR_BODY_BYTES, secret, cut=True)
                    raise _api_error(response, body, secret)
                unexpected = _unexpected(response, what, _JSON, secret)
                if unexpected is not None:
                    raise unexpected
                data = await _read_async(response, MAX_RESPONSE_BYTES, secret, cut=False)
            finally:
                await response.aclose()
            return _decode_or_raise(data, response_type)
        raise error

    async def stream_sse(
        self,
        path: str,
        body: bytes,
        *,
        timeout: CallTimeout = None,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
    ) -> AsyncSSEStream:
        """Open an SSE stream; raises the API error at once if the server refuses."""
        timeouts = _call_timeouts(self._settings.timeouts, timeout)
        request = self._build(self._client, "POST", path, body, {"alt": "sse"}, timeouts)
        what = f"POST {path}"

        async def open_once() -> httpx2.Response:
            return await self._open_sse_once(request, what)

        stream = AsyncSSEStream(
            open_once,
            self._attempts("POST", path),
            new_decoder=_new_sse_decoder,
            event_gap=timeouts.read,
            secret=self._secret,
        )
        await stream._open()
        return stream

    async def _open_sse_once(self, request: httpx2.Request, what: str) -> httpx2.Response:
        secret = self._secret
        _check_open(self._client, self._owns_client)
        try:
            response = await self._client.send(request, stream=True, follow_redirects=False)
        except Exception as exc:
            error = map_exception(exc, secret)
        else:
            if response.status_code < 400:
                unexpected = _unexpected(response, what, _EVENT_STREAM, secret)
                if unexpected is None:
                    return response
                await response.aclose()
                raise unexpected
            try:
                body = await _read_async(response, MAX_ERROR_BODY_BYTES, secret, cut=True)
            finally:
                await response.aclose()
            raise _api_error(response, body, secret)
        raise error

    async def aclose(self) -> None:
        """Close the connection pool (an injected ``http_client`` is left to its owner)."""
        if self._owns_client:
            await self._client.aclose()


async def _read_async(
    response: httpx2.Response, limit: int, secret: str | None, cut: bool
) -> bytes:
    """The body: with ``cut`` (an error body) its first ``limit`` bytes, else the whole
    body, a :class:`ResponseParseError` when it is over ``limit``."""
    parts: list[bytes] = []
    size = 0
    error: GeminiError | None = None
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                if not cut:
                    error = _too_big(limit)
                break
    except Exception as exc:
        error = map_exception(exc, secret)
    if error is not None:
        raise error
    data = b"".join(parts)
    return data[:limit] if cut else data


# --------------------------------------------------------------------------- sync


class HttpTransport(_TransportBase, SyncClosing):
    """The synchronous twin of :class:`AsyncHttpTransport` (``http_client``: an
    ``httpx2.Client``, owned and closed by the caller)."""

    def __init__(self, settings: ClientSettings, http_client: httpx2.Client | None = None) -> None:
        import httpx2

        super().__init__(settings, owns_client=http_client is None)
        if http_client is None:
            from .network import close_sockets_on_failed_handshakes

            http_client = httpx2.Client(**_client_kwargs(settings))
            close_sockets_on_failed_handshakes(http_client)
        else:
            _check_client(http_client, httpx2.Client, "httpx2.Client")
        self._client = http_client

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
        timeouts = _call_timeouts(self._settings.timeouts, timeout)
        request = self._build(self._client, method, path, body, params, timeouts)
        what = f"{method} {path}"
        return self._attempts(method, path).run_sync(
            lambda: self._request_once(request, response_type, what)
        )

    def _request_once(self, request: httpx2.Request, response_type: type[T], what: str) -> T:
        secret = self._secret
        _check_open(self._client, self._owns_client)
        try:
            response = self._client.send(request, stream=True, follow_redirects=False)
        except Exception as exc:
            error = map_exception(exc, secret)
        else:
            try:
                if response.status_code >= 400:
                    body = _read_sync(response, MAX_ERROR_BODY_BYTES, secret, cut=True)
                    raise _api_error(response, body, secret)
                unexpected = _unexpected(response, what, _JSON, secret)
                if unexpected is not None:
                    raise unexpected
                data = _read_sync(response, MAX_RESPONSE_BYTES, secret, cut=False)
            finally:
                response.close()
            return _decode_or_raise(data, response_type)
        raise error

    def stream_sse(self, path: str, body: bytes, *, timeout: CallTimeout = None) -> SSEStream:
        """Open an SSE stream; raises the API error at once if the server refuses."""
        timeouts = _call_timeouts(self._settings.timeouts, timeout)
        request = self._build(self._client, "POST", path, body, {"alt": "sse"}, timeouts)
        what = f"POST {path}"
        stream = SSEStream(
            lambda: self._open_sse_once(request, what),
            self._attempts("POST", path),
            new_decoder=_new_sse_decoder,
            event_gap=timeouts.read,
            secret=self._secret,
        )
        stream._open()
        return stream

    def _open_sse_once(self, request: httpx2.Request, what: str) -> httpx2.Response:
        secret = self._secret
        _check_open(self._client, self._owns_client)
        try:
            response = self._client.send(request, stream=True, follow_redirects=False)
        except Exception as exc:
            error = map_exception(exc, secret)
        else:
            if response.status_code < 400:
                unexpected = _unexpected(response, what, _EVENT_STREAM, secret)
                if unexpected is None:
                    return response
                response.close()
                raise unexpected
            try:
                body = _read_sync(response, MAX_ERROR_BODY_BYTES, secret, cut=True)
            finally:
                response.close()
            raise _api_error(response, body, secret)
        raise error

    def close(self) -> None:
        """Close the connection pool (an injected ``http_client`` is left to its owner)."""
        if self._owns_client:
            self._client.close()


def _read_sync(response: httpx2.Response, limit: int, secret: str | None, cut: bool) -> bytes:
    """The synchronous twin of :func:`_read_async`."""
    parts: list[bytes] = []
    size = 0
    error: GeminiError | None = None
    try:
        for chunk in response.iter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                if not cut:
                    error = _too_big(limit)
                break
    except Exception as exc:
        error = map_exception(exc, secret)
    if error is not None:
        raise error
    data = b"".join(parts)
    return data[:limit] if cut else data
