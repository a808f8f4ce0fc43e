"""Small helpers shared by the WebSocket test files, and the hostile Live server.

:func:`raw_live_server` is a Live endpoint written by hand on a real socket: it accepts
the upgrade, answers ``setup``, then runs a script that writes raw frames (anything,
protocol-breaking included), and can stop reading altogether (a wedged peer).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

#: Upper bound on waiting for a background event; the tests themselves take milliseconds.
WAIT = 5.0

#: A key header for raw requests to the emulator, which (like the service) refuses a
#: request without a key unless built with ``require_key=False``.
KEY_HEADERS = {"x-goog-api-key": "test-key"}


async def eventually(check: Callable[[], bool], timeout: float = WAIT) -> None:
    """For the server's side, which the client cannot await: poll it briefly."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)


def our_tasks() -> set[asyncio.Task[object]]:
    """The library's own tasks (all are named ``api-gemini ...``) still alive."""
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("api-gemini")}


# --------------------------------------------------------------------------- hostile server

#: ``async def script(writer)``: what the hostile server does once the client is set up.
Script = Callable[[asyncio.StreamWriter], Awaitable[None]]

SETUP_COMPLETE = b'{"setupComplete":{}}'


def frame(payload: bytes, opcode: int = 0x2, *, fin: bool = True, mask: bool = False) -> bytes:
    """A server frame (unmasked unless ``mask``), any length."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        length = bytes([n])
    elif n < 65536:
        length = bytes([126]) + n.to_bytes(2, "big")
    else:
        length = bytes([127]) + n.to_bytes(8, "big")
    if mask:
        key = b"\x01\x02\x03\x04"
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return bytes([first, length[0] | 0x80]) + length[1:] + key + masked
    return bytes([first]) + length + payload


def chunk(text: str) -> bytes:
    """A ``serverContent.modelTurn`` text frame."""
    return frame(b'{"serverContent":{"modelTurn":{"parts":[{"text":"' + text.encode() + b'"}]}}}')


@contextlib.asynccontextmanager
async def raw_live_server(
    script: Script,
    *,
    wait_for_request: bool = True,
    read_after: bool = True,
    receive_buffer: int | None = None,
) -> AsyncIterator[str]:
    """Accept the upgrade by hand, answer the setup, then run ``script``; yields the
    ``http://`` base URL.

    Args:
        wait_for_request: read one more message (a one-shot stream's request) before
            the script; a session's script starts right after ``setupComplete``.
        read_after: keep reading (and dropping) what the client sends after the
            script, until it goes; ``False``: never read again, a peer that stopped
            reading (its socket buffers fill and TCP pushes back on the client).
        receive_buffer: ``SO_RCVBUF`` of the accepted sockets, to make a peer that does
            not read push back after kilobytes rather than megabytes.
    """
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", request)
            assert match is not None
            guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
            accept = base64.b64encode(hashlib.sha1(match.group(1) + guid).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            await reader.read(65536)  # the setup message
            writer.write(frame(SETUP_COMPLETE))
            if wait_for_request:
                await reader.read(65536)  # the request's content: sent once set up
            if not read_after:
                # Stop reading for good: asyncio stops reading the socket once the
                # stream's own buffer is full, so the client is pushed back.
                transport = writer.transport
                assert isinstance(transport, asyncio.ReadTransport)
                transport.pause_reading()
            await script(writer)
            await writer.drain()
            if not read_after:
                await asyncio.Event().wait()  # until the test ends (cancelled)
            # Keep the socket open until the client goes (reading what it sends).
            while await reader.read(65536):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        # Set before listen(): accepted sockets inherit it (and the TCP window with it).
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handle, sock=listener)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await server.wait_closed()


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
