"""Small helpers shared by the WebSocket test files."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

#: Upper bound on waiting for a background event; the tests themselves take milliseconds.
WAIT = 5.0


async def eventually(check: Callable[[], bool], timeout: float = WAIT) -> None:
    """For the server's side, which the client cannot await: poll it briefly."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)


def our_tasks() -> set[asyncio.Task[object]]:
    """The library's own tasks (all are named ``api-gemini ...``) still alive."""
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("api-gemini")}


class RecordingLiveServer:
    """A real WebSocket server that records every client message (decoded JSON) and
    answers ``setup`` with ``setupComplete``; ``replies`` are sent after the setup.

    For tests of what the client puts on the wire: ``async with RecordingLiveServer()
    as server:`` then ``server.base_url``; ``server.messages`` holds every message.
    """

    def __init__(self, replies: list[bytes] | None = None, ssl: Any = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.replies = replies or []
        self._ssl = ssl  # a server-side ssl.SSLContext: wss:// (base_url https://)
        self._server: Any = None
        self.base_url = ""

    async def _handle(self, ws: Any) -> None:
        import json

        from websockets.exceptions import ConnectionClosed

        try:
            self.messages.append(json.loads(await ws.recv()))
            await ws.send(b'{"setupComplete": {}}')
            for reply in self.replies:
                await ws.send(reply)
            async for data in ws:
                self.messages.append(json.loads(data))
        except ConnectionClosed:
            return

    async def __aenter__(self) -> RecordingLiveServer:
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, "127.0.0.1", 0, ssl=self._ssl)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.base_url = f"{'https' if self._ssl else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()
