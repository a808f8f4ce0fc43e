"""Every exception `api_gemini` raises, in one tree.

Catch :class:`GeminiError` to catch everything; catch a leaf to handle one case.
No message, ``repr`` or attribute of these exceptions ever contains the API key.

::

    GeminiError
    ├── ConfigurationError          bad or missing settings (no API key: the message says
    │   │                           which variable to set; a missing optional extra)
    │   └── ClientClosedError         a call on a closed client, or a stream or session
    │                                 that another thread's ``close()`` ended (never
    │                                 retryable: the same call fails the same way)
    ├── InvalidRequestError         a request the caller built is malformed (raised
    │                               before anything is sent; also a ``ValueError``)
    ├── ApiError                    the server answered with a Google JSON error
    │   ├── BadRequestError           400 INVALID_ARGUMENT, FAILED_PRECONDITION
    │   ├── AuthenticationError       401, 403, and 400 API_KEY_INVALID
    │   ├── NotFoundError             404 NOT_FOUND (unknown model, ...)
    │   ├── RateLimitError            429 RESOURCE_EXHAUSTED (``retry_after`` if given)
    │   └── ServerError               5xx
    │       └── ServiceUnavailableError   503 UNAVAILABLE (``retry_after`` if given)
    ├── TransportError              the bytes did not make it
    │   ├── ConnectError              connection refused, DNS, TLS handshake failed
    │   ├── ReadError                 the peer dropped the connection mid-response
    │   │   └── TruncatedStreamError    an SSE stream ended cleanly before its last
    │   │                               chunk (no ``finishReason``; ``chunks_received``)
    │   └── RequestTimeoutError       a connect, read, write or pool timeout (also a
    │                                 builtin ``TimeoutError``)
    ├── ResponseParseError          the server sent something that is not the documented
    │   │                           shape (bad JSON, wrong types, SSE garbage)
    │   └── UnexpectedResponseError   a status or content type the API never answers with
    │                                 (a redirect, 204, an HTML page; ``status``)
    └── WebSocketError              the Live API (``BidiGenerateContent``) family
        ├── WebSocketConnectionError  the upgrade failed (``http_status`` when refused)
        │   └── OpenTimeoutError        not ready within ``open_timeout`` (also a
        │                               ``TimeoutError``)
        ├── SetupRejectedError        the server closed during setup (1007, 1008, ...)
        ├── DisconnectedError         the connection ended mid-session (``close_code``,
        │   │                         ``reason``, ``chunks_received``, ``resumption_handle``)
        │   ├── KeepaliveTimeoutError   no pong within the keepalive bound (also a
        │   │                           ``TimeoutError``)
        │   ├── WriteTimeoutError       our writes did not drain: the peer stopped
        │   │                           reading (also a ``TimeoutError``)
        │   └── ReconnectFailedError    a reconnect policy gave up (``attempts``,
        │                               ``last_error``; the handle is still there)
        ├── ProtocolViolationError    the peer broke the protocol (content before
        │                             setup complete, ...)
        ├── SessionStateError         a call that the session's state does not allow
        │   │                         (setup twice, reconnect without a handle, ...)
        │   ├── SessionClosedError      the session, stream or connection is closed
        │   ├── SecondReceiverError     another task is already receiving (concurrency)
        │   ├── SendQueueFullError      ``max_pending_sends`` sends already wait for a
        │   │                           reconnect
        │   ├── PoolClosedError         the warm pool is closed (its client was closed)
        │   └── WrongEventLoopError     objects of another event loop
        ├── MessageParseError         a frame that is not a JSON object of known shape
        ├── MessageTooBigError        a frame over ``max_message_size``
        ├── StreamPausedTooLongError  a pause outlived its ``pause_timeout``
        └── StreamIdleTimeoutError    a one-shot stream heard nothing from the server
                                      for ``stream_idle_timeout`` (also a ``TimeoutError``)

Timeouts are all ``TimeoutError`` subclasses: :class:`RequestTimeoutError`,
:class:`OpenTimeoutError`, :class:`KeepaliveTimeoutError`, :class:`WriteTimeoutError`,
:class:`StreamIdleTimeoutError`. The split of :class:`SessionStateError` keeps the old
class as the base, so ``except SessionStateError`` still catches every one.

Errors that are retryable by their nature carry ``retryable = True`` as a hint; nothing
in this library retries on its own unless a caller configured it to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._close_codes import RETRYABLE_CLOSE_CODES

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "DisconnectedError",
    "GeminiError",
    "InvalidRequestError",
    "KeepaliveTimeoutError",
    "MessageParseError",
    "MessageTooBigError",
    "NotFoundError",
    "OpenTimeoutError",
    "PoolClosedError",
    "ProtocolViolationError",
    "RateLimitError",
    "ReadError",
    "ReconnectFailedError",
    "RequestTimeoutError",
    "ResponseParseError",
    "SecondReceiverError",
    "SendQueueFullError",
    "ServerError",
    "ServiceUnavailableError",
    "SessionClosedError",
    "SessionStateError",
    "SetupRejectedError",
    "StreamIdleTimeoutError",
    "StreamPausedTooLongError",
    "TransportError",
    "TruncatedStreamError",
    "UnexpectedResponseError",
    "WebSocketConnectionError",
    "WebSocketError",
    "WriteTimeoutError",
    "WrongEventLoopError",
    "api_error_from_response",
]


class GeminiError(Exception):
    """Base class of every error raised by ``api_gemini``."""

    #: A hint that the same call may succeed later; never acted upon implicitly.
    retryable: bool = False


class ConfigurationError(GeminiError):
    """Settings are missing or invalid, or an optional extra is not installed."""


class ClientClosedError(ConfigurationError):
    """The client is closed: the call was made on it after ``close()``, or a stream,
    session or call in flight was ended because another thread closed the client.

    Not retryable (``retryable`` is ``False``): the same call on the same client fails
    the same way, so a retry loop must open a new client instead. A subclass of
    :class:`ConfigurationError`, which a closed client raised before this class existed.
    """


class InvalidRequestError(GeminiError, ValueError):
    """A request built by the caller is malformed; nothing was sent."""


# --------------------------------------------------------------------------- HTTP API


class ApiError(GeminiError):
    """The server answered with an error in Google's JSON error shape.

    Attributes:
        status: the HTTP status code (for example 404).
        code: the ``error.code`` field of the body (usually equal to ``status``).
        status_name: the canonical status string, e.g. ``"NOT_FOUND"``.
        message: the server's human-readable message.
        details: the ``error.details`` list, as sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | None = None,
        status_name: str | None = None,
        details: Sequence[Mapping[str, Any]] = (),
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code if code is not None else status
        self.status_name = status_name
        self.details = list(details)
        self.retry_after = retry_after
        label = f"{status} {status_name}" if status_name else str(status)
        super().__init__(f"{label}: {message}")


class BadRequestError(ApiError):
    """400: the request is malformed or not allowed (INVALID_ARGUMENT)."""


class AuthenticationError(ApiError):
    """401/403, or 400 with reason API_KEY_INVALID: the credentials were refused."""


class NotFoundError(ApiError):
    """404: the model or resource does not exist for this API version."""


class RateLimitError(ApiError):
    """429 RESOURCE_EXHAUSTED: quota or rate limit hit; see ``retry_after``."""

    retryable = True


class ServerError(ApiError):
    """5xx: the service failed."""

    retryable = True


class ServiceUnavailableError(ServerError):
    """503 UNAVAILABLE: the service is overloaded or down; see ``retry_after``."""


def _finite_delay(seconds: float) -> float | None:
    """A usable delay: negative is 0; NaN and infinity (a hostile server) are no hint."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def _retry_after_seconds(headers: Mapping[str, str], details: Sequence[Any]) -> float | None:
    """Read a retry hint from ``Retry-After`` or a ``google.rpc.RetryInfo`` detail."""
    raw = headers.get("retry-after")
    if raw is not None:
        try:
            return _finite_delay(float(raw))
        except ValueError:
            pass  # HTTP-date form: not worth parsing, the RetryInfo detail may have it
    for detail in details:
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return _finite_delay(float(delay[:-1]))
                except ValueError:
                    return None
    return None


def api_error_from_response(
    status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> ApiError:
    """Build the right :class:`ApiError` subclass from an HTTP error response.

    Accepts Google's ``{"error": {"code", "message", "status", "details"}}`` shape, and
    falls back to the raw body (shortened) when the server sent something else.
    """
    import json  # stdlib json: the error path is cold, keep the hot path's decoder typed

    headers = {k.lower(): v for k, v in (headers or {}).items()}
    message = ""
    code: int | None = None
    status_name: str | None = None
    details: list[Any] = []
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: a hostile, deeply nested body
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message", ""))
        raw_code = error.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        raw_status = error.get("status")
        status_name = raw_status if isinstance(raw_status, str) else None
        raw_details = error.get("details")
        details = raw_details if isinstance(raw_details, list) else []
    else:
        message = body[:500].decode("utf-8", "replace").strip() or "(empty body)"

    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    cls: type[ApiError]
    if status in (401, 403) or "API_KEY_INVALID" in reasons:
        cls = AuthenticationError
    elif status == 400:
        cls = BadRequestError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitError
    elif status == 503:
        cls = ServiceUnavailableError
    elif status >= 500:
        cls = ServerError
    else:
        cls = ApiError
    return cls(
        message,
        status=status,
        code=code,
        status_name=status_name,
        details=details,
        retry_after=_retry_after_seconds(headers, details),
    )


# --------------------------------------------------------------------------- transport


class TransportError(GeminiError):
    """The request or response did not make it across the network."""

    retryable = True


class ConnectError(TransportError):
    """Could not open a connection: refused, unresolvable, or TLS handshake failed."""


class ReadError(TransportError):
    """The connection broke while a response was being read."""


class RequestTimeoutError(TransportError, TimeoutError):
    """A connect, read, write or pool timeout expired."""


class ResponseParseError(GeminiError):
    """The server's response could not be decoded into the documented shape."""


class TruncatedStreamError(ReadError):
    """An SSE stream ended without error before its last chunk: no chunk carried a
    ``finishReason`` (nor a ``promptFeedback.blockReason``). The chunks before were
    delivered; ``chunks_received`` says how many. A proxy or load balancer that closes
    the response early looks like this."""

    def __init__(self, message: str, *, chunks_received: int = 0) -> None:
        self.chunks_received = chunks_received
        super().__init__(message)


class UnexpectedResponseError(ResponseParseError):
    """The server answered with a status or content type that the API never uses for
    this call: a redirect (3xx), ``204 No Content``, a ``200`` HTML page (a captive
    portal, a proxy's login page). ``status`` and ``content_type`` say what came."""

    def __init__(self, message: str, *, status: int, content_type: str = "") -> None:
        self.status = status
        self.content_type = content_type
        super().__init__(message)


# --------------------------------------------------------------------------- WebSocket


class WebSocketError(GeminiError):
    """Base class of the Live API (WebSocket) errors."""


class WebSocketConnectionError(WebSocketError):
    """The WebSocket could not be opened.

    ``http_status`` is the status of a refused upgrade (for example 403 or 404), or
    ``None`` when the failure happened below HTTP (refused, DNS, TLS, timeout).
    """

    retryable = True

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        self.http_status = http_status
        super().__init__(message)


class OpenTimeoutError(WebSocketConnectionError, TimeoutError):
    """TCP, TLS, the upgrade and ``setup`` did not complete within ``open_timeout``."""


class _CloseInfoMixin:
    """Close code and reason, shared by the errors that end a connection."""

    close_code: int | None
    reason: str


class SetupRejectedError(WebSocketError, _CloseInfoMixin):
    """The server closed the connection before ``setupComplete``.

    Typically 1008 (bad key, unknown model, a model without ``bidiGenerateContent``)
    or 1007 (malformed setup). Never retryable, whatever the close code: the same setup
    sent again is refused again (the service also answers some invalid setups with
    1011), so neither a retry policy nor the reconnector sends it again; a caller that
    knows better changes the setup or retries by hand.
    """

    def __init__(self, message: str, *, close_code: int | None, reason: str = "") -> None:
        self.close_code = close_code
        self.reason = reason
        super().__init__(message)

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """Always ``False`` (read-only): a refused setup is not cured by sending it again."""
        return False


class DisconnectedError(WebSocketError, _CloseInfoMixin):
    """The connection ended while the session was in use.

    Attributes:
        close_code: the WebSocket close code (1006 when no close frame arrived).
        reason: the close reason the server gave, if any.
        chunks_received: how many chunks the caller had been given before the drop
            (of a Live session: the chunks of the turn the drop cut).
        resumption_handle: the newest session resumption handle, if resumption was
            enabled; pass it to ``resume`` / a new session to continue the conversation.
    """

    def __init__(
        self,
        message: str,
        *,
        close_code: int | None,
        reason: str = "",
        chunks_received: int = 0,
        resumption_handle: str | None = None,
    ) -> None:
        self.close_code = close_code
        self.reason = reason
        self.chunks_received = chunks_received
        self.resumption_handle = resumption_handle
        super().__init__(message)

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """True for codes that a reconnect may cure (1001, 1006, 1011, 1012, 1013:
        :data:`~api_gemini._close_codes.RETRYABLE_CLOSE_CODES`)."""
        return self.close_code in RETRYABLE_CLOSE_CODES


class KeepaliveTimeoutError(DisconnectedError, TimeoutError):
    """No pong arrived within the keepalive timeout (the ping's own write included):
    the peer is presumed dead, and the connection was dropped."""


class WriteTimeoutError(DisconnectedError, TimeoutError):
    """Our writes stopped draining: a send waited longer than ``write_timeout`` for the
    socket to take it, or the peer kept sending pings while leaving their pongs unread
    (more than :data:`~api_gemini.websocket.connection.UNREAD_REPLIES_LIMIT` bytes).
    The peer, or the network toward it, stopped reading; the connection was dropped
    (``close_code`` 1006), and a send that raises this may or may not have arrived."""


class ReconnectFailedError(DisconnectedError):
    """The connection dropped and the session's reconnect policy gave up.

    ``close_code``, ``reason`` and ``resumption_handle`` describe the drop (the handle
    may still resume the session later); ``attempts`` is how many connections were
    tried and ``last_error`` why the last one failed (also the ``__cause__``).
    """

    def __init__(
        self,
        message: str,
        *,
        close_code: int | None,
        reason: str = "",
        chunks_received: int = 0,
        resumption_handle: str | None = None,
        attempts: int = 0,
        last_error: BaseException | None = None,
    ) -> None:
        super().__init__(
            message,
            close_code=close_code,
            reason=reason,
            chunks_received=chunks_received,
            resumption_handle=resumption_handle,
        )
        self.attempts = attempts
        self.last_error = last_error


class ProtocolViolationError(WebSocketError):
    """The peer did something the Live protocol forbids."""


class SessionStateError(WebSocketError):
    """The call is not allowed in the session's current state (the base of the more
    precise errors below; raised itself for misuse: setup twice, a send before setup,
    a reconnect without a resumption handle)."""


class SessionClosedError(SessionStateError, _CloseInfoMixin):
    """The session, stream or connection is closed (or closing): nothing can be sent.

    Attributes:
        close_code: the WebSocket close code when the server closed it (a clean close,
            say 1000 between turns); ``None`` when closed on our side or unknown.
        reason: the close reason that came with it.
    """

    def __init__(self, message: str, *, close_code: int | None = None, reason: str = "") -> None:
        self.close_code = close_code
        self.reason = reason
        super().__init__(message)


class SecondReceiverError(SessionStateError):
    """Another task is already receiving from this stream or session: one at a time."""


class SendQueueFullError(SessionStateError):
    """The session is reconnecting and ``max_pending_sends`` sends already wait."""


class PoolClosedError(SessionStateError):
    """The warm pool is closed (its client was closed)."""


class WrongEventLoopError(SessionStateError):
    """The object belongs to another event loop (use one async client per loop)."""


class MessageParseError(WebSocketError):
    """A server frame was not valid UTF-8 JSON, not an object, or had wrong types."""


class MessageTooBigError(WebSocketError):
    """A frame exceeded the configured ``max_message_size``."""


class StreamPausedTooLongError(WebSocketError):
    """A stream stayed paused longer than its ``pause_timeout``; it has been closed."""


class StreamIdleTimeoutError(WebSocketError, TimeoutError):
    """A one-shot stream received nothing from the server for ``stream_idle_timeout``
    seconds (the server still answered pings, or keepalive would have caught it); the
    chunks that arrived before were delivered, and the connection has been closed."""
