"""``AsyncClient`` and ``Client``: settings, credentials, and the transports they own.

Both are context managers and close what they opened::

    async with AsyncClient() as client:              # key from GEMINI_API_KEY
        model = client.models.by_name("gemini-2.5-flash")
        print((await model.generate_content("Hello")).text)

    with Client(base_url="http://127.0.0.1:8123") as client:   # a local emulator
        for chunk in client.models.by_name("gemini-2.5-flash").stream_generate_content("Hi"):
            print(chunk.text, end="")
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._closing import AsyncClosing, SyncClosing
from .errors import ClientClosedError, ConfigurationError
from .models import AsyncModels, Models
from .settings import (
    ClientSettings,
    PoolSettings,
    RetryPolicy,
    SecretKey,
    Timeouts,
    VerifySetting,
    WebSocketSettings,
)

if TYPE_CHECKING:
    import httpx2

    from ._portal import LoopPortal
    from .auth_tokens import AsyncAuthTokens, AuthTokens
    from .http.transport import AsyncHttpTransport, HttpTransport
    from .websocket.pool import LivePool, PoolMetrics
    from .websocket.sync_live import SyncLivePool

__all__ = ["AsyncClient", "Client"]


def _settings_from(
    settings: ClientSettings | None,
    api_key: str | SecretKey | None,
    base_url: str | None,
    api_version: str | None,
    timeouts: Timeouts | None,
    verify: VerifySetting,
    headers: Mapping[str, str] | None,
    websocket: WebSocketSettings | None,
    pool: PoolSettings | None,
    retry: RetryPolicy | None,
    allow_insecure_http: bool,
) -> ClientSettings:
    if settings is not None:
        changes: dict[str, object] = {}
        if pool is not None:
            changes["pool"] = pool
        if retry is not None:
            changes["retry"] = retry
        return settings.with_changes(**changes) if changes else settings
    return ClientSettings.resolve(
        api_key,
        base_url=base_url,
        api_version=api_version,
        timeouts=timeouts,
        verify=verify,
        headers=headers,
        websocket=websocket,
        pool=pool,
        retry=retry,
        allow_insecure_http=allow_insecure_http,
    )


def _check_http_client(http_client: object, verify: VerifySetting, wanted: str) -> None:
    """Refuse a wrong ``http_client=`` when the client is made, not at its first call."""
    if http_client is None:
        return
    import httpx2  # the caller made an httpx2 client: it is imported already

    if not isinstance(http_client, getattr(httpx2, wanted)):
        raise ConfigurationError(
            f"http_client must be an httpx2.{wanted}, got {type(http_client).__name__}"
        )
    if verify is not True:
        raise ConfigurationError(
            "verify= and http_client= together: the injected client's own TLS settings "
            "apply; configure verification on it (httpx2.AsyncClient(verify=...))"
        )


def _new_pool(settings: ClientSettings) -> LivePool:
    from .models import _websocket_module

    websocket = _websocket_module()  # says which extra to install when it is missing
    pool: LivePool = websocket.LivePool(settings)
    return pool


class _ClientBase:
    """What both clients share: resolving the settings, and showing them safely."""

    #: The httpx2 class an injected ``http_client`` must be.
    _http_client_type = "AsyncClient"

    def __init__(
        self,
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
        http_client: httpx2.AsyncClient | httpx2.Client | None = None,
        settings: ClientSettings | None = None,
    ) -> None:
        _check_http_client(http_client, verify, self._http_client_type)
        self._settings = _settings_from(
            settings,
            api_key,
            base_url,
            api_version,
            timeouts,
            verify,
            headers,
            websocket,
            pool,
            retry,
            allow_insecure_http,
        )
        self._http_client = http_client
        self._closed = False
        self._live_pool: LivePool | None = None
        # Guards starting and stopping what the client owns (the sync client's loop
        # thread and pool), which threads may race to do on first use and on close.
        self._lock = threading.Lock()
        _clients.add(self)

    def _pool(self) -> LivePool:
        """The warm pool of Live connections, created on first WebSocket use."""
        self._check_open()
        if self._live_pool is None:
            self._live_pool = _new_pool(self._settings)
        return self._live_pool

    def pool_metrics(self) -> PoolMetrics:
        """Hits, misses, opens, discards by reason, idle and opening connections of
        the warm Live pool (see :class:`~api_gemini.settings.PoolSettings`)."""
        pool = self._live_pool
        if pool is None:
            from .models import _websocket_module

            metrics: PoolMetrics = _websocket_module().PoolMetrics()
            return metrics
        return pool.metrics()

    @property
    def settings(self) -> ClientSettings:
        """The resolved settings (the key inside is never shown by ``repr``)."""
        return self._settings

    def _after_fork_in_child(self) -> None:
        """Called in a child of ``os.fork()``: a lock held by a thread of the parent at the
        fork would stay held here forever."""
        self._lock = threading.Lock()

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("this client is closed")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._settings!r})"


class AsyncClient(_ClientBase, AsyncClosing):
    """The asyncio client. Arguments override the environment; see
    :meth:`ClientSettings.resolve <api_gemini.settings.ClientSettings.resolve>`.

    Args:
        api_key: the key (else ``GOOGLE_API_KEY``, else ``GEMINI_API_KEY``, google-genai's
            order, with its warning when both are set); an ``auth_tokens/...`` ephemeral
            token is also accepted.
        base_url: the service root (else ``GEMINI_BASE_URL``, else the public service).
        api_version: ``v1beta`` (default), ``v1`` or ``v1alpha``.
        timeouts: HTTP timeouts.
        verify: ``True`` (system CAs), a CA bundle path, or an ``ssl.SSLContext``.
        headers: extra headers for every request.
        websocket: Live API connection and buffering settings.
        pool: the warm pool of Live connections (:class:`~api_gemini.settings.
            PoolSettings`; by default nothing is warmed unless ``model.prewarm()`` asks).
        retry: opt-in retries of HTTP calls (:class:`~api_gemini.settings.RetryPolicy`);
            by default none, every failure reaches the caller.
        allow_insecure_http: send the key over ``http://`` (no TLS) to a host that is
            not loopback; refused by default (``ConfigurationError`` at the first call).
        http_client: an ``httpx2.AsyncClient`` of your own (proxies, custom TLS, mounts,
            limits) for the HTTP calls. You own it: :meth:`aclose` leaves it open, close
            it yourself after the client. Its ``base_url``, headers and redirect setting
            are not used (every request names its URL, our headers and no redirects);
            ``verify=`` cannot be combined with it (set TLS on the httpx2 client).
        settings: a complete settings object instead of the arguments above (``pool``
            and ``retry`` may still override its settings).
    """

    _http: AsyncHttpTransport | None = None

    def _transport(self) -> AsyncHttpTransport:
        self._check_open()
        if self._http is None:
            from .http.transport import AsyncHttpTransport

            self._http = AsyncHttpTransport(self._settings, self._http_client)  # type: ignore[arg-type]
        return self._http

    @property
    def pool(self) -> LivePool:
        """The warm pool of Live connections (created on first use): ``metrics()``,
        ``health()``, ``wait_until(...)``. Warm it with ``model.prewarm()``.

        Raises:
            ConfigurationError: the client is closed, or the websocket extra is missing.
        """
        return self._pool()

    @property
    def models(self) -> AsyncModels:
        """The models resource: ``await client.models.list()``, ``get``, ``by_name``
        (a property, as in google-genai; ``client.models()`` still works, deprecated)."""
        self._check_open()
        # The transport is built by the first HTTP call: a WebSocket-only program never
        # imports httpx2.
        return AsyncModels(self._settings, self._transport, self._pool)

    @property
    def auth_tokens(self) -> AsyncAuthTokens:
        """Ephemeral tokens for the Live API: ``await client.auth_tokens.create(...)``."""
        from .auth_tokens import AsyncAuthTokens

        return AsyncAuthTokens(self._transport())

    async def aclose(self) -> None:
        """Close the HTTP connection pool and the warm Live pool (every warm connection
        is closed with a handshake); safe to call twice."""
        self._closed = True
        # The closed pool stays referenced: pool_metrics() still reads its last counts.
        if self._live_pool is not None and not self._live_pool.closed:
            await self._live_pool.aclose()
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()


class Client(_ClientBase, SyncClosing):
    """The synchronous client; same arguments as :class:`AsyncClient` (``http_client``:
    an ``httpx2.Client``, owned and closed by you).

    Safe to share between threads: the WebSocket work of all of them runs on one private
    event loop thread, started with one warm pool on first use, stopped by :meth:`close`.
    In a child process made by ``os.fork()`` the client starts a fresh loop thread and
    pool on first WebSocket use (see ``docs/decisions.md``).
    """

    _http: HttpTransport | None = None
    _http_client_type = "Client"
    _loop_portal: LoopPortal | None = None

    def _transport(self) -> HttpTransport:
        self._check_open()
        if self._http is None:
            from .http.transport import HttpTransport

            self._http = HttpTransport(self._settings, self._http_client)  # type: ignore[arg-type]
        return self._http

    def _live(self) -> tuple[LoopPortal, LivePool]:
        """The loop thread and the warm pool, started together on first WebSocket use:
        exactly one of each per client, however many threads get here at once."""
        portal, pool = self._loop_portal, self._live_pool
        if portal is None or pool is None or self._closed:
            with self._lock:
                self._check_open()
                portal, pool = self._loop_portal, self._live_pool
                if portal is None or pool is None:
                    pool = _new_pool(self._settings)  # may raise: nothing is started yet
                    from ._portal import LoopPortal

                    portal = LoopPortal()
                    self._live_pool, self._loop_portal = pool, portal
        return portal, pool

    def _portal(self) -> LoopPortal:
        """The private event loop thread that runs WebSocket work; started on first use."""
        return self._live()[0]

    def _pool(self) -> LivePool:
        return self._live()[1]

    def pool_metrics(self) -> PoolMetrics:
        """Hits, misses, opens, discards by reason, idle and opening connections of
        the warm Live pool (see :class:`~api_gemini.settings.PoolSettings`); read on the
        loop thread that changes them."""
        portal, pool = self._loop_portal, self._live_pool
        if portal is None or pool is None:
            return super().pool_metrics()
        return portal.read(pool.metrics)

    @property
    def pool(self) -> SyncLivePool:
        """The warm pool of Live connections (created on first use): ``metrics()``,
        ``health()``, ``wait_until(...)``. Warm it with ``model.prewarm()``.

        Raises:
            ConfigurationError: the websocket extra is missing.
            ClientClosedError: the client is closed.
        """
        from .websocket.sync_live import SyncLivePool

        portal, pool = self._live()
        return SyncLivePool(pool, portal)

    @property
    def models(self) -> Models:
        """The models resource: ``client.models.list()``, ``get``, ``by_name`` (a
        property, as in google-genai; ``client.models()`` still works, deprecated)."""
        self._check_open()
        return Models(self._settings, self._locked_transport, self._portal, self._pool)

    def _locked_transport(self) -> HttpTransport:
        with self._lock:  # one HTTP transport, however many threads ask for it first
            return self._transport()

    @property
    def auth_tokens(self) -> AuthTokens:
        """Ephemeral tokens for the Live API: ``client.auth_tokens.create(...)``."""
        from .auth_tokens import AuthTokens

        return AuthTokens(self._transport())

    def close(self) -> None:
        """Close the HTTP connection pool, the warm Live pool, and stop the WebSocket
        loop thread (closing any stream or session still open on it); safe to call twice
        and from any thread. Calls running in other threads end with
        :class:`~api_gemini.errors.ClientClosedError`, as does any later call."""
        with self._lock:
            self._closed = True
            portal, pool = self._loop_portal, self._live_pool
            http, self._http = self._http, None
        # The portal stays referenced (closed): pool_metrics() still reads the last counts.
        if portal is not None and pool is not None:
            portal.close(first=pool.aclose)
        if http is not None:
            http.close()

    def _after_fork_in_child(self) -> None:
        # The loop thread was not copied into this process, and the loop's epoll fd and
        # the pool's sockets are shared with the parent: never run, close or read them
        # here. They are kept (not collected, which would log pending tasks) and the
        # next WebSocket call starts a fresh loop and pool in this process.
        super()._after_fork_in_child()
        if self._loop_portal is not None:
            _inherited.append((self._loop_portal, self._live_pool))
            self._loop_portal = None
            self._live_pool = None


# Clients alive in this process, so that a fork can reset them in the child; and what a
# child inherited from its parent (kept, never used: see Client._after_fork_in_child).
_clients: weakref.WeakSet[_ClientBase] = weakref.WeakSet()
_inherited: list[tuple[LoopPortal, LivePool | None]] = []


def _reset_clients_after_fork() -> None:
    for client in list(_clients):
        client._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_clients_after_fork)
