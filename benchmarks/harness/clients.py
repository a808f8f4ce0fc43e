"""The five ways to stream a Gemini answer that the benchmarks compare, behind one shape.

- ``api_ws``: api_gemini over WebSocket (``stream_generate_content_websocket``, and
  ``connect`` for sessions);
- ``api_sse``: api_gemini over HTTP SSE (``stream_generate_content``);
- ``sdk_live``: the official google-genai Live client (``client.aio.live.connect``);
- ``sdk_sse``: google-genai SSE streaming (``client.aio.models.generate_content_stream``);
- ``floor``: bare ``websockets`` + ``orjson``: connect, send the setup, read frames,
  ``orjson.loads`` each and take the text (or base64-decode the audio). No Python
  client of this transport can do less work per chunk.

Every client does the same work per chunk: it takes the chunk's text (or audio bytes)
and adds its length to a total, so the figures compare the libraries, not the consumer.
Imports of each library happen in the client's constructor, so that a worker process
measuring one client never imports the others.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol

KEY = "bench-key"
LIVE_MODEL = "gemini-3.8-live"
HTTP_MODEL = "gemini-2.5-flash"
PROMPT = "Tell me a long story about streaming."
API_VERSION = "v1beta"

#: Called with the payload size of each chunk, when the caller traces a stream.
Trace = Callable[[int], None]

CLIENTS = ("api_ws", "api_sse", "sdk_live", "sdk_sse", "floor")
WS_CLIENTS = ("api_ws", "sdk_live", "floor")
LABELS = {
    "api_ws": "api_gemini WebSocket",
    "api_sse": "api_gemini SSE",
    "sdk_live": "google-genai Live",
    "sdk_sse": "google-genai SSE",
    "floor": "websockets + orjson (floor)",
    "api_pool": "api_gemini WebSocket, warm pool",
    "floor_q4": "floor with api_gemini's max_queue=(4, 1)",
    "api_ws_picows": "api_gemini WebSocket over picows",
}


class BenchClient(Protocol):
    """What every compared client can do; ``turn`` is the unit of work."""

    name: str

    async def turn(self, tokens: int, *, audio: bool = False, trace: Trace | None = None) -> int:
        """Open what is needed, ask for ``tokens`` tokens, consume every chunk, close.

        Returns the number of chunks holding text or audio.
        """
        ...

    async def first_chunk(self, tokens: int) -> float:
        """Seconds from the request to the first chunk on a fresh connection (cold)."""
        ...

    async def open_warm(self) -> None:
        """Open what :meth:`first_chunk_warm` reuses (a session, a kept-alive connection)."""
        ...

    async def first_chunk_warm(self, tokens: int) -> float:
        """Seconds from the request to the first chunk over what :meth:`open_warm` opened."""
        ...

    async def open_idle(self) -> Any:
        """Open one Live session and leave it idle; returns a handle for :meth:`close_idle`."""
        ...

    async def close_idle(self, handle: Any) -> None:
        """Close a session opened by :meth:`open_idle`."""
        ...

    async def paused(self, tokens: int, hold: float, settle: Callable[[], Any]) -> int:
        """Start a long audio answer, stop consuming after the first chunk for ``hold``
        seconds (calling ``settle`` at the end, while still paused), then drain it."""
        ...

    async def aclose(self) -> None:
        """Release everything the client holds."""
        ...


def ws_url(base_url: str) -> str:
    """The Live endpoint URL for an emulator base URL (as the libraries build it)."""
    host = base_url.split("://", 1)[1].rstrip("/")
    return (
        f"wss://{host}/ws/google.ai.generativelanguage.{API_VERSION}"
        ".GenerativeService.BidiGenerateContent"
    )


def _request(tokens: int, audio: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {"maxOutputTokens": tokens}
    if audio:
        config["responseModalities"] = ["AUDIO"]
    return {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}], "generationConfig": config}


# --------------------------------------------------------------------------- api_gemini


class ApiWs:
    """api_gemini over WebSocket: one ``Stream`` per turn; ``connect`` for sessions."""

    name = "api_ws"

    def __init__(self, base_url: str, ca: str, **settings: Any) -> None:
        from api_gemini import AsyncClient, WebSocketSettings

        if settings.pop("transport", "websockets") == "picows":
            from api_gemini.websocket.transport_picows import PicowsConnector

            settings["connector"] = PicowsConnector()
        websocket = WebSocketSettings(**settings) if settings else None
        self.client = AsyncClient(KEY, base_url=base_url, verify=ca, websocket=websocket)
        self.model = self.client.models.by_name(LIVE_MODEL)
        self.session: Any = None

    async def turn(self, tokens: int, *, audio: bool = False, trace: Trace | None = None) -> int:
        """One ``Stream``: connect, set up, send, consume, close."""
        chunks = 0
        total = 0
        stream = await self.model.stream_generate_content_websocket(_request(tokens, audio))
        async with stream:
            if audio:
                async for chunk in stream:
                    parts = chunk.candidates[0].content.parts  # type: ignore[union-attr]
                    if parts and parts[0].inline_data is not None:
                        n = len(parts[0].inline_data.data)
                        total += n
                        chunks += 1
                        if trace is not None:
                            trace(n)
            else:
                async for chunk in stream:
                    text = chunk.text
                    if text:
                        total += len(text)
                        chunks += 1
                        if trace is not None:
                            trace(len(text))
        return chunks

    async def first_chunk(self, tokens: int) -> float:
        """Cold: TCP + TLS + upgrade + setup + request, to the first chunk."""
        started = time.perf_counter()
        stream = await self.model.stream_generate_content_websocket(_request(tokens))
        async with stream:
            await anext(stream)
            elapsed = time.perf_counter() - started
            async for _ in stream:
                pass
        return elapsed

    async def open_warm(self) -> None:
        """An open Live session: the WebSocket analogue of a kept-alive connection."""
        self.session = await self.model.connect({"generationConfig": {"maxOutputTokens": 4}})

    async def first_chunk_warm(self, tokens: int) -> float:
        """A new turn on the open session, to its first ``ModelTurn``."""
        from api_gemini.websocket import ModelTurn

        started = time.perf_counter()
        await self.session.send_text(PROMPT)
        elapsed = None
        async for event in self.session.receive_turn():
            if elapsed is None and type(event) is ModelTurn:
                elapsed = time.perf_counter() - started
        assert elapsed is not None
        return elapsed

    async def open_idle(self) -> Any:
        """A Live session, set up, left idle."""
        return await self.model.connect()

    async def close_idle(self, handle: Any) -> None:
        """Close a session with a handshake."""
        await handle.close()

    async def paused(self, tokens: int, hold: float, settle: Callable[[], Any]) -> int:
        """``pause()`` after the first chunk: the bounded buffer fills, then TCP pushes back."""
        chunks = 0
        stream = await self.model.stream_generate_content_websocket(_request(tokens, True))
        async with stream:
            await anext(stream)
            await stream.pause()
            await asyncio.sleep(hold)  # the server sends as fast as it can meanwhile
            settle()
            await stream.resume()
            async for _ in stream:
                chunks += 1
        return chunks + 1

    async def aclose(self) -> None:
        """Close the session (if any) and the client."""
        if self.session is not None:
            await self.session.close()
        await self.client.aclose()


class _SseOnly:
    """The scenarios an SSE client has no part in: no session to keep open, and the
    paused-memory scenario is measured over the Live API only."""

    async def open_idle(self) -> Any:
        """SSE has no session to keep open."""
        raise NotImplementedError

    async def close_idle(self, handle: Any) -> None:
        """SSE has no session to keep open."""
        raise NotImplementedError

    async def paused(self, tokens: int, hold: float, settle: Callable[[], Any]) -> int:
        """Not measured for SSE."""
        raise NotImplementedError


class ApiSse(_SseOnly):
    """api_gemini over HTTP SSE (httpx2 underneath; the connection is kept alive)."""

    name = "api_sse"

    def __init__(self, base_url: str, ca: str, **_: Any) -> None:
        from api_gemini import AsyncClient

        self._base_url = base_url
        self._ca = ca
        self.client = AsyncClient(KEY, base_url=base_url, verify=ca)
        self.model = self.client.models.by_name(HTTP_MODEL)

    async def turn(self, tokens: int, *, audio: bool = False, trace: Trace | None = None) -> int:
        """One SSE request, consumed to the end."""
        chunks = 0
        total = 0
        async with await self.model.stream_generate_content(_request(tokens)) as stream:
            async for chunk in stream:
                text = chunk.text
                if text:
                    total += len(text)
                    chunks += 1
                    if trace is not None:
                        trace(len(text))
        return chunks

    async def first_chunk(self, tokens: int) -> float:
        """Cold: a new client, so TCP + TLS + request, to the first chunk."""
        from api_gemini import AsyncClient

        async with AsyncClient(KEY, base_url=self._base_url, verify=self._ca) as client:
            model = client.models.by_name(HTTP_MODEL)
            started = time.perf_counter()
            async with await model.stream_generate_content(_request(tokens)) as stream:
                await anext(stream)
                elapsed = time.perf_counter() - started
                async for _ in stream:
                    pass
        return elapsed

    async def open_warm(self) -> None:
        """One request first, so that the next finds a kept-alive connection."""
        await self.turn(1)

    async def first_chunk_warm(self, tokens: int) -> float:
        """A request on the kept-alive connection, to its first chunk."""
        started = time.perf_counter()
        async with await self.model.stream_generate_content(_request(tokens)) as stream:
            await anext(stream)
            elapsed = time.perf_counter() - started
            async for _ in stream:
                pass
        return elapsed

    async def aclose(self) -> None:
        """Close the client."""
        await self.client.aclose()


# --------------------------------------------------------------------------- google-genai


def _spoken(message: Any) -> str | None:
    """The output transcription text of a google-genai ``LiveServerMessage``."""
    content = message.server_content
    spoken = content.output_transcription if content is not None else None
    return spoken.text if spoken is not None else None


def _first_content(message: Any) -> bool:
    """True for a message with the model's answer (audio or its transcription): what
    every client's time to first chunk counts to."""
    content = message.server_content
    return content is not None and (
        content.model_turn is not None or content.output_transcription is not None
    )


class SdkLive:
    """The official SDK's Live client, one session per turn, as its docs show."""

    name = "sdk_live"

    def __init__(self, base_url: str, ca: str, **_: Any) -> None:
        from google import genai

        # The SDK trusts the bench CA through SSL_CERT_FILE (set by the harness).
        self.client = genai.Client(api_key=KEY, http_options={"base_url": base_url})
        self.session: Any = None
        self._stack = contextlib.AsyncExitStack()

    def _config(self, tokens: int, audio: bool = False) -> Any:
        # Today's Live models answer in AUDIO only; the text is the output transcription
        # (asked for in both modes, as api_gemini's one-shot stream does: same frames).
        return {
            "response_modalities": ["AUDIO"],
            "output_audio_transcription": {},
            "max_output_tokens": tokens,
        }

    async def _send(self, session: Any) -> None:
        from google.genai import types

        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text=PROMPT)]), turn_complete=True
        )

    async def turn(self, tokens: int, *, audio: bool = False, trace: Trace | None = None) -> int:
        """Connect, send, consume ``session.receive()`` to the turn's end, close."""
        chunks = 0
        total = 0
        config = self._config(tokens, audio)
        async with self.client.aio.live.connect(model=LIVE_MODEL, config=config) as session:
            await self._send(session)
            if audio:
                async for message in session.receive():
                    data = message.data
                    if data:
                        total += len(data)
                        chunks += 1
                        if trace is not None:
                            trace(len(data))
            else:
                async for message in session.receive():
                    text = _spoken(message)
                    if text:
                        total += len(text)
                        chunks += 1
                        if trace is not None:
                            trace(len(text))
        return chunks

    async def first_chunk(self, tokens: int) -> float:
        """Cold: connect + setup + request, to the first text."""
        started = time.perf_counter()
        elapsed = None
        config = self._config(tokens)
        async with self.client.aio.live.connect(model=LIVE_MODEL, config=config) as session:
            await self._send(session)
            async for message in session.receive():
                if elapsed is None and _first_content(message):
                    elapsed = time.perf_counter() - started
        assert elapsed is not None
        return elapsed

    async def open_warm(self) -> None:
        """An open Live session."""
        self.session = await self._stack.enter_async_context(
            self.client.aio.live.connect(model=LIVE_MODEL, config=self._config(4))
        )

    async def first_chunk_warm(self, tokens: int) -> float:
        """A new turn on the open session, to its first text."""
        started = time.perf_counter()
        elapsed = None
        await self._send(self.session)
        async for message in self.session.receive():
            if elapsed is None and _first_content(message):
                elapsed = time.perf_counter() - started
        assert elapsed is not None
        return elapsed

    async def open_idle(self) -> Any:
        """A Live session entered on an exit stack, left idle."""
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(
            self.client.aio.live.connect(model=LIVE_MODEL, config=self._config(4))
        )
        return stack

    async def close_idle(self, handle: Any) -> None:
        """Leave the session's context manager."""
        await handle.aclose()

    async def paused(self, tokens: int, hold: float, settle: Callable[[], Any]) -> int:
        """No pause in the SDK: stop iterating ``receive()`` for ``hold`` seconds."""
        chunks = 0
        config = self._config(tokens, True)
        async with self.client.aio.live.connect(model=LIVE_MODEL, config=config) as session:
            await self._send(session)
            messages = session.receive()
            await anext(messages)
            await asyncio.sleep(hold)
            settle()
            async for message in messages:
                if message.data:
                    chunks += 1
        return chunks + 1

    async def aclose(self) -> None:
        """Close the open session (if any) and the client."""
        await self._stack.aclose()
        await self.client.aio.aclose()


class SdkSse(_SseOnly):
    """The official SDK's SSE streaming (aiohttp underneath when installed, as here)."""

    name = "sdk_sse"

    def __init__(self, base_url: str, ca: str, **_: Any) -> None:
        from google import genai

        self._base_url = base_url
        self.client = genai.Client(api_key=KEY, http_options={"base_url": base_url})

    def _config(self, tokens: int) -> Any:
        from google.genai import types

        return types.GenerateContentConfig(max_output_tokens=tokens)

    async def _stream(self, client: Any, tokens: int) -> Any:
        return await client.aio.models.generate_content_stream(
            model=HTTP_MODEL, contents=PROMPT, config=self._config(tokens)
        )

    async def turn(self, tokens: int, *, audio: bool = False, trace: Trace | None = None) -> int:
        """One streaming request, consumed to the end."""
        chunks = 0
        total = 0
        async for chunk in await self._stream(self.client, tokens):
            text = chunk.text
            if text:
                total += len(text)
                chunks += 1
                if trace is not None:
                    trace(len(text))
        return chunks

    async def first_chunk(self, tokens: int) -> float:
        """Cold: a new SDK client, so TCP + TLS + request, to the first chunk."""
        from google import genai

        client = genai.Client(api_key=KEY, http_options={"base_url": self._base_url})
        started = time.perf_counter()
        elapsed = None
        async for _ in await self._stream(client, tokens):
            if elapsed is None:
                elapsed = time.perf_counter() - started
        await client.aio.aclose()
        assert elapsed is not None
        return elapsed

    async def open_warm(self) -> None:
        """One request first, so that the next finds a kept-alive connection."""
        await self.turn(1)

    async def first_chunk_warm(self, tokens: int) -> float:
        """A request on the kept-alive connection, to its first chunk."""
        started = time.perf_counter()
        elapsed = None
        async for _ in await self._stream(self.client, tokens):
            if elapsed is None:
                elapsed = time.perf_counter() - started
        assert elapsed is not None
        return elapsed

    async def aclose(self) -> None:
        """Close the client."""
        await self.client.aio.aclose()


# --------------------------------------------------------------------------- the floor


class Floor:
    """Bare ``websockets`` + ``orjson``: the least work a Python client can do per chunk."""

    name = "floor"

    def __init__(self, base_url: str, ca: str, max_queue: Any = 16, **_: Any) -> None:
        import orjson
        from websockets.asyncio.client import connect

        self._connect = connect
        # websockets' default; api_gemini uses (4, 1) to bound memory (see run.py).
        self._max_queue = tuple(max_queue) if isinstance(max_queue, list) else max_queue
        self._loads = orjson.loads
        self._dumps = orjson.dumps
        self._url = ws_url(base_url)
        self._ssl = ssl.create_default_context(cafile=ca)
        self.ws: Any = None

    async def _open(self, tokens: int, audio: bool = False) -> Any:
        ws = await self._connect(
            self._url,
            ssl=self._ssl,
            additional_headers={"x-goog-api-key": KEY},
            compression=None,
            max_size=16 * 1024 * 1024,
            max_queue=self._max_queue,
        )
        setup = {
            "setup": {
                "model": f"models/{LIVE_MODEL}",
                "generationConfig": {"responseModalities": ["AUDIO"], "maxOutputTokens": tokens},
                # The text of an answer is the output transcription (today's models
                # answer in AUDIO only); asked for in both modes, as the others do.
                "outputAudioTranscription": {},
            }
        }
        await ws.send(self._dumps(setup), text=True)
        reply = self._loads(await ws.recv(decode=False))
        assert "setupComplete" in reply, reply
        return ws

    async def _send(self, ws: Any) -> None:
        message = {
            "clientContent": {
                "turns": [{"role": "user", "parts": [{"text": PROMPT}]}],
                "turnComplete": True,
            }
        }
        await ws.send(self._dumps(message), text=True)

    async def turn(self, tokens: int, *, audio: bool = False, trace: Trace | None = None) -> int:
        """Connect, set up, send, read frames to ``turnComplete``, close."""
        loads = self._loads
        chunks = 0
        total = 0
        ws = await self._open(tokens, audio)
        try:
            await self._send(ws)
            while True:
                content = loads(await ws.recv(decode=False)).get("serverContent")
                if content is None:
                    continue
                turn = content.get("modelTurn")
                spoken = content.get("outputTranscription")
                n = 0
                if audio and turn is not None:
                    n = len(base64.b64decode(turn["parts"][0]["inlineData"]["data"]))
                elif not audio and spoken is not None:
                    n = len(spoken.get("text", ""))
                if n:
                    total += n
                    chunks += 1
                    if trace is not None:
                        trace(n)
                if content.get("turnComplete"):
                    break
        finally:
            await ws.close()
        return chunks

    async def _first(self, ws: Any, started: float) -> float:
        elapsed = None
        while True:
            content = self._loads(await ws.recv(decode=False)).get("serverContent", {})
            if elapsed is None and ("modelTurn" in content or "outputTranscription" in content):
                elapsed = time.perf_counter() - started
            if content.get("turnComplete"):
                assert elapsed is not None
                return elapsed

    async def first_chunk(self, tokens: int) -> float:
        """Cold: TCP + TLS + upgrade + setup + request, to the first chunk."""
        started = time.perf_counter()
        ws = await self._open(tokens)
        try:
            await self._send(ws)
            return await self._first(ws, started)
        finally:
            await ws.close()

    async def open_warm(self) -> None:
        """An open, set-up connection."""
        self.ws = await self._open(4)

    async def first_chunk_warm(self, tokens: int) -> float:
        """A new turn on the open connection, to its first chunk."""
        started = time.perf_counter()
        await self._send(self.ws)
        return await self._first(self.ws, started)

    async def open_idle(self) -> Any:
        """A set-up connection, left idle."""
        return await self._open(4)

    async def close_idle(self, handle: Any) -> None:
        """Close with a handshake."""
        await handle.close()

    async def paused(self, tokens: int, hold: float, settle: Callable[[], Any]) -> int:
        """Stop calling ``recv()`` for ``hold`` seconds (websockets' queue then fills)."""
        chunks = 0
        ws = await self._open(tokens, True)
        try:
            await self._send(ws)
            await ws.recv(decode=False)
            await asyncio.sleep(hold)
            settle()
            while True:
                content = self._loads(await ws.recv(decode=False)).get("serverContent", {})
                if "modelTurn" in content:
                    chunks += 1
                if content.get("turnComplete"):
                    break
        finally:
            await ws.close()
        return chunks + 1

    async def aclose(self) -> None:
        """Close the open connection, if any."""
        if self.ws is not None:
            await self.ws.close()


FACTORIES: dict[str, Callable[..., BenchClient]] = {
    "api_ws": ApiWs,
    "api_sse": ApiSse,
    "sdk_live": SdkLive,
    "sdk_sse": SdkSse,
    "floor": Floor,
}
