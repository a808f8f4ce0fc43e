"""The emulator server: HTTP and WebSocket on one aiohttp port, optionally over TLS."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ._running import Running
from .config import EmulatorConfig, EmulatorStats
from .faults import FAULT_HEADER, FaultPlan
from .http_api import API_VERSIONS, HttpApi, error_response
from .live import LIVE_METHODS, SHUTTING_DOWN, LiveSession, live_path
from .live_lifecycle import HandleRecord
from .tokens import TokenStore
from .wire import WireError

__all__ = ["Emulator", "ReceivedRequest"]

logger = logging.getLogger(__name__)

# Bound on the close handshake and on aiohttp's graceful shutdown, so stop() is quick.
_CLOSE_TIMEOUT = 2.0
_MAX_MESSAGE = 32 * 1024 * 1024
# How long stop() lets Live peers take part in the close handshake.
_STOP_GRACE = 1.0
# Requests remembered in Emulator.requests (the newest).
_MAX_REQUEST_LOG = 1000


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request as the emulator received it (for tests: where did the key travel?)."""

    method: str
    #: Path and query string, exactly as sent.
    path_qs: str
    #: Header names (lower case) and values.
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Emulator(Running):
    """A local Gemini service: models, generateContent, SSE streaming and the Live API.

    Use as ``async with Emulator(config) as emu:`` or ``await emu.start()`` /
    ``await emu.stop()``. Stopping closes every Live socket with a close frame and
    cancels every handler, leaving no task or socket behind.
    """

    _what = "emulator"

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.stats = EmulatorStats()
        #: What each resumption handle restores (the newest 10,000 are kept).
        self.resumption_handles: OrderedDict[str, HandleRecord] = OrderedDict()
        #: Ephemeral tokens minted by ``POST v1alpha/auth_tokens``.
        self.tokens = TokenStore(self.config.time_scale)
        self._runner: web.AppRunner | None = None
        self._sessions: set[LiveSession] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: The newest requests received (HTTP and WebSocket upgrades), oldest first.
        self.requests: deque[ReceivedRequest] = deque(maxlen=_MAX_REQUEST_LOG)
        #: The plan of every request without its own (``EmulatorConfig.fault``).
        self.default_fault = FaultPlan.parse(self.config.fault) if self.config.fault else None
        #: How many times each ``first-K-SPEC`` plan has been played, by spec text.
        self.fault_counts: dict[str, int] = {}

    # -- addresses --------------------------------------------------------------------

    @property
    def _url_host(self) -> str:
        host = self.config.host
        if host in ("", "0.0.0.0"):  # noqa: S104 (a comparison, not a bind)
            return "127.0.0.1"
        if host == "::":
            return "[::1]"
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).version == 6:
                return f"[{host}]"
        return host

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` (``https`` with TLS), without a trailing slash."""
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{self._url_host}:{self.port}"

    def live_url(self, version: str = "v1beta", *, constrained: bool = False) -> str:
        """The ``ws://`` (or ``wss://``) URL of the Live endpoint for ``version``."""
        scheme = "wss" if self.config.tls else "ws"
        method = LIVE_METHODS[1] if constrained else LIVE_METHODS[0]
        return f"{scheme}://{self._url_host}:{self.port}{live_path(version, method)}"

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> Emulator:
        """Bind and start serving; returns ``self``."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")
        app = web.Application(client_max_size=_MAX_MESSAGE, middlewares=[self._remember])
        for version in API_VERSIONS:
            for method in LIVE_METHODS:
                app.router.add_get(live_path(version, method), self._live_handler(version, method))
        HttpApi(self).add_routes(app)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=_CLOSE_TIMEOUT
        )
        await runner.setup()
        ssl_context = None
        if self.config.tls_cert is not None and self.config.tls_key is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        site = web.TCPSite(
            runner, self.config.host, self.config.port, ssl_context=ssl_context, backlog=1024
        )
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        logger.info("emulator listening on %s", self.base_url)
        return self

    @web.middleware
    async def _remember(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        self.requests.append(
            ReceivedRequest(
                request.method,
                request.path_qs,
                tuple((k.lower(), v) for k, v in request.headers.items()),
            )
        )
        response = await handler(request)
        # The path only: a query string may carry a key (?key=), headers always do.
        logger.debug("%s %s -> %d", request.method, request.path, response.status)
        return response

    async def stop(self) -> None:
        """Close every Live socket (1001), cancel handlers, and stop listening."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._sessions:
            closing = [asyncio.create_task(s.close(1001, SHUTTING_DOWN)) for s in self._sessions]
            _, stuck = await asyncio.wait(closing, timeout=_STOP_GRACE)
            # A peer that stopped reading can block the close frame: cut it off.
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT)
        await runner.cleanup()

    # -- control from tests ----------------------------------------------------------

    @property
    def live_session_count(self) -> int:
        """How many Live WebSocket connections are open right now."""
        return len(self._sessions)

    async def close_live_sessions(self, code: int = 1011, reason: str = "") -> int:
        """Close every open Live connection with ``code`` and ``reason``; returns how many.

        What a test uses to make the server drop a session mid-turn or while it sits idle
        in a pool (1011 internal error, 1001 going away, 1008 policy, ...).
        """
        sessions = list(self._sessions)
        await asyncio.gather(*(s.close(code, reason) for s in sessions))
        return len(sessions)

    async def send_go_away(self, time_left: float = 1.0) -> int:
        """Send ``goAway`` with ``time_left`` seconds to every open Live connection.

        The connection is not closed: the test decides what happens next (for example
        :meth:`close_live_sessions` after the notice). Returns how many were told.
        """
        sessions = list(self._sessions)
        await asyncio.gather(*(s.send_go_away(time_left) for s in sessions))
        return len(sessions)

    # -- helpers for the handlers -------------------------------------------------------

    @contextlib.contextmanager
    def track_task(self) -> Iterator[None]:
        """Register the current handler task so that :meth:`stop` can cancel it."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    def header_fault(self, request: web.Request) -> FaultPlan | None:
        """The plan a request selects with the ``x-emulator-fault`` header, if any.

        Raises:
            WireError: 400 for a malformed header.
        """
        spec = request.headers.get(FAULT_HEADER)
        if not spec:
            return None
        try:
            return FaultPlan.parse(spec)
        except ValueError as exc:
            raise WireError(400, str(exc)) from None

    def playing(self, plan: FaultPlan | None) -> FaultPlan | None:
        """``plan`` if it plays on this request, counting ``first-K-SPEC`` plans: None
        once such a plan has played K times (the request is then served normally)."""
        if plan is None or plan.first is None:
            return plan
        played = self.fault_counts.get(plan.spec, 0)
        if played >= plan.first:
            return None
        self.fault_counts[plan.spec] = played + 1
        return plan

    def reset_fault_counts(self) -> None:
        """Forget how often ``first-K-SPEC`` plans have played: each fails K more times."""
        self.fault_counts.clear()

    def _live_handler(self, version: str, method: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            self.stats.http_requests += 1
            try:
                plan = self.header_fault(request)
                upgrade_plan = plan or self.default_fault
                if upgrade_plan is not None and upgrade_plan.kind == "http":
                    if self.playing(upgrade_plan) is not None:
                        raise upgrade_plan.http_error()
                    plan = None  # a first-K plan that is spent: a normal session
            except WireError as err:
                self.stats.http_errors += 1
                return error_response(err)
            ws = web.WebSocketResponse(
                compress=False,
                max_msg_size=_MAX_MESSAGE,
                timeout=_CLOSE_TIMEOUT,
                # The session answers pings itself, so a fault plan can delay or drop pongs.
                autoping=False,
            )
            await ws.prepare(request)
            self.stats.ws_connections += 1
            self.stats.ws_active += 1
            session = LiveSession(self, request, ws, version, method, plan)
            self._sessions.add(session)
            try:
                # Not tracked as a task: stop() ends sessions by closing their sockets.
                await session.run()
            finally:
                self._sessions.discard(session)
                self.stats.ws_active -= 1
            return ws

        return handler
