"""A slice of the fault matrix through the synchronous ``Client``: the same four surfaces
(WebSocket stream, Live session, SSE stream, unary call), the same typed errors, the
chunks before the fault exactly once and in order, and no thread, file descriptor or
socket left behind once the client is closed.

The emulator runs on its own loop in a thread, as a sync program's server would.
"""

from __future__ import annotations

import asyncio
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from api_gemini import Client
from api_gemini.emulator import Emulator, EmulatorConfig
from api_gemini.emulator.faults import FAULT_HEADER
from api_gemini.errors import (
    DisconnectedError,
    KeepaliveTimeoutError,
    MessageParseError,
    ReadError,
    RequestTimeoutError,
    ResponseParseError,
    ServiceUnavailableError,
    WebSocketConnectionError,
)
from api_gemini.settings import Timeouts, WebSocketSettings
from api_gemini.types import Content, GenerateContentRequest
from api_gemini.websocket import ModelTurn, OutputTranscription

KEY = "sync-matrix-key-SECRET"
LIVE_MODEL = "gemini-3.8-live"
HTTP_MODEL = "gemini-2.5-flash"
WORDS = [f"w{i}" for i in range(12)]
PROMPT = "echo: " + " ".join(WORDS)
ANSWER = [w + " " for w in WORDS[:-1]] + [WORDS[-1]]
SURFACES = ("ws-stream", "live", "sse", "unary")

#: fault -> (error on ws-stream and live, error on sse, error on unary, chunks on streams)
ROWS: dict[str, tuple[type[Exception], type[Exception], type[Exception], int]] = {
    "close-1011-after-3": (DisconnectedError, ReadError, ReadError, 3),
    "malformed-after-3": (MessageParseError, ResponseParseError, ResponseParseError, 3),
    "http-503-retry-1": (
        WebSocketConnectionError,
        ServiceUnavailableError,
        ServiceUnavailableError,
        0,
    ),
    "nopong-after-3": (KeepaliveTimeoutError, RequestTimeoutError, RequestTimeoutError, 3),
}


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    """An emulator on its own loop in a thread, for the module."""
    ready: queue.Queue[str] = queue.Queue()
    stop = threading.Event()

    async def main() -> None:
        async with Emulator(EmulatorConfig(tokens_per_second=400)) as emu:
            ready.put(emu.base_url)
            while not stop.is_set():
                await asyncio.sleep(0.005)

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="sync-matrix-emulator")
    thread.start()
    try:
        yield ready.get(timeout=10)
    finally:
        stop.set()
        thread.join(10)


def _drive(surface: str, client: Client, texts: list[str]) -> None:
    request = GenerateContentRequest(contents=[Content.user_text(PROMPT)])
    if surface == "ws-stream":
        with client.models.by_name(LIVE_MODEL).stream_generate_content_websocket(request) as s:
            for chunk in s:
                if chunk.text:
                    texts.append(chunk.text)
    elif surface == "live":
        with client.models.by_name(LIVE_MODEL).connect() as live:
            live.send_text(PROMPT)
            for event in live.receive_turn():
                if isinstance(event, ModelTurn | OutputTranscription) and event.text:
                    texts.append(event.text)
    elif surface == "sse":
        with client.models.by_name(HTTP_MODEL).stream_generate_content(request) as sse:
            for chunk in sse:
                if chunk.text:
                    texts.append(chunk.text)
    else:
        texts.append(client.models.by_name(HTTP_MODEL).generate_content(request).text)


def _held() -> tuple[set[int], int, int]:
    process = psutil.Process()
    threads = {t.ident for t in threading.enumerate() if t.ident is not None}
    return threads, process.num_fds(), len(process.net_connections(kind="inet"))


def _settle(before: tuple[set[int], int, int], timeout: float = 2.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        threads, fds, conns = _held()
        problems = []
        if threads - before[0]:
            problems.append(f"{len(threads - before[0])} more threads")
        if fds > before[1]:
            problems.append(f"{fds - before[1]} more fds")
        if conns > before[2]:
            problems.append(f"{conns - before[2]} more sockets")
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.005)


CELLS = [(fault, surface) for fault in ROWS for surface in SURFACES]


@pytest.mark.parametrize(("fault", "surface"), CELLS, ids=[f"{f}|{s}" for f, s in CELLS])
def test_sync_fault_matrix(fault: str, surface: str, emulator_url: str) -> None:
    ws_error, sse_error, unary_error, chunks = ROWS[fault]
    expected_error: Any = {"sse": sse_error, "unary": unary_error}.get(surface, ws_error)
    before = _held()
    texts: list[str] = []
    start = time.perf_counter()
    with (
        Client(
            KEY,
            base_url=emulator_url,
            headers={FAULT_HEADER: fault},
            timeouts=Timeouts(connect=2, read=0.15, write=2, pool=2),
            websocket=WebSocketSettings(
                keepalive_interval=0.05, keepalive_timeout=0.2, close_timeout=0.1
            ),
        ) as client,
        pytest.raises(expected_error) as info,
    ):
        _drive(surface, client, texts)
    assert time.perf_counter() - start < 2.0
    assert texts == (ANSWER[:chunks] if surface != "unary" else [])
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert not _settle(before)


# --------------------------------------------------------------------------- threads,
# interrupts and fork (issue 12 items 2, 4, 8, 11). Each row below failed on the code
# before the fix; none of them depends on timing: barriers and events order the threads,
# and every wait is bounded with a generous limit.

from api_gemini import PoolSettings  # noqa: E402  (this section's own imports)
from api_gemini._portal import LoopPortal  # noqa: E402
from api_gemini.errors import ClientClosedError, SessionStateError  # noqa: E402
from api_gemini.http.transport import HttpTransport  # noqa: E402
from api_gemini.types import GenerateContentResponse, GenerationConfig  # noqa: E402
from api_gemini.websocket import LiveEvent, TurnComplete  # noqa: E402
from api_gemini.websocket.pool import LivePool  # noqa: E402

#: Bound on every wait of this section (the waits themselves take milliseconds).
BOUND = 30.0
LONG = GenerateContentRequest(
    contents=[Content.user_text("Tell me a long story")],
    generation_config=GenerationConfig(max_output_tokens=4000),  # about 10 s at 400/s
)
LONG_LIVE = {"generationConfig": {"maxOutputTokens": 4000}}


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "api-gemini-loop"]


def _in_threads(count: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads; their results or exceptions, in order."""
    outcomes: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            outcomes[i] = work(i)
        except BaseException as exc:  # reported to the test, which asserts on it
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name=f"worker-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND)
        assert not thread.is_alive(), "a worker thread hung"
    return outcomes


def _count_and_hold(monkeypatch: pytest.MonkeyPatch, cls: Any) -> list[Any]:
    """Record every instance of ``cls`` made; hold the first construction open a while
    (bounded, 0.5 s) so that a second thread not kept out by a lock certainly gets in."""
    created: list[Any] = []
    second_entered = threading.Event()
    real_init = cls.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        created.append(self)
        if len(created) > 1:
            second_entered.set()
        else:
            second_entered.wait(0.5)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", counting_init)
    return created


def test_first_use_from_sixteen_threads_starts_one_loop_and_one_pool(
    emulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 item 2: sixteen threads make their first WebSocket call at once."""
    before = _held()
    portals = _count_and_hold(monkeypatch, LoopPortal)
    transports = _count_and_hold(monkeypatch, HttpTransport)
    client = Client(base_url=emulator_url, pool=PoolSettings(warm_per_key=1))
    start = threading.Barrier(16)

    def first_call(i: int) -> str:
        start.wait(BOUND)
        model = client.models.by_name(LIVE_MODEL)
        with model.stream_generate_content_websocket(f"echo: thread {i}") as stream:
            text = "".join(chunk.text for chunk in stream)
        # The HTTP transport is built by the first HTTP call (a WebSocket-only program
        # builds none): one, however many threads make theirs at once.
        client.models.get(LIVE_MODEL)
        return text

    try:
        outcomes = _in_threads(16, first_call)
        assert outcomes == [f"thread {i}" for i in range(16)]
        assert (len(portals), len(transports)) == (1, 1)
        assert len(_loop_threads()) == 1
        metrics = client.pool_metrics()
        assert metrics.hits + metrics.misses == 16
        deadline = time.monotonic() + BOUND  # the refills after the misses, bounded
        client.pool.wait_until(lambda m: m.opening == 0 or time.monotonic() > deadline)
        assert client.pool_metrics().opening == 0
        warm = client.pool_metrics().idle
        assert warm >= 1
    finally:
        client.close()  # raised "attached to a different loop" before the fix
    assert client.pool_metrics().discarded.get("pool_closed", 0) == warm
    assert _loop_threads() == []
    assert not _settle(before, timeout=BOUND)


def test_pool_metrics_and_health_are_read_on_the_loop_thread(
    emulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 item 2: the pool's state is the loop's; reading it from the caller's
    thread raced with the loop changing it."""
    readers: list[str] = []
    for name in ("metrics", "health"):
        real = getattr(LivePool, name)

        def recording(self: LivePool, _real: Any = real) -> Any:
            readers.append(threading.current_thread().name)
            return _real(self)

        monkeypatch.setattr(LivePool, name, recording)
    with Client(base_url=emulator_url) as client:
        client.models.by_name(LIVE_MODEL).prewarm(count=1)
        assert client.pool.metrics().idle == 1
        assert [h.state.name for h in client.pool.health()] == ["READY"]
        assert client.pool_metrics().idle == 1
    assert readers and set(readers) == {"api-gemini-loop"}
    # Once the loop has stopped, the last counts are still readable, here.
    assert client.pool_metrics().discarded == {"pool_closed": 1}


def _stream_until_closed(stream: Any, got_first: threading.Barrier) -> str:
    chunks: list[GenerateContentResponse] = [next(stream)]
    got_first.wait(BOUND)
    try:
        chunks.extend(stream)
    except ClientClosedError as exc:
        return "closed" if not exc.retryable else "closed, but retryable"
    # Ended without an error: only a stream that truly finished may do that.
    assert chunks[-1].finish_reason == "STOP", "the stream ended as if it had finished"
    return "finished"


def _session_until_closed(session: Any, got_first: threading.Barrier) -> str:
    session.send_text("Tell me a long story")
    events: list[LiveEvent] = [next(iter(session))]
    got_first.wait(BOUND)
    try:
        for event in session:
            events.append(event)
            if isinstance(event, TurnComplete):
                return "finished"
    except ClientClosedError:
        return "closed"
    raise AssertionError("the session ended as if it had finished")


def test_close_from_another_thread_ends_streams_in_use_with_a_typed_error(
    emulator_url: str,
) -> None:
    """Issue 12 item 8: close() while other threads stream; then calls on the closed
    client fail typed and not retryable, so a retry loop stops."""
    before = _held()
    client = Client(base_url=emulator_url)
    model = client.models.by_name(LIVE_MODEL)
    http_model = client.models.by_name(HTTP_MODEL)
    got_first = threading.Barrier(7)  # 3 streams, 3 sessions, and the closing thread

    def use(i: int) -> str:
        if i < 3:
            with model.stream_generate_content_websocket(LONG) as stream:
                return _stream_until_closed(stream, got_first)
        if i < 6:
            with model.connect(LONG_LIVE) as session:
                return _session_until_closed(session, got_first)
        got_first.wait(BOUND)
        client.close()
        return "closer"

    outcomes = _in_threads(7, use)
    assert outcomes == ["closed"] * 6 + ["closer"]
    calls: list[Callable[[], object]] = [
        lambda: model.stream_generate_content_websocket("echo: again"),
        lambda: model.connect(),
        lambda: http_model.generate_content("echo: again"),
        lambda: list(http_model.stream_generate_content("echo: again")),
        lambda: client.models,
    ]
    for call in calls:
        with pytest.raises(ClientClosedError) as info:
            call()
        assert info.value.retryable is False
    assert _loop_threads() == []
    assert not _settle(before, timeout=BOUND)


@pytest.mark.parametrize("rounds", [5])
def test_first_use_racing_close_leaves_nothing_running(emulator_url: str, rounds: int) -> None:
    """Issue 12 items 2 and 8: a first WebSocket call and close() at the same moment."""
    before = _held()
    for _ in range(rounds):
        client = Client(base_url=emulator_url)
        model = client.models.by_name(LIVE_MODEL)
        start = threading.Barrier(2)

        def race(i: int, client: Client = client, model: Any = model, start: Any = start) -> str:
            start.wait(BOUND)
            if i == 0:
                client.close()
                return "closer"
            try:
                with model.stream_generate_content_websocket("echo: race") as stream:
                    text = "".join(chunk.text for chunk in stream)
            except ClientClosedError:
                return "closed"
            assert text == "race"
            return "finished"

        outcomes = _in_threads(2, race)
        assert outcomes[0] == "closer" and outcomes[1] in ("closed", "finished")
        client.close()
        assert _loop_threads() == []
    assert not _settle(before, timeout=BOUND)


# ---- Ctrl-C (issue 12 item 4). The interrupt is a real SIGINT sent to the main thread
# while it waits for a chunk; its handler raises KeyboardInterrupt only once the chunk has
# arrived and been handed to the waiting thread: the exact moment the chunk used to be lost.


class _InterruptOnce:
    """Wraps an async stream or session: on the armed ``__anext__``, SIGINT the main
    thread while it waits, and let the chunk arrive before its handler raises."""

    def __init__(self, inner: Any, *, after_arrival: bool) -> None:
        self._inner = inner
        self._after_arrival = after_arrival
        self.armed = False
        self.fired = 0
        self._arrived = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __aiter__(self) -> _InterruptOnce:
        return self

    async def __anext__(self) -> Any:
        if not self.armed:
            return await self._inner.__anext__()
        self.armed = False
        return await self.around(self._inner.__anext__())

    async def _next_batch(self) -> Any:
        # What SyncStream calls: every chunk already buffered, in one hop.
        if not self.armed:
            return await self._inner._next_batch()
        self.armed = False
        return await self.around(self._inner._next_batch())

    async def around(self, awaitable: Any) -> Any:
        """Await ``awaitable`` with the interrupt sent while the main thread waits for it."""
        self._loop = asyncio.get_running_loop()
        self._arrived.clear()
        await _main_thread_waiting()
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        try:
            return await awaitable
        finally:
            self._arrived.set()

    def handler(self, signum: int, frame: Any) -> None:
        """The SIGINT handler (it runs in the main thread, inside its wait)."""
        self.fired += 1
        if self._after_arrival:
            assert self._arrived.wait(BOUND)
            # Two hops through the loop: the task's result has reached the waiting
            # thread's future (the loop runs callbacks in order). Only then interrupt.
            for _ in range(2):
                hop = threading.Event()
                assert self._loop is not None
                self._loop.call_soon_threadsafe(hop.set)
                assert hop.wait(BOUND)
        raise KeyboardInterrupt


async def _main_thread_waiting() -> None:
    """Wait (bounded) until the main thread is blocked waiting for this call's result."""
    main = threading.main_thread().ident
    async with asyncio.timeout(BOUND):
        while True:
            frame = sys._current_frames().get(main or 0)
            code = frame.f_code if frame is not None else None
            if (
                code is not None
                and code.co_name == "wait"
                and code.co_filename.endswith("threading.py")
            ):
                return
            await asyncio.sleep(0.001)


@pytest.fixture
def sigint() -> Iterator[Any]:
    """Install a SIGINT handler for the test; restore the previous one after."""
    previous = signal.getsignal(signal.SIGINT)
    installed: list[Any] = []

    def install(handler: Any) -> None:
        installed.append(handler)
        signal.signal(signal.SIGINT, handler)

    yield install
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("after_arrival", [True, False], ids=["after-arrival", "while-waiting"])
@pytest.mark.parametrize("at_chunk", [0, 5, 11])
def test_ctrl_c_while_streaming_loses_no_chunk(
    emulator_url: str, sigint: Any, after_arrival: bool, at_chunk: int
) -> None:
    """A caller who catches KeyboardInterrupt and keeps iterating misses nothing."""
    before = _held()
    with (
        Client(base_url=emulator_url) as client,
        client.models.by_name(LIVE_MODEL).stream_generate_content_websocket(PROMPT) as stream,
    ):
        interrupter = _InterruptOnce(stream._stream, after_arrival=after_arrival)
        stream._stream = interrupter  # type: ignore[assignment]
        sigint(interrupter.handler)
        texts: list[str] = []
        interrupts = 0
        while True:
            # At the first hop from chunk N on (a hop may bring several chunks).
            interrupter.armed = len(texts) >= at_chunk and not interrupts
            try:
                chunk = next(stream)
            except KeyboardInterrupt:
                interrupts += 1
                continue
            except StopIteration:
                break
            texts.append(chunk.text)
    assert (interrupts, interrupter.fired) == (1, 1)
    assert [t for t in texts if t] == ANSWER
    assert texts[-1] == "" or chunk.finish_reason == "STOP"
    assert not _settle(before, timeout=BOUND)


@pytest.mark.parametrize("after_arrival", [True, False], ids=["after-arrival", "while-waiting"])
def test_ctrl_c_in_a_session_loses_no_event(
    emulator_url: str, sigint: Any, after_arrival: bool
) -> None:
    """The same for a session: a fresh ``for event in session`` after the interrupt,
    and the same ``receive_turn()`` iterator going on after it."""
    before = _held()
    with (
        Client(base_url=emulator_url) as client,
        client.models.by_name(LIVE_MODEL).connect() as session,
    ):
        interrupter = _InterruptOnce(session._session, after_arrival=after_arrival)
        session._session = interrupter  # type: ignore[assignment]
        sigint(interrupter.handler)

        session.send_text(PROMPT)
        events: list[LiveEvent] = []
        interrupts = 0
        while not events or not isinstance(events[-1], TurnComplete):
            try:
                for event in session:
                    events.append(event)
                    interrupter.armed = len(events) == 4 and not interrupts
                    if isinstance(event, TurnComplete):
                        break
            except KeyboardInterrupt:
                interrupts += 1
        assert interrupts == 1
        assert [e.text for e in events if isinstance(e, OutputTranscription) and e.text] == ANSWER

        session.send_text(PROMPT)
        turn = session.receive_turn()
        events = []
        interrupts = 0
        while True:
            interrupter.armed = len(events) == 6 and not interrupts
            try:
                event = next(turn)
            except KeyboardInterrupt:
                interrupts += 1
                continue
            except StopIteration:
                break
            events.append(event)
        assert interrupts == 1
        assert isinstance(events[-1], TurnComplete)
        assert [e.text for e in events if isinstance(e, OutputTranscription) and e.text] == ANSWER
    assert interrupter.fired == 2
    assert not _settle(before, timeout=BOUND)


def test_ctrl_c_as_a_stream_opens_leaves_no_connection(
    emulator_url: str, sigint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted just as its connection opened, a stream nobody will see is closed."""
    import api_gemini.websocket

    before = _held()
    interrupter = _InterruptOnce(None, after_arrival=True)
    real_open = api_gemini.websocket.open_stream

    async def open_stream(*args: Any) -> Any:
        return await interrupter.around(real_open(*args))

    monkeypatch.setattr(api_gemini.websocket, "open_stream", open_stream)
    sigint(interrupter.handler)
    with Client(base_url=emulator_url) as client:
        model = client.models.by_name(LIVE_MODEL)
        endless = GenerateContentRequest(
            contents=LONG.contents, generation_config=GenerationConfig(max_output_tokens=60_000)
        )
        with pytest.raises(KeyboardInterrupt):
            model.stream_generate_content_websocket(endless)  # would stream for 150 s
        assert interrupter.fired == 1
        # Closed at once, not when the client closes: the next stream is the only one.
        monkeypatch.setattr(api_gemini.websocket, "open_stream", real_open)
        with model.stream_generate_content_websocket("echo: next") as stream:
            assert "".join(c.text for c in stream) == "next"
        # The client's loop thread and its fds aside, nothing is open: no socket.
        deadline = time.monotonic() + BOUND
        while _held()[2] > before[2] and time.monotonic() < deadline:
            time.sleep(0.005)
        assert _held()[2] == before[2]
    assert not _settle(before, timeout=BOUND)


# ---- fork (issue 12 item 11): the child gets a fresh loop and pool on first WebSocket
# use; what the parent had open raises a typed error there; the parent is unaffected.


def _in_child(client: Client, held: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"inherited_loop_threads": len(_loop_threads())}
    model = client.models.by_name(LIVE_MODEL)
    with model.stream_generate_content_websocket("echo: from the child") as stream:
        report["text"] = "".join(chunk.text for chunk in stream)
    report["loop_threads"] = len(_loop_threads())
    report["pool_misses"] = client.pool_metrics().misses
    try:
        next(held)
        report["held"] = "no error"
    except SessionStateError as exc:
        report["held"] = f"SessionStateError: {exc}"
    held.cancel()  # the parent's connection: a no-op here
    client.close()
    report["after_close"] = len(_loop_threads())
    return report


def test_a_forked_child_gets_a_fresh_loop_and_the_parent_carries_on(emulator_url: str) -> None:
    import json
    import os

    before = _held()
    client = Client(base_url=emulator_url)
    model = client.models.by_name(LIVE_MODEL)
    with model.stream_generate_content_websocket("echo: before the fork") as stream:
        assert "".join(c.text for c in stream) == "before the fork"
    held = model.stream_generate_content_websocket(PROMPT)
    first = next(held)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        status = 1
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(_in_child(client, held)).encode())
            status = 0
        except BaseException as exc:
            os.write(write_end, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        deadline = time.monotonic() + BOUND
        while (waited := os.waitpid(pid, os.WNOHANG)) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung using the inherited client")
            time.sleep(0.01)
        with os.fdopen(read_end, "rb") as pipe:
            report = json.loads(pipe.read() or b"{}")
    finally:
        rest = [first.text, *(c.text for c in held)]  # the parent's stream is intact
        client.close()
    assert os.waitstatus_to_exitcode(waited[1]) == 0, report
    assert report["inherited_loop_threads"] == 0
    assert report["text"] == "from the child"
    assert (report["loop_threads"], report["pool_misses"]) == (1, 1)
    assert report["held"].startswith("SessionStateError: this object was opened in the parent")
    assert report["after_close"] == 0
    assert [t for t in rest if t] == ANSWER
    assert not _settle(before, timeout=BOUND)
