"""How the emulator's servers run: started and stopped as context managers, served from
the command line until SIGINT or SIGTERM, with the commands' exit statuses.

Shared by :class:`~api_gemini.emulator.server.Emulator`, the fault proxy and their
commands (``python -m api_gemini.emulator``, ``python -m api_gemini.emulator.proxy``,
``api-gemini emulator``), which used to repeat it each.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Self

from .._closing import AsyncClosing

__all__ = ["Running", "run_command", "serve_until_signalled"]


class Running(AsyncClosing):
    """A server that is started and stopped: ``async with server: ...`` (``__aenter__``
    returns what :meth:`start` returns, the started server; leaving stops it)."""

    #: The port, set by :meth:`start` once the server listens.
    _port: int | None = None
    #: What the server is called in errors.
    _what = "server"

    @property
    def port(self) -> int:
        """The port the server listens on (known once started)."""
        if self._port is None:
            raise RuntimeError(f"the {self._what} is not started")
        return self._port

    async def start(self) -> Self:
        """Start serving; returns the server."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """The same as :meth:`stop` (the package's name for closing an async object)."""
        await self.stop()

    async def __aenter__(self) -> Self:
        return await self.start()


async def serve_until_signalled(server: Running, ready_line: Callable[[], str]) -> None:
    """Run ``server`` until SIGINT or SIGTERM, printing ``ready_line()`` once it listens
    (whose last word is the address: scripts read it)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with server:
            print(ready_line(), flush=True)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run_command(build: Callable[[], Coroutine[Any, Any, None]]) -> int:
    """Run a server command: 2 when ``build`` (which makes the serving coroutine) finds
    the arguments wrong (a ``ValueError``), 1 when serving fails with an ``OSError`` (a
    port in use), else 0. Each failure is one ``error: ...`` line on stderr."""
    try:
        serving = build()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serving)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
