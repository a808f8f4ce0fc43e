"""Client settings: one object holds every default.

The API key is wrapped in :class:`SecretKey`, whose ``repr`` and ``str`` never show it;
it leaves this object only through :meth:`ClientSettings.auth_headers`, i.e. in the
``x-goog-api-key`` header (or ``Authorization: Token`` for ephemeral tokens). It is
never put into a URL.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "ClientSettings",
    "SecretKey",
    "Timeouts",
    "WebSocketSettings",
    "is_loopback_host",
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
        close_timeout: seconds to wait for the peer's close frame before dropping TCP.
        allow_insecure_ws: allow ``ws://`` to hosts other than loopback.
        buffer_max_chunks: chunks held between the socket and a slow or paused reader.
        buffer_max_bytes: bytes held there; whichever limit is hit first stops reading,
            and TCP flow control then pushes back on the server.
        pause_timeout: seconds a stream may stay paused before it is closed with
            :class:`~api_gemini.errors.StreamPausedTooLongError` (``None``: no limit).
            60 s, below the keepalive bound on purpose: while a paused stream's buffer
            is full the socket is not read, pongs included, so a longer pause would end
            in a less telling :class:`~api_gemini.errors.KeepaliveTimeoutError`.
    """

    keepalive_interval: float | None = 20.0
    keepalive_timeout: float | None = 45.0
    max_message_size: int = 16 * 1024 * 1024
    compression: bool = False
    open_timeout: float = 15.0
    close_timeout: float = 5.0
    allow_insecure_ws: bool = False
    buffer_max_chunks: int = 256
    buffer_max_bytes: int = 8 * 1024 * 1024
    pause_timeout: float | None = 60.0

    def __post_init__(self) -> None:
        if self.max_message_size <= 0 or self.buffer_max_chunks <= 0:
            raise ConfigurationError("max_message_size and buffer_max_chunks must be > 0")
        if self.buffer_max_bytes < 1024:
            raise ConfigurationError("buffer_max_bytes must be at least 1024")


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
        environ: Mapping[str, str] | None = None,
    ) -> ClientSettings:
        """Build settings from arguments, then the environment, then defaults.

        The key comes from ``api_key``, else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``.
        The base URL from ``base_url``, else ``GEMINI_BASE_URL``, else the public service.
        A key is required for the public service; a custom base URL (the emulator, a
        proxy) may go without one.

        Raises:
            ConfigurationError: no key for the public service, a malformed base URL, an
                unknown API version, or ``verify=False`` (pass an ``ssl.SSLContext`` if
                you really mean to turn verification off).
        """
        env = os.environ if environ is None else environ
        url = (base_url or env.get("GEMINI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"base_url must be an http:// or https:// URL with a host, got {url!r}"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError("base_url must not carry a query or a fragment")
        version = api_version or env.get("GEMINI_API_VERSION") or DEFAULT_API_VERSION
        if version not in API_VERSIONS:
            raise ConfigurationError(f"api_version must be one of {API_VERSIONS}, got {version!r}")
        if verify is False:
            raise ConfigurationError(
                "verify=False is not accepted: pass a CA bundle path, or an ssl.SSLContext "
                "configured as you need"
            )

        key: SecretKey | None
        if isinstance(api_key, SecretKey):
            key = api_key
        else:
            raw = api_key or env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")
            key = SecretKey(raw) if raw else None
        if key is None and url == DEFAULT_BASE_URL:
            raise ConfigurationError(
                "no API key: set the GEMINI_API_KEY environment variable (or pass "
                "api_key=...), or point base_url / GEMINI_BASE_URL at a local emulator "
                "(`api-gemini emulator`)"
            )
        return cls(
            api_key=key,
            base_url=url,
            api_version=version,
            timeouts=timeouts or Timeouts(),
            verify=verify,
            headers=dict(headers or {}),
            websocket=websocket or WebSocketSettings(),
        )

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
        return self.base_url.startswith("https://")

    def auth_headers(self) -> dict[str, str]:
        """The headers that carry the credentials; the only place the key is revealed."""
        if self.api_key is None:
            return {}
        if self.api_key.is_ephemeral_token:
            return {"authorization": f"Token {self.api_key.reveal()}"}
        return {"x-goog-api-key": self.api_key.reveal()}

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for HTTPS and WSS; verification is on unless the caller's
        own context turns it off."""
        if isinstance(self.verify, ssl.SSLContext):
            return self.verify
        if isinstance(self.verify, bool):
            # resolve() refuses False; a directly built ClientSettings(verify=False) still
            # gets verification, never silently less.
            return ssl.create_default_context()
        return ssl.create_default_context(cafile=os.fspath(self.verify))

    def __repr__(self) -> str:
        return (
            f"ClientSettings(base_url={self.base_url!r}, api_version={self.api_version!r}, "
            f"api_key={'set' if self.api_key else 'unset'})"
        )
