"""Client settings: one object holds every default.

The API key is wrapped in :class:`SecretKey`, whose ``repr`` and ``str`` never show it;
it leaves this object only through :meth:`ClientSettings.auth_headers`, i.e. in the
``x-goog-api-key`` header (or ``Authorization: Token`` for ephemeral tokens). It is
never put into a URL.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ._close_codes import FATAL_CLOSE_CODES, RETRYABLE_CLOSE_CODES
from .errors import ConfigurationError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "FATAL_CLOSE_CODES",
    "ClientSettings",
    "PoolSettings",
    "ReconnectPolicy",
    "RetryPolicy",
    "SecretKey",
    "Timeouts",
    "WebSocketSettings",
    "is_loopback_host",
    "safe_url",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"
API_VERSIONS = ("v1", "v1beta", "v1alpha")
EPHEMERAL_TOKEN_PREFIX = "auth_tokens/"  # noqa: S105 (a prefix, not a secret)


class SecretKey:
    """An API key or ephemeral token that never shows itself in ``repr`` or ``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value or value.strip() != value:
            raise ConfigurationError("the API key is empty or has surrounding white space")
        self._value = value

    def reveal(self) -> str:
        """Return the key itself; only header-building code should call this."""
        return self._value

    @property
    def is_ephemeral_token(self) -> bool:
        """True for an ephemeral token (``auth_tokens/...``), which uses another endpoint."""
        return self._value.startswith(EPHEMERAL_TOKEN_PREFIX)

    def __repr__(self) -> str:
        return "SecretKey('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """HTTP timeouts in seconds. ``read`` bounds the gap between two received bytes."""

    connect: float = 10.0
    read: float = 120.0
    write: float = 30.0
    pool: float = 10.0


@dataclass(frozen=True, slots=True)
class WebSocketSettings:
    """Settings of Live API (WebSocket) connections, with the reasons for each default.

    Attributes:
        keepalive_interval: seconds between our pings (``None`` disables keepalive).
        keepalive_timeout: seconds to wait for a pong. The service has been seen to
            answer pings 8 to 30 s late; the official SDK's 20 s kills healthy
            connections, so we wait 45 s. A dead peer is therefore detected within
            ``keepalive_interval + keepalive_timeout`` = 65 s at most (plus, for a peer
            that still sends, at once when its frames stop making sense).
        max_message_size: largest frame accepted, in bytes; a larger one ends the
            connection with :class:`~api_gemini.errors.MessageTooBigError`.
        compression: permessage-deflate; off by default (see ``docs/decisions.md``).
        open_timeout: seconds for TCP + TLS + upgrade + setup to complete.
        close_timeout: seconds to wait for the peer's close frame before dropping TCP;
            it bounds the whole of ``close()``, however much unsent data is queued.
        write_timeout: seconds a send may wait for the socket to take its frame (the
            peer, or the network toward it, not reading) before the connection is
            dropped and the send fails with :class:`~api_gemini.errors.WriteTimeoutError`
            (``None``: no limit; keepalive still detects a peer that stops reading).
            30 s, as HTTP's write timeout: a healthy link drains a Live message in
            milliseconds, so only a stall waits that long.
        allow_insecure_ws: allow ``ws://`` to hosts other than loopback.
        buffer_max_chunks: chunks held between the socket and a slow or paused reader.
        buffer_max_bytes: bytes held there; whichever limit is hit first stops reading,
            and TCP flow control then pushes back on the server.
        pause_timeout: seconds a stream may stay paused before it is closed with
            :class:`~api_gemini.errors.StreamPausedTooLongError` (``None``: no limit).
            60 s, below the keepalive bound on purpose: while a paused stream's buffer
            is full the socket is not read, pongs included, so a longer pause would end
            in a less telling :class:`~api_gemini.errors.KeepaliveTimeoutError`.
        stream_idle_timeout: seconds a one-shot stream waits for the server's next
            message before it ends with :class:`~api_gemini.errors.StreamIdleTimeoutError`
            (``None``: no limit). The same 120 s as the HTTP read timeout, so a server
            that keeps answering pings but stops sending ends a WebSocket stream as it
            ends an SSE one. Time the reader spends waiting for a slow or paused
            consumer does not count. Live sessions are exempt: they may idle between
            turns for as long as the caller likes.
        connector: the transport seam: ``await connector(endpoint, settings)`` opens
            the WebSocket (TCP, TLS, upgrade) of every Live connection and returns it
            open (a :class:`~api_gemini.websocket.wire.Wire`). ``None``: websockets'
            client (:func:`~api_gemini.websocket.transport.open_websocket`). For tests
            that route or script connections, fault injection, or another transport.
    """

    keepalive_interval: float | None = 20.0
    keepalive_timeout: float | None = 45.0
    max_message_size: int = 16 * 1024 * 1024
    compression: bool = False
    open_timeout: float = 15.0
    close_timeout: float = 5.0
    write_timeout: float | None = 30.0
    allow_insecure_ws: bool = False
    buffer_max_chunks: int = 256
    buffer_max_bytes: int = 8 * 1024 * 1024
    pause_timeout: float | None = 60.0
    stream_idle_timeout: float | None = 120.0
    # Typed loosely here so that settings (below the WebSocket layer) import nothing
    # of it: the precise type is api_gemini.websocket.WebSocketConnector.
    connector: Callable[[Any, Any], Awaitable[Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("pause_timeout", "stream_idle_timeout", "write_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigurationError(f"{name} must be > 0 seconds, or None for no limit")
        if self.max_message_size <= 0 or self.buffer_max_chunks <= 0:
            raise ConfigurationError("max_message_size and buffer_max_chunks must be > 0")
        if self.buffer_max_bytes < 1024:
            raise ConfigurationError("buffer_max_bytes must be at least 1024")


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """The warm pool of Live connections: connected, set up, checked, never reused.

    A Live session carries conversation state, so a connection that served a request is
    never handed to another. The pool instead keeps *fresh* connections ready (TCP, TLS,
    upgrade and ``setup`` done), keyed by URL, credentials and the exact ``setup``, so
    that a request with the same setup skips all of that. Every warm connection is an
    open session on the service and counts against the project's concurrent-session
    quota (small on free tiers); hence the conservative defaults.

    The pool opens a connection only: when :meth:`~api_gemini.models.AsyncModel.prewarm`
    (or ``prewarm_live``) asks, to replace one it handed out (``refill``), or after a
    miss when ``warm_per_key > 0``. A discarded connection (idle, too old, closed by the
    server, ``goAway``) is not replaced, so an unused pool drains to nothing.

    Attributes:
        warm_per_key: connections to keep ready for each setup that was requested.
            0 (the default): nothing is warmed unless ``prewarm`` asks for it.
        max_total: most connections the pool holds (idle plus opening), all keys.
        idle_timeout: seconds a warm connection may wait unused before it is closed.
        max_age: seconds after opening when a warm connection is no longer handed out.
            The service caps a connection at about 10 minutes and announces the end
            with ``goAway`` about a minute before; 300 s leaves a request taken from
            the pool at least about 4 minutes of connection.
        refill: after a hit, open a replacement in the background.
    """

    warm_per_key: int = 0
    max_total: int = 4
    idle_timeout: float = 60.0
    max_age: float = 300.0
    refill: bool = True

    def __post_init__(self) -> None:
        if self.warm_per_key < 0 or self.max_total < 0:
            raise ConfigurationError("warm_per_key and max_total must be >= 0")
        if self.idle_timeout <= 0 or self.max_age <= 0:
            raise ConfigurationError("idle_timeout and max_age must be > 0")


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Opt-in reconnection of a Live session with its newest resumption handle.

    Without a policy nothing reconnects: a drop raises
    :class:`~api_gemini.errors.DisconnectedError` carrying the handle, and the caller may
    call ``session.reconnect()``. With one, the session reconnects for the caller, and
    every reconnect is a :class:`~api_gemini.websocket.Reconnected` event in the
    session's stream and a count in ``session.metrics.reconnects``. A policy needs
    session resumption enabled in the session's config (``sessionResumption: {}``).

    Attributes:
        max_attempts: connection attempts after one drop before giving up with
            :class:`~api_gemini.errors.ReconnectFailedError`.
        on_go_away: after a ``goAway``, reconnect at the next point where the newest
            handle covers every finished turn (between turns), before the server cuts.
        retry_on: close codes that trigger a reconnect (1001 going away, 1006 dropped,
            1011 server error, 1012 restart, 1013 try later). 1007 and 1008 mean the
            same setup would fail again and are refused here.
        initial_backoff: seconds before the first attempt after a drop; doubles
            (``multiplier``) per attempt up to ``max_backoff``.
        jitter: fraction of each delay drawn at random (0.5: between half and all of it),
            so that many clients do not reconnect in step.
        max_pending_sends: sends that may wait while a reconnect is in progress; they
            go out, in order, on the new connection (or raise if it fails). One more is
            refused with :class:`~api_gemini.errors.SessionStateError`.

    A drop is seen by the session's reader, so while the event buffer is full and
    nobody reads, no reconnect starts: a send that finds the connection closed then
    raises :class:`~api_gemini.errors.DisconnectedError` rather than waiting, and sends
    the socket took before the drop showed count in ``Reconnected.unconfirmed_sends``.
    If the reconnect is cancelled while it sends the waiting sends, those fail with
    :class:`~api_gemini.errors.SessionStateError`.
    """

    max_attempts: int = 3
    on_go_away: bool = True
    retry_on: frozenset[int] = RETRYABLE_CLOSE_CODES
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_pending_sends: int = 32

    def __post_init__(self) -> None:
        _check_backoff(self)
        fatal = FATAL_CLOSE_CODES & set(self.retry_on)
        if fatal:
            raise ConfigurationError(
                f"close codes {sorted(fatal)} are never retried: the same setup would be "
                "refused again (invalid argument, key or model)"
            )
        if self.max_pending_sends < 0:
            raise ConfigurationError("max_pending_sends must be >= 0")

    def delay(self, attempt: int, draw: float) -> float:
        """Seconds to wait before ``attempt`` (1-based); ``draw`` is uniform in [0, 1)."""
        return _backoff(self, attempt, draw)

    def retries(self, close_code: int | None) -> bool:
        """True when a drop with ``close_code`` (``None``: no close frame) is retried."""
        code = 1006 if close_code is None else close_code
        return code in self.retry_on and code not in FATAL_CLOSE_CODES


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Opt-in retries of HTTP calls (unary calls, and SSE streams until their first chunk).

    Without a policy nothing is retried: every failure reaches the caller at once, with
    ``retryable`` and ``retry_after`` as hints. With one, a call whose error has
    ``retryable = True`` (429, 5xx, connection failures, timeouts, a stream cut before
    its first chunk) is sent again after a backoff, up to ``max_attempts`` attempts in
    all; any other error (400, 401, 403, 404, a malformed answer) is raised at once. A
    stream that has handed the caller a chunk is never retried: sending the request
    again would repeat what the caller already has, so its error is raised (after the
    chunks, as without a policy). Every retry is logged at INFO on ``api_gemini.http.retry``
    (the key is never in the line); when the attempts run out, the last error is raised.

    Attributes:
        max_attempts: attempts in all, the first included (1: no retry).
        initial_backoff: seconds before the first retry; multiplied by ``multiplier``
            per retry, up to ``max_backoff``.
        jitter: fraction of each delay drawn at random (0.5: between half and all of
            it), so that many clients do not retry in step.
        max_retry_after: a server's ``retry_after`` hint is honoured (the wait is at
            least the hint), but a hint longer than this many seconds is not waited
            for: the error is raised at once, so the caller decides (a quota reset in an
            hour is no reason to block a call).
    """

    max_attempts: int = 3
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        _check_backoff(self)
        if not self.max_retry_after >= 0:
            raise ConfigurationError("max_retry_after must be >= 0")

    def delay(self, retry: int, draw: float, retry_after: float | None = None) -> float:
        """Seconds to wait before ``retry`` (1-based), ``draw`` uniform in [0, 1): the
        jittered backoff, or the server's ``retry_after`` if that is longer."""
        wait = _backoff(self, retry, draw)
        return wait if retry_after is None else max(wait, retry_after)

    def retries(self, error: BaseException, attempts_made: int) -> bool:
        """True when ``error``, after ``attempts_made`` attempts, is worth another one."""
        if attempts_made >= self.max_attempts or not getattr(error, "retryable", False):
            return False
        hint = getattr(error, "retry_after", None)
        return hint is None or hint <= self.max_retry_after


def _check_backoff(policy: ReconnectPolicy | RetryPolicy) -> None:
    """The checks both policies' backoffs share."""
    if policy.max_attempts < 1:
        raise ConfigurationError("max_attempts must be >= 1")
    if policy.initial_backoff < 0 or policy.max_backoff < 0 or policy.multiplier < 1:
        raise ConfigurationError("backoffs must be >= 0 and multiplier >= 1")
    if not 0 <= policy.jitter <= 1:
        raise ConfigurationError("jitter must be between 0 and 1")


def _backoff(policy: ReconnectPolicy | RetryPolicy, attempt: int, draw: float) -> float:
    """Both policies' jittered exponential backoff before ``attempt`` (1-based)."""
    base = min(policy.max_backoff, policy.initial_backoff * policy.multiplier ** (attempt - 1))
    return base * (1.0 - policy.jitter * draw)


VerifySetting = bool | str | os.PathLike[str] | ssl.SSLContext


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_verify(verify: object) -> None:
    """Refuse a ``verify=`` that would fail later with a raw error, or turn TLS off."""
    if verify is True or isinstance(verify, ssl.SSLContext):
        return
    if verify is False:
        raise ConfigurationError(
            "verify=False is not accepted: pass a CA bundle path, or an ssl.SSLContext "
            "configured as you need"
        )
    if not isinstance(verify, str | os.PathLike):
        raise ConfigurationError(
            f"verify must be True, a CA bundle path or an ssl.SSLContext, got {verify!r}"
        )
    if not os.path.isfile(verify):
        raise ConfigurationError(f"verify: no CA bundle file at {os.fspath(verify)!r}")


def _key_from_environment(env: Mapping[str, str]) -> str | None:
    """``GOOGLE_API_KEY``, else ``GEMINI_API_KEY``: google-genai's order and warning, so
    that one environment gives both libraries the same key."""
    google, gemini = env.get("GOOGLE_API_KEY"), env.get("GEMINI_API_KEY")
    if google and gemini:
        # The same words as google-genai 3.6.1 (_api_client.get_env_api_key).
        logger.warning("Both GOOGLE_API_KEY and GEMINI_API_KEY are set. Using GOOGLE_API_KEY.")
    return google or gemini or None


def safe_url(url: str) -> str:
    """``url`` without user info (``user:password@``): what may be shown or logged."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


@dataclass(frozen=True)
class ClientSettings:
    """Everything a client needs to reach the service; build it with :meth:`resolve`."""

    api_key: SecretKey | None
    base_url: str = DEFAULT_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    timeouts: Timeouts = field(default_factory=Timeouts)
    verify: VerifySetting = True
    headers: Mapping[str, str] = field(default_factory=dict)
    websocket: WebSocketSettings = field(default_factory=WebSocketSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    #: Opt-in HTTP retries; ``None`` (the default): every failure reaches the caller.
    retry: RetryPolicy | None = None
    #: Allow the key over ``http://`` (no TLS) to a host that is not loopback.
    allow_insecure_http: bool = False

    @classmethod
    def resolve(
        cls,
        api_key: str | SecretKey | None = None,
        *,
        base_url: str | None = None,
        api_version: str | None = None,
        timeouts: Timeouts | None = None,
        verify: VerifySetting = True,
        headers: Mapping[str, str] | None = None,
        websocket: WebSocketSettings | None = None,
        pool: PoolSettings | None = None,
        retry: RetryPolicy | None = None,
        allow_insecure_http: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> ClientSettings:
        """Build settings from arguments, then the environment, then defaults.

        The key comes from ``api_key``, else ``GOOGLE_API_KEY``, else ``GEMINI_API_KEY``
        (google-genai's order; when both variables are set, a warning says that
        ``GOOGLE_API_KEY`` is used, as google-genai does). The base URL from
        ``base_url``, else ``GEMINI_BASE_URL``, else the public service. A key is
        required for the public service; a custom base URL (the emulator, a proxy) may
        go without one.

        Raises:
            ConfigurationError: no key for the public service, a malformed base URL, an
                unknown API version, a ``verify`` that is not ``True``, an existing CA
                bundle file or an ``ssl.SSLContext`` (``verify=False`` included: pass an
                ``ssl.SSLContext`` if you really mean to turn verification off).
        """
        env = os.environ if environ is None else environ
        url = (base_url or env.get("GEMINI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"base_url must be an http:// or https:// URL with a host, got {safe_url(url)!r}"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError("base_url must not carry a query or a fragment")
        # urlsplit lower-cases the scheme: "HTTPS://host" is https everywhere after this.
        url = parts.geturl()
        version = api_version or env.get("GEMINI_API_VERSION") or DEFAULT_API_VERSION
        if version not in API_VERSIONS:
            raise ConfigurationError(f"api_version must be one of {API_VERSIONS}, got {version!r}")
        _check_verify(verify)

        key: SecretKey | None
        env_key = _key_from_environment(env)
        if isinstance(api_key, SecretKey):
            key = api_key
        else:
            raw = api_key or env_key
            key = SecretKey(raw) if raw else None
        if key is None and url == DEFAULT_BASE_URL:
            raise ConfigurationError(
                "no API key: set the GEMINI_API_KEY environment variable (or pass "
                "api_key=...), or point base_url / GEMINI_BASE_URL at a local emulator "
                "(`api-gemini emulator`)"
            )
        settings = cls(
            api_key=key,
            base_url=url,
            api_version=version,
            timeouts=timeouts or Timeouts(),
            verify=verify,
            headers=dict(headers or {}),
            websocket=websocket or WebSocketSettings(),
            pool=pool or PoolSettings(),
            retry=retry,
            allow_insecure_http=allow_insecure_http,
        )
        if not isinstance(verify, bool | ssl.SSLContext):
            settings.ssl_context()  # a CA file that does not load fails here, not later
        return settings

    def with_changes(self, **changes: Any) -> ClientSettings:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    @property
    def host(self) -> str:
        """The host name of ``base_url``."""
        return urlsplit(self.base_url).hostname or ""

    @property
    def is_tls(self) -> bool:
        """True when ``base_url`` is https (and so the WebSocket is wss)."""
        return urlsplit(self.base_url).scheme.lower() == "https"

    def auth_headers(self) -> dict[str, str]:
        """The headers that carry the credentials; the only place the key is revealed."""
        if self.api_key is None:
            return {}
        if self.api_key.is_ephemeral_token:
            return {"authorization": f"Token {self.api_key.reveal()}"}
        return {"x-goog-api-key": self.api_key.reveal()}

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for HTTPS and WSS; verification is on unless the caller's
        own context turns it off.

        Built once per settings object and shared by every connection: loading the
        system CA store costs about 18 ms (measured), which a cold WebSocket connect
        would otherwise pay each time.
        """
        if isinstance(self.verify, ssl.SSLContext):
            return self.verify
        cached: ssl.SSLContext | None = self.__dict__.get("_ssl_context")
        if cached is not None:
            return cached
        if isinstance(self.verify, bool):
            # resolve() refuses False; a directly built ClientSettings(verify=False) still
            # gets verification, never silently less.
            context = ssl.create_default_context()
        else:
            _check_verify(self.verify)
            try:
                context = ssl.create_default_context(cafile=os.fspath(self.verify))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    f"verify: cannot load the CA bundle {os.fspath(self.verify)!r}: {exc}"
                ) from None
        object.__setattr__(self, "_ssl_context", context)  # a cache, not a field
        return context

    def insecure_http_refusal(self) -> ConfigurationError | None:
        """The error to raise before an HTTP request would carry the key in clear text
        (``http://`` to a host that is not loopback), or ``None`` when it may go."""
        if self.is_tls or self.api_key is None or self.allow_insecure_http:
            return None
        host = self.host
        if is_loopback_host(host):
            return None
        return ConfigurationError(
            f"refusing http:// (unencrypted) to {host!r}: the API key would travel in clear "
            "text; use https://, a loopback host, or allow_insecure_http=True"
        )

    def __repr__(self) -> str:
        return (
            f"ClientSettings(base_url={safe_url(self.base_url)!r}, "
            f"api_version={self.api_version!r}, "
            f"api_key={'set' if self.api_key else 'unset'})"
        )
