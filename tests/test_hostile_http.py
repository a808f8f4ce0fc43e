"""Hostile HTTP servers: malformed, mistyped, deeply nested, endless and flooding answers
to unary and SSE calls, each a typed error (or a normal answer), bounded in time and
memory, with nothing left behind.

The servers are raw asyncio TCP servers writing HTTP/1.1 by hand, because they must do
what no HTTP library will (an endless header line, a body that never ends). The
well-behaved-but-faulty cases (drops, stalls, 429/5xx) are in ``test_faults_matrix.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import psutil
import pytest

from api_gemini import AsyncClient, Client, models
from api_gemini.emulator import Emulator
from api_gemini.emulator.faults import FAULT_HEADER
from api_gemini.errors import (
    ApiError,
    RateLimitError,
    ReadError,
    RequestTimeoutError,
    ResponseParseError,
    ServerError,
    ServiceUnavailableError,
    TransportError,
    TruncatedStreamError,
    UnexpectedResponseError,
)
from api_gemini.http import transport
from api_gemini.http.sse import ServerSentEvent, SSEDecoder
from api_gemini.http.transport import _chunk_from_event
from api_gemini.settings import Timeouts
from conftest import LeakCheck

MODEL = "gemini-2.5-flash"
KEY = "hostile-http-key-SECRET"
DEEP = b"[" * 20_000  # far deeper than any JSON decoder recurses
DEEP_CALL = (
    b'{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":'
    + DEEP
    + b"}}}]}}]}"
)

Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]


def chunked(data: bytes) -> bytes:
    """One chunk of a chunked transfer encoding."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def head(status: int = 200, content_type: str = "application/json", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
        f"Transfer-Encoding: chunked\r\n{extra}\r\n"
    ).encode()


@contextlib.asynccontextmanager
async def raw_server(write: Writer) -> AsyncIterator[str]:
    """A TCP server that reads one request head, then lets ``write`` answer it."""
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            await write(writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await server.wait_closed()


def body_writer(
    status: int, body: bytes, content_type: str = "application/json", extra: str = ""
) -> Writer:
    async def write(writer: asyncio.StreamWriter) -> None:
        writer.write(head(status, content_type, extra))
        if body:
            writer.write(chunked(body))
        writer.write(b"0\r\n\r\n")

    return write


def client(url: str, read: float = 2.0) -> AsyncClient:
    return AsyncClient(KEY, base_url=url, timeouts=Timeouts(connect=2, read=read, write=2, pool=2))


# --------------------------------------------------------------------------- unary


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'"a string"',
        b"null",
        b"",
        b"\xff\xfe\x00 not utf-8",
        b'{"candidates": "not a list"}',
        b'{"candidates": [{"content": {"parts": [{"text": 5}]}}]}',
        b'{"candidates": [{"finishReason": {"nested": true}}]}',
        b'{"usageMetadata": {"totalTokenCount": "many"}}',
        b'{"candidates": [',
        DEEP,
        DEEP_CALL,
    ],
    ids=lambda b: repr(b[:24]),
)
async def test_unary_bad_bodies_are_parse_errors(body: bytes, leak_check: LeakCheck) -> None:
    async with raw_server(body_writer(200, body)) as url, client(url) as c:
        with pytest.raises(ResponseParseError) as info:
            await c.models.by_name(MODEL).generate_content("hi")
    assert KEY not in str(info.value)
    await leak_check.assert_clean()


async def test_unary_unknown_keys_are_ignored() -> None:
    body = (
        b'{"somethingNew": {"x": [1]}, "candidates": [{"content": {"parts": '
        b'[{"text": "fine", "futurePart": 1}], "role": "model"}, "newField": null}]}'
    )
    async with raw_server(body_writer(200, body)) as url, client(url) as c:
        assert (await c.models.by_name(MODEL).generate_content("hi")).text == "fine"


@pytest.mark.parametrize(
    ("status", "body", "extra", "error", "retry_after"),
    [
        (500, DEEP, "", ServerError, None),
        (500, b'{"error": ' + DEEP, "", ServerError, None),
        (503, b"\xff\xfe garbage", "", ServiceUnavailableError, None),
        (429, b'{"error": 5}', "Retry-After: soon\r\n", RateLimitError, None),
        (
            429,
            b'{"error": {"code": "x", "details": "y"}}',
            "Retry-After: -3\r\n",
            RateLimitError,
            0.0,
        ),
        (
            503,
            b'{"error": {"details": [{"@type": "x.RetryInfo", "retryDelay": "abcs"}]}}',
            "",
            ServiceUnavailableError,
            None,
        ),
        (418, b"", "", ApiError, None),
        (429, b"", "Retry-After: inf\r\n", RateLimitError, None),
        (429, b"", "Retry-After: nan\r\n", RateLimitError, None),
        (
            503,
            b'{"error": {"details": [{"@type": "x.RetryInfo", "retryDelay": "1e999s"}]}}',
            "",
            ServiceUnavailableError,
            None,
        ),
    ],
)
async def test_unary_hostile_error_bodies_are_typed(
    status: int,
    body: bytes,
    extra: str,
    error: type[ApiError],
    retry_after: float | None,
) -> None:
    async with raw_server(body_writer(status, body, extra=extra)) as url, client(url) as c:
        with pytest.raises(error) as info:
            await c.models.by_name(MODEL).generate_content("hi")
    assert info.value.status == status
    assert info.value.retry_after == retry_after
    assert len(info.value.message) <= 1000  # a huge body is not copied into the message


async def test_an_endless_success_body_stops_at_the_limit(
    emulator: Emulator, leak_check: LeakCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator's ``endless`` plan: a 200 JSON body that never ends."""
    leak_check.rebase()
    monkeypatch.setattr(transport, "MAX_RESPONSE_BYTES", 4 * 1024 * 1024)
    rss = psutil.Process().memory_info().rss
    async with AsyncClient(KEY, base_url=emulator.base_url, headers={FAULT_HEADER: "endless"}) as c:
        start = time.perf_counter()
        with pytest.raises(ResponseParseError, match="larger than"):
            await c.models.by_name(MODEL).generate_content("hi")
        assert time.perf_counter() - start < 2.0
    assert psutil.Process().memory_info().rss - rss < 64 * 1024 * 1024


async def test_an_endless_error_body_is_cut_not_buffered() -> None:
    async def write(writer: asyncio.StreamWriter) -> None:
        writer.write(head(500))
        while True:
            writer.write(chunked(b"x" * 65536))
            await writer.drain()

    async with raw_server(write) as url, client(url) as c:
        with pytest.raises(ServerError) as info:
            await c.models.by_name(MODEL).generate_content("hi")
    assert len(info.value.message) <= 1000


@pytest.mark.parametrize(
    "prefix",
    [b"HTTP/1.1 200 OK\r\nX-Endless: ", b"HTTP/1.1 200 ", b""],
    ids=["endless header", "endless status line", "endless garbage"],
)
async def test_endless_response_head_is_a_transport_error(
    prefix: bytes, leak_check: LeakCheck
) -> None:
    async def write(writer: asyncio.StreamWriter) -> None:
        writer.write(prefix)
        while True:
            writer.write(b"a" * 65536)
            await writer.drain()

    async with raw_server(write) as url, client(url) as c:
        start = time.perf_counter()
        with pytest.raises(TransportError):
            await c.models.by_name(MODEL).generate_content("hi")
        assert time.perf_counter() - start < 2.0
    await leak_check.assert_clean()


# --------------------------------------------------------------------------- SSE


def sse_writer(*events: bytes, then: Writer | None = None) -> Writer:
    async def write(writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, "text/event-stream"))
        for event in events:
            writer.write(chunked(event))
        if then is not None:
            await then(writer)
        writer.write(b"0\r\n\r\n")

    return write


GOOD = b'data: {"candidates": [{"content": {"parts": [{"text": "ok "}]}}]}\n\n'


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (b"data: [1, 2]\n\n", ResponseParseError),
        (b'data: "a string"\n\n', ResponseParseError),
        (b"data: null\n\n", ResponseParseError),
        (b"data: \xff\xfe\x00\n\n", ResponseParseError),
        (b'data: {"candidates": 7}\n\n', ResponseParseError),
        (b'data: {"candidates": [{"content": {"parts": [{"text": []}]}}]}\n\n', ResponseParseError),
        (b'data: {"candidates": [\n\n', ResponseParseError),
        (b"data: " + DEEP + b"\n\n", ResponseParseError),
        (b"data: " + DEEP_CALL + b"\n\n", ResponseParseError),
        (b'data: {"error": ' + DEEP + b"\n\n", ServerError),
        (b'data: {"error": 5}\n\n', ServerError),
        (b'data: {"error": {"code": 429, "message": "slow down"}}\n\n', RateLimitError),
    ],
    ids=lambda v: repr(v[:30]) if isinstance(v, bytes) else v.__name__,
)
async def test_sse_bad_events_after_good_ones(
    event: bytes, error: type[Exception], leak_check: LeakCheck
) -> None:
    async with raw_server(sse_writer(GOOD, GOOD, event, GOOD)) as url, client(url) as c:
        texts: list[str] = []
        with pytest.raises(error):
            async with await c.models.by_name(MODEL).stream_generate_content("hi") as s:
                async for chunk in s:
                    texts.append(chunk.text)
    assert texts == ["ok ", "ok "]  # the chunks before, each once, in order
    await leak_check.assert_clean()


async def test_sse_unknown_keys_comments_and_unknown_fields_are_skipped() -> None:
    events = [
        b": a comment\n",
        b"retry: 10\nid: 7\nfoo: bar\n",
        b'data: {"candidates": [{"content": {"parts": [{"text": "a"}]}}], "newTopLevel": {}}\n\n',
        b"event: ping\n\n",
        b'data: {"candidates": [{"content": {"parts": [{"text": "b", "newPartField": 1}]},'
        b' "finishReason": "STOP"}]}\n\n',
    ]
    async with (
        raw_server(sse_writer(*events)) as url,
        client(url) as c,
        await c.models.by_name(MODEL).stream_generate_content("hi") as s,
    ):
        assert [chunk.text async for chunk in s] == ["a", "b"]


async def test_sse_an_endless_line_at_the_real_limit(leak_check: LeakCheck) -> None:
    """16 MiB, the default: refused fast (the decoder is linear) and the memory is freed."""

    async def endless(writer: asyncio.StreamWriter) -> None:
        while True:
            writer.write(chunked(b"x" * 65536))
            await writer.drain()

    async with raw_server(sse_writer(GOOD, b"data: ", then=endless)) as url, client(url) as c:
        start = time.perf_counter()
        texts: list[str] = []
        with pytest.raises(ResponseParseError, match="longer than"):
            async with await c.models.by_name(MODEL).stream_generate_content("hi") as s:
                async for chunk in s:
                    texts.append(chunk.text)
        assert time.perf_counter() - start < 3.0
    assert texts == ["ok "]
    await leak_check.assert_clean()


async def test_sse_endless_data_lines_in_one_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short lines, but the event never ends: bounded by the event limit."""
    monkeypatch.setattr(transport, "MAX_SSE_EVENT_BYTES", 1024 * 1024)

    async def endless(writer: asyncio.StreamWriter) -> None:
        while True:
            writer.write(chunked(b"data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" * 1000))
            await writer.drain()

    async with raw_server(sse_writer(then=endless)) as url, client(url) as c:
        with pytest.raises(ResponseParseError, match="event data longer"):
            async with await c.models.by_name(MODEL).stream_generate_content("hi") as s:
                _ = [chunk async for chunk in s]


async def test_sse_a_paused_consumer_under_an_endless_flood(
    emulator: Emulator, leak_check: LeakCheck
) -> None:
    """The reader stops; TCP pushes back on the emulator; memory stays flat."""
    leak_check.rebase()
    process = psutil.Process()
    headers = {FAULT_HEADER: "endless"}
    async with (
        AsyncClient(KEY, base_url=emulator.base_url, headers=headers) as c,
        await c.models.by_name(MODEL).stream_generate_content("hi") as s,
    ):
        first = [await anext(s) for _ in range(10)]
        assert [x.text for x in first] == [f"{i}," for i in range(10)]
        rss = process.memory_info().rss
        # Paused: wait until the server can send no more (its count stops moving).
        sent = -1
        deadline = time.monotonic() + 5
        while emulator.stats.http_chunks != sent:
            assert time.monotonic() < deadline, "the server was never pushed back"
            sent = emulator.stats.http_chunks
            await asyncio.sleep(0.1)
        assert process.memory_info().rss - rss < 32 * 1024 * 1024
        # Reading on gives the rest in order: nothing lost, nothing twice.
        more = [(await anext(s)).text for _ in range(1000)]
        assert more == [f"{i}," for i in range(10, 1010)]
    await leak_check.assert_clean()


@pytest.mark.parametrize(
    "trickle",
    [b": keepalive\n", b"\n", b"id: 1\n", b"data: never dispatched\n"],
    ids=["comments", "blank lines", "ids", "data without its blank line"],
)
async def test_sse_bytes_that_never_make_an_event_hit_the_read_timeout(
    trickle: bytes, leak_check: LeakCheck
) -> None:
    """The read timeout restarts with every byte; the time between events is bounded too."""

    async def forever(writer: asyncio.StreamWriter) -> None:
        while True:
            writer.write(chunked(trickle))
            await writer.drain()
            await asyncio.sleep(0.02)

    async with raw_server(sse_writer(GOOD, then=forever)) as url, client(url, read=0.2) as c:
        texts: list[str] = []
        start = time.perf_counter()
        with pytest.raises(RequestTimeoutError, match="no SSE event"):
            async with await c.models.by_name(MODEL).stream_generate_content("hi") as s:
                async for chunk in s:
                    texts.append(chunk.text)
        assert time.perf_counter() - start < 0.2 + 0.2 + 1.0
    assert texts == ["ok "]
    await leak_check.assert_clean()


async def test_a_slow_consumer_is_not_a_slow_server(emulator: Emulator) -> None:
    """Time the caller spends between chunks does not count against the event gap."""
    headers = {FAULT_HEADER: "endless"}
    timeouts = Timeouts(read=0.1)
    async with (
        AsyncClient(KEY, base_url=emulator.base_url, headers=headers, timeouts=timeouts) as c,
        await c.models.by_name(MODEL).stream_generate_content("hi") as s,
    ):
        for i in range(300):
            assert (await anext(s)).text == f"{i},"
            if i % 100 == 0:
                await asyncio.sleep(0.3)  # three times the read timeout


def test_the_sse_decoder_is_linear_on_a_long_line() -> None:
    """8 MiB in 1 KiB reads: was quadratic (every read copied the whole partial line)."""
    decoder = SSEDecoder()
    piece = b"x" * 1024
    start = time.perf_counter()
    decoder.feed(b"data: ")
    for _ in range(8 * 1024):
        assert decoder.feed(piece) == []
    (event,) = decoder.feed(b"\n\n")
    assert len(event.data) == 8 * 1024 * 1024
    assert time.perf_counter() - start < 1.0


def test_the_sse_decoder_bounds_an_event_of_many_lines() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    decoder.feed(b"data: x\n" * 100)
    with pytest.raises(ValueError, match="event data longer"):
        decoder.feed(b"data: x\n" * 100)
    # Dispatching resets the count.
    fresh = SSEDecoder(max_event_bytes=1000)
    for _ in range(50):
        assert len(fresh.feed(b"data: x\n" * 50 + b"\n")) == 1


async def test_a_read_error_mid_sse_is_typed() -> None:
    async def cut(writer: asyncio.StreamWriter) -> None:
        writer.write(b"5\r\nda")  # a chunk cut in the middle, then the socket closes
        await writer.drain()

    async with raw_server(sse_writer(GOOD, then=cut)) as url, client(url) as c:
        texts: list[str] = []
        with pytest.raises(ReadError):
            async with await c.models.by_name(MODEL).stream_generate_content("hi") as s:
                async for chunk in s:
                    texts.append(chunk.text)
    assert texts == ["ok "]


# --------------------------------------------------------------------------- issue 12


SLOW_DOWN = {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}


@pytest.mark.parametrize(
    "event",
    [
        b"data: " + json.dumps(SLOW_DOWN, indent=2).encode().replace(b"\n", b"\ndata: ") + b"\n\n",
        b'data: {\ndata:   "error": {"code": 429,\ndata: "message": "slow down"}\ndata: }\n\n',
        b'data: {"id": "x", "error": {"code": 429, "message": "slow down"}}\n\n',
        b'data: {"usageMetadata": {}, "error": {"code": 429, "message": "slow down"}}\n\n',
        b'data:    {  "error"  :  {"code": 429, "message": "slow down"}}\r\n\r\n',
        b'data: {"\\u0065rror": {"code": 429, "message": "slow down"}}\n\n',
        b'event: error\ndata: {"error": {"message": "slow down", "code": 429}}\n\n',
    ],
    ids=["pretty", "split", "other key first", "usage first", "spaces crlf", "escaped", "typed"],
)
async def test_sse_error_events_in_any_layout(event: bytes, leak_check: LeakCheck) -> None:
    """Was: only data starting with ``{"error"`` was an error; the rest were empty chunks
    and the stream "succeeded"."""
    async with raw_server(sse_writer(GOOD, GOOD, event)) as url, client(url) as c:
        texts: list[str] = []
        with pytest.raises(RateLimitError, match="slow down"):
            async with await c.models.by_name(MODEL).stream_generate_content("hi") as s:
                async for chunk in s:
                    texts.append(chunk.text)
    assert texts == ["ok ", "ok "]
    await leak_check.assert_clean()


def test_a_chunk_that_only_says_error_is_a_chunk() -> None:
    """The slow check looks at the top-level keys, not at text that reads "error"."""
    data = '{"candidates": [{"content": {"parts": [{"text": "error"}]}, "error": 1}]}'
    assert _chunk_from_event(ServerSentEvent(data)).text == "error"


LAST = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "end"}]}, "finishReason": "STOP"}]}\n\n'
)
USAGE = b'data: {"usageMetadata": {"totalTokenCount": 3}}\n\n'
BLOCKED = b'data: {"promptFeedback": {"blockReason": "SAFETY"}}\n\n'


@pytest.mark.parametrize(
    ("events", "texts"),
    [((GOOD, GOOD), ["ok ", "ok "]), ((), []), ((GOOD, USAGE), ["ok ", ""])],
    ids=["two chunks", "no chunk", "usage without finish"],
)
async def test_sse_a_stream_ending_without_finish_reason_is_truncated(
    events: tuple[bytes, ...], texts: list[str], leak_check: LeakCheck
) -> None:
    """Was: a clean end after some chunks, none with a finishReason, was taken as the
    whole answer."""
    async with raw_server(sse_writer(*events)) as url, client(url) as c:
        got: list[str] = []
        with pytest.raises(TruncatedStreamError) as info:
            async with await c.models.by_name(MODEL).stream_generate_content("hi") as s:
                async for chunk in s:
                    got.append(chunk.text)
    assert got == texts
    assert info.value.chunks_received == len(texts)
    assert isinstance(info.value, ReadError)  # a transport failure: retryable
    await leak_check.assert_clean()


@pytest.mark.parametrize(
    ("events", "texts"),
    [((GOOD, LAST), ["ok ", "end"]), ((LAST, USAGE), ["end", ""]), ((BLOCKED,), [""])],
    ids=["finish last", "usage after finish", "prompt blocked"],
)
async def test_sse_complete_streams_are_not_truncated(
    events: tuple[bytes, ...], texts: list[str]
) -> None:
    async with (
        raw_server(sse_writer(*events)) as url,
        client(url) as c,
        await c.models.by_name(MODEL).stream_generate_content("hi") as s,
    ):
        assert [chunk.text async for chunk in s] == texts


WRONG_ANSWERS = [
    (302, b"{}", "application/json", "Location: https://portal.example/login\r\n"),
    (301, b"", "text/html", "Location: /elsewhere\r\n"),
    (307, GOOD, "text/event-stream", ""),
    (204, b"", "application/json", ""),
    (201, b"{}", "application/json", ""),
    (200, b"<html><body>Log in to the Wi-Fi</body></html>", "text/html", ""),
    (200, GOOD + LAST, "text/plain", ""),
]
WRONG_IDS = ["302 json", "301 html", "307 sse", "204", "201", "200 html", "200 text"]


@pytest.mark.parametrize(("status", "body", "content_type", "extra"), WRONG_ANSWERS, ids=WRONG_IDS)
async def test_wrong_status_or_content_type_to_a_stream_is_typed(
    status: int, body: bytes, content_type: str, extra: str, leak_check: LeakCheck
) -> None:
    """Was: 0 chunks and no error (a captive portal answering instead of the API)."""
    writer = body_writer(status, body, content_type, extra)
    async with raw_server(writer) as url, client(url) as c:
        with pytest.raises(UnexpectedResponseError) as info:
            async with await c.models.by_name(MODEL).stream_generate_content("hi") as s:
                _ = [chunk async for chunk in s]
    assert info.value.status == status
    await leak_check.assert_clean()


@pytest.mark.parametrize(("status", "body", "content_type", "extra"), WRONG_ANSWERS, ids=WRONG_IDS)
async def test_wrong_status_or_content_type_to_a_unary_call_is_typed(
    status: int, body: bytes, content_type: str, extra: str, leak_check: LeakCheck
) -> None:
    """Was: a 302 with body ``{}`` gave ``text == ''``."""
    async with raw_server(body_writer(status, body, content_type, extra)) as url, client(url) as c:
        with pytest.raises(UnexpectedResponseError) as info:
            await c.models.by_name(MODEL).generate_content("hi")
    assert info.value.status == status
    if status == 302:
        assert "portal.example/login" in str(info.value) and "redirect" in str(info.value)
    await leak_check.assert_clean()


def test_wrong_answers_are_typed_in_the_sync_client_too() -> None:
    async def serve(ready: asyncio.Future[str], done: asyncio.Event) -> None:
        writer = body_writer(302, b"{}", extra="Location: https://portal.example/\r\n")
        async with raw_server(writer) as url:
            ready.set_result(url)
            await done.wait()

    with threaded_loop() as loop:
        ready: asyncio.Future[str] = asyncio.run_coroutine_threadsafe(_future(), loop).result()
        done = asyncio.run_coroutine_threadsafe(_event(), loop).result()
        server = asyncio.run_coroutine_threadsafe(serve(ready, done), loop)
        url = asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(5)
        try:
            with Client(KEY, base_url=url) as c:
                model = c.models.by_name(MODEL)
                with pytest.raises(UnexpectedResponseError):
                    model.generate_content("hi")
                with (
                    pytest.raises(UnexpectedResponseError),
                    model.stream_generate_content("hi") as s,
                ):
                    _ = list(s)
        finally:
            loop.call_soon_threadsafe(done.set)
            server.result(5)


async def _future() -> asyncio.Future[str]:
    return asyncio.get_running_loop().create_future()


async def _event() -> asyncio.Event:
    return asyncio.Event()


async def _wait(future: asyncio.Future[str]) -> str:
    return await future


@contextlib.contextmanager
def threaded_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop in a thread, for servers that a sync client talks to."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def page_server(tokens: Callable[[int], str]) -> tuple[Writer, list[int]]:
    """Answers every request with one model and ``nextPageToken = tokens(n)``."""
    served: list[int] = []

    async def write(writer: asyncio.StreamWriter) -> None:
        served.append(len(served))
        page = {
            "models": [{"name": f"models/m{len(served)}"}],
            "nextPageToken": tokens(len(served)),
        }
        await body_writer(200, json.dumps(page).encode())(writer)

    return write, served


@pytest.mark.parametrize(
    "tokens",
    [lambda n: "same", lambda n: f"t{n % 3}"],
    ids=["one token again", "a cycle of three"],
)
async def test_models_list_stops_on_a_repeated_page_token(
    tokens: Callable[[int], str], leak_check: LeakCheck
) -> None:
    """Was: 11,851 pages in 10 s, for ever."""
    write, served = page_server(tokens)
    async with raw_server(write) as url, client(url) as c:
        with pytest.raises(ResponseParseError, match="repeated the page token"):
            await c.models.list()
    assert len(served) <= 4
    await leak_check.assert_clean()


async def test_models_list_has_a_page_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new token every time: stopped at ``MAX_LIST_PAGES``."""
    monkeypatch.setattr(models, "MAX_LIST_PAGES", 20)
    write, served = page_server(lambda n: f"token-{n}")
    async with raw_server(write) as url, client(url) as c:
        with pytest.raises(ResponseParseError, match="more than 20 pages"):
            await c.models.list()
    assert len(served) == 20


@pytest.mark.parametrize("call", ["unary", "sse"])
async def test_cancelling_during_the_tls_handshake_leaves_no_socket(
    call: str, leak_check: LeakCheck
) -> None:
    """A server that accepts TCP and never answers the TLS ClientHello; the call is
    cancelled mid-handshake. Was: the socket stayed open (CLOSE_WAIT) after
    ``client.aclose()``, until garbage collection."""
    accepted = asyncio.Event()
    peers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)
        accepted.set()
        await reader.read()  # until the client closes its side
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    leak_check.rebase()
    gc.disable()  # a collection would close the leaked socket and hide the leak
    try:
        c = AsyncClient(KEY, base_url=f"https://127.0.0.1:{port}")
        model = c.models.by_name(MODEL)
        started = (
            model.generate_content("hi") if call == "unary" else model.stream_generate_content("hi")
        )
        task = asyncio.ensure_future(started)
        await accepted.wait()
        await asyncio.sleep(0.05)  # the ClientHello is out; the handshake waits
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await c.aclose()
        await leak_check.assert_clean()
    finally:
        gc.enable()
        for peer in peers:
            peer.close()
        server.close()
        await server.wait_closed()


def test_ctrl_c_during_a_sync_tls_handshake_leaves_no_socket() -> None:
    """The sync twin: a KeyboardInterrupt (a real SIGINT to this thread) while the
    handshake waits. A guard: the sync path did not leak before either (the ``ssl``
    module's socket is freed with the exception), but the closing backend covers it."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT goes to the main thread")
    process = psutil.Process()
    before = len(process.net_connections(kind="inet"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    def accept_then_interrupt() -> None:
        peer, _ = listener.accept()
        accepted.append(peer)
        peer.recv(1024)  # the ClientHello: the client now waits for the ServerHello
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    gc.disable()
    helper = threading.Thread(target=accept_then_interrupt)
    try:
        with Client(KEY, base_url=f"https://127.0.0.1:{port}") as c:
            helper.start()
            with pytest.raises(KeyboardInterrupt):
                c.models.by_name(MODEL).generate_content("hi")
        helper.join(5)
        for peer in accepted:
            peer.close()
        listener.close()
        # <=: a socket of an earlier test may still have been closing at "before".
        assert len(process.net_connections(kind="inet")) <= before
    finally:
        gc.enable()
        listener.close()
