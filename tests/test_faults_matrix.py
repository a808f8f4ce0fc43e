"""The fault matrix: every fault against every surface, through the public client.

Surfaces: ``ws-stream`` (``model.stream_generate_content_websocket``), ``live``
(``model.connect`` + ``send_text`` + ``receive_turn``), ``sse``
(``model.stream_generate_content``) and ``unary`` (``model.generate_content``).

Faults come from the emulator's fault plans (selected with the ``x-emulator-fault``
header, see :mod:`api_gemini.emulator.faults`) and from the TCP proxy
(:mod:`api_gemini.emulator.proxy`: reset, cut, black hole once three chunks arrived).

Every cell checks: the typed error of the row (or a normal end), within its time bound,
every chunk sent before the fault delivered exactly once and in order, and nothing left
behind (asyncio tasks, file descriptors, sockets: the ``leak_check`` fixture).

Times are scaled down (keepalive 50 ms / 200 ms, read timeout 120 ms, size limits
64 KiB) so the whole matrix runs in a few seconds. Set ``API_GEMINI_MATRIX_JSON`` to a
file path to get one JSON line per cell (``scripts/reliability_report.py`` does).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from api_gemini import AsyncClient
from api_gemini.emulator import Emulator
from api_gemini.emulator.faults import FAULT_HEADER
from api_gemini.emulator.proxy import FaultProxy
from api_gemini.errors import (
    DisconnectedError,
    KeepaliveTimeoutError,
    MessageParseError,
    MessageTooBigError,
    RateLimitError,
    ReadError,
    RequestTimeoutError,
    ResponseParseError,
    ServerError,
    ServiceUnavailableError,
    SetupRejectedError,
    TruncatedStreamError,
    UnexpectedResponseError,
    WebSocketConnectionError,
)
from api_gemini.http import transport
from api_gemini.settings import Timeouts, WebSocketSettings
from api_gemini.types import Content, GenerateContentRequest
from api_gemini.websocket import GoAway, ModelTurn, OutputTranscription
from conftest import LeakCheck, MakeEmulator

KEY = "matrix-key-SECRET-0123456789"
LIVE_MODEL = "gemini-3.8-live"
HTTP_MODEL = "gemini-2.5-flash"
SURFACES = ("ws-stream", "live", "sse", "unary")
WORDS = [f"w{i}" for i in range(12)]
PROMPT = "echo: " + " ".join(WORDS)
#: The answer's chunks, as the emulator sends them (one word token each).
ANSWER = [w + " " for w in WORDS[:-1]] + [WORDS[-1]]
FLOOD = 2000
#: Chunks sent before an emulator fault (the ``-after-3`` of the specs).
N = 3
LIMIT = 64 * 1024  # client size limits in the matrix (WS frame, SSE event, unary body)
READ_TIMEOUT = 0.12
KEEPALIVE = (0.05, 0.2)  # interval, timeout
OPEN_TIMEOUT = 2.0
#: The open timeout of the ``stall-at-setup`` row, whose opening must time out.
SHORT_OPEN_TIMEOUT = 0.2
#: A caller's own deadline; only the stall rows on Live surfaces reach it (by design).
CALLER_DEADLINE = 0.2
HANG_GUARD = 5.0


@dataclass(frozen=True)
class Expect:
    """What a cell must show."""

    #: The error class (exactly this class or a subclass); None: a normal end.
    error: type[BaseException] | None
    #: Chunks that must arrive, exactly: an int (a prefix of the answer), or "all".
    chunks: int | str | None = None
    #: Seconds from the call to the error (or the end).
    bound: float = 1.5
    #: Extra checks on the error.
    check: Callable[[BaseException], bool] | None = None
    #: A chunk list other than ``ANSWER`` (the flood).
    expected: list[str] | None = None
    #: Only a prefix of at least this many chunks is required (proxy faults: chunks in
    #: flight at the moment of the fault may or may not arrive).
    at_least: int | None = None
    #: Why the outcome is what it is, for the report.
    note: str = ""


def _code(code: int, retryable: bool) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        assert isinstance(exc, DisconnectedError)
        assert exc.close_code == code, exc.close_code
        assert exc.retryable is retryable
        return True

    return check


def _setup_code(code: int) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        assert isinstance(exc, SetupRejectedError)
        assert exc.close_code == code, exc.close_code
        return True

    return check


def _status(status: int) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        assert isinstance(exc, WebSocketConnectionError)
        assert exc.http_status == status
        return True

    return check


def _status_none(exc: BaseException) -> bool:
    assert isinstance(exc, WebSocketConnectionError)
    assert exc.http_status is None
    return True


def _retry(after: float | None) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        assert getattr(exc, "retry_after", None) == after
        return True

    return check


def _ws_and_http(ws: Expect, sse: Expect, unary: Expect) -> dict[str, Expect]:
    return {"ws-stream": ws, "live": ws, "sse": sse, "unary": unary}


_OK_HTTP = Expect(None, "all", note="no such thing over HTTP: served normally")
_TIMEOUT_HTTP = _ws_and_http(
    Expect(None),  # replaced per row
    Expect(RequestTimeoutError, N, bound=READ_TIMEOUT + 1.0, note="read timeout"),
    Expect(RequestTimeoutError, 0, bound=READ_TIMEOUT + 1.0, note="read timeout"),
)

#: fault spec -> surface -> expectation. ``net-*`` rows are proxy faults.
MATRIX: dict[str, dict[str, Expect]] = {
    "close-1011-after-3": _ws_and_http(
        Expect(DisconnectedError, N, check=_code(1011, True)),
        Expect(ReadError, N, note="TCP dropped mid-body"),
        Expect(ReadError, 0, note="TCP dropped before the status line"),
    ),
    "close-1000-after-3": _ws_and_http(
        Expect(DisconnectedError, N, check=_code(1000, False), note="1000 mid-turn loses data"),
        Expect(ReadError, N),
        Expect(ReadError, 0),
    ),
    "close-1008-after-3": _ws_and_http(
        Expect(DisconnectedError, N, check=_code(1008, False)),
        Expect(ReadError, N),
        Expect(ReadError, 0),
    ),
    "close-1011-at-setup": _ws_and_http(
        Expect(SetupRejectedError, 0, check=_setup_code(1011), note="before setupComplete"),
        Expect(ReadError, 0, note="TCP dropped before the status line"),
        Expect(ReadError, 0),
    ),
    "stall-at-setup": _ws_and_http(
        Expect(
            WebSocketConnectionError,
            0,
            bound=SHORT_OPEN_TIMEOUT + 1.0,
            check=_status_none,
            note="no setupComplete: open_timeout",
        ),
        Expect(RequestTimeoutError, 0, bound=READ_TIMEOUT + 1.0, note="read timeout"),
        Expect(RequestTimeoutError, 0, bound=READ_TIMEOUT + 1.0, note="read timeout"),
    ),
    "malformed-at-setup": _ws_and_http(
        Expect(MessageParseError, 0, note="instead of setupComplete"),
        Expect(ResponseParseError, 0),
        Expect(ResponseParseError, 0),
    ),
    "goaway-after-3": _ws_and_http(
        Expect(DisconnectedError, N, check=_code(1011, True), note="goAway, then 1011"),
        _OK_HTTP,
        _OK_HTTP,
    ),
    "stall-after-3": {
        **_TIMEOUT_HTTP,
        "ws-stream": Expect(
            TimeoutError,
            N,
            bound=CALLER_DEADLINE + 1.0,
            note="caller's deadline: a Live connection that answers pings is healthy",
        ),
        "live": Expect(
            TimeoutError,
            N,
            bound=CALLER_DEADLINE + 1.0,
            note="caller's deadline: a Live connection that answers pings is healthy",
        ),
    },
    "nopong-after-3": {
        **_TIMEOUT_HTTP,
        "ws-stream": Expect(KeepaliveTimeoutError, N, bound=sum(KEEPALIVE) + 1.0),
        "live": Expect(KeepaliveTimeoutError, N, bound=sum(KEEPALIVE) + 1.0),
    },
    "slowpong-60": _ws_and_http(
        Expect(None, "all", bound=2.0, note="pongs 60 ms late, under the 200 ms timeout"),
        _OK_HTTP,
        _OK_HTTP,
    ),
    "malformed-after-3": _ws_and_http(
        Expect(MessageParseError, N),
        Expect(ResponseParseError, N),
        Expect(ResponseParseError, 0),
    ),
    "garbage-after-3": _ws_and_http(
        Expect(MessageParseError, N),
        Expect(ResponseParseError, N),
        Expect(ResponseParseError, 0),
    ),
    f"oversized-{4 * LIMIT}-after-3": _ws_and_http(
        Expect(MessageTooBigError, N),
        Expect(ResponseParseError, N, note="SSE event over its limit"),
        Expect(ResponseParseError, 0, note="body over its limit"),
    ),
    f"flood-{FLOOD}": _ws_and_http(
        Expect(None, "all", expected=[f"{i}," for i in range(FLOOD)], bound=5.0),
        Expect(None, "all", expected=[f"{i}," for i in range(FLOOD)], bound=5.0),
        Expect(None, "all", note="no chunks in a unary answer: served normally"),
    ),
    "http-429": _ws_and_http(
        Expect(WebSocketConnectionError, 0, check=_status(429), note="upgrade refused"),
        Expect(RateLimitError, 0, check=_retry(None)),
        Expect(RateLimitError, 0, check=_retry(None)),
    ),
    "http-429-retry-2": _ws_and_http(
        Expect(WebSocketConnectionError, 0, check=_status(429), note="upgrade refused"),
        Expect(RateLimitError, 0, check=_retry(2.0)),
        Expect(RateLimitError, 0, check=_retry(2.0)),
    ),
    "http-500": _ws_and_http(
        Expect(WebSocketConnectionError, 0, check=_status(500), note="upgrade refused"),
        Expect(ServerError, 0, check=lambda e: not isinstance(e, ServiceUnavailableError)),
        Expect(ServerError, 0, check=lambda e: not isinstance(e, ServiceUnavailableError)),
    ),
    "http-503": _ws_and_http(
        Expect(WebSocketConnectionError, 0, check=_status(503), note="upgrade refused"),
        Expect(ServiceUnavailableError, 0, check=_retry(None)),
        Expect(ServiceUnavailableError, 0, check=_retry(None)),
    ),
    "http-503-retry-1": _ws_and_http(
        Expect(WebSocketConnectionError, 0, check=_status(503), note="upgrade refused"),
        Expect(ServiceUnavailableError, 0, check=_retry(1.0)),
        Expect(ServiceUnavailableError, 0, check=_retry(1.0)),
    ),
    "net-reset": _ws_and_http(
        Expect(DisconnectedError, at_least=N, check=_code(1006, True), note="TCP RST"),
        Expect(ReadError, at_least=N, note="TCP RST"),
        Expect(ReadError, 0, note="TCP RST mid-headers"),
    ),
    "net-cut": _ws_and_http(
        Expect(DisconnectedError, at_least=N, check=_code(1006, True), note="TCP FIN"),
        Expect(ReadError, at_least=N, note="TCP FIN mid-body"),
        Expect(ReadError, 0, note="TCP FIN mid-headers"),
    ),
    "net-slow": _ws_and_http(
        Expect(None, "all", bound=3.0, note="5 ms each way, 256 KiB/s"),
        Expect(None, "all", bound=3.0, note="5 ms each way, 256 KiB/s"),
        Expect(None, "all", bound=3.0, note="5 ms each way, 256 KiB/s"),
    ),
    "net-blackhole": _ws_and_http(
        Expect(
            KeepaliveTimeoutError,
            at_least=N,
            bound=sum(KEEPALIVE) + 1.0,
            note="dead peer: keepalive",
        ),
        Expect(RequestTimeoutError, at_least=N, bound=READ_TIMEOUT + 1.0, note="read timeout"),
        Expect(RequestTimeoutError, 0, bound=READ_TIMEOUT + 1.0, note="read timeout"),
    ),
}


@dataclass
class Outcome:
    """What a surface did."""

    texts: list[str] = field(default_factory=list)
    error: BaseException | None = None
    elapsed: float = 0.0
    events: list[str] = field(default_factory=list)


OnChunk = Callable[[int], Any]


async def _drive(surface: str, client: AsyncClient, on_chunk: OnChunk, out: Outcome) -> None:
    """Run one call on ``surface`` into ``out``; ``on_chunk(n)`` runs after the n-th chunk."""

    async def got(text: str) -> None:
        out.texts.append(text)
        result = on_chunk(len(out.texts))
        if asyncio.iscoroutine(result):
            await result

    request = GenerateContentRequest(contents=[Content.user_text(PROMPT)])
    if surface == "ws-stream":
        model = client.models.by_name(LIVE_MODEL)
        async with await model.stream_generate_content_websocket(request) as stream:
            async for chunk in stream:
                if chunk.text:
                    await got(chunk.text)
    elif surface == "live":
        model = client.models.by_name(LIVE_MODEL)
        async with await model.connect() as session:
            await session.send_text(PROMPT)
            async for event in session.receive_turn():
                out.events.append(type(event).__name__)
                if isinstance(event, ModelTurn | OutputTranscription) and event.text:
                    await got(event.text)
    elif surface == "sse":
        model = client.models.by_name(HTTP_MODEL)
        async with await model.stream_generate_content(request) as sse:
            async for chunk in sse:
                if chunk.text:
                    await got(chunk.text)
    else:
        model = client.models.by_name(HTTP_MODEL)
        response = await model.generate_content(request)
        out.texts.append(response.text)


def _client(base_url: str, spec: str | None, open_timeout: float = OPEN_TIMEOUT) -> AsyncClient:
    return AsyncClient(
        KEY,
        base_url=base_url,
        headers={FAULT_HEADER: spec} if spec else None,
        timeouts=Timeouts(connect=2.0, read=READ_TIMEOUT, write=2.0, pool=2.0),
        websocket=WebSocketSettings(
            keepalive_interval=KEEPALIVE[0],
            keepalive_timeout=KEEPALIVE[1],
            max_message_size=LIMIT,
            open_timeout=open_timeout,
            close_timeout=0.1,
        ),
    )


async def _run_cell(
    surface: str, base_url: str, spec: str | None, on_chunk: OnChunk, deadline: float
) -> Outcome:
    start = time.perf_counter()
    out = Outcome()
    open_timeout = SHORT_OPEN_TIMEOUT if spec == "stall-at-setup" else OPEN_TIMEOUT
    try:
        async with _client(base_url, spec, open_timeout) as client, asyncio.timeout(deadline):
            await _drive(surface, client, on_chunk, out)
    except Exception as exc:  # the cell judges it
        out.error = exc
    out.elapsed = time.perf_counter() - start
    return out


def _record(fault: str, surface: str, expect: Expect, out: Outcome) -> None:
    path = os.environ.get("API_GEMINI_MATRIX_JSON")
    if not path:
        return
    row = {
        "fault": fault,
        "surface": surface,
        "outcome": type(out.error).__name__ if out.error is not None else "ok",
        "detail": _detail(out.error),
        "chunks": len(out.texts),
        "elapsed": round(out.elapsed, 4),
        "bound": expect.bound,
        "note": expect.note,
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def _detail(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    for name in ("close_code", "http_status", "status"):
        value = getattr(exc, name, None)
        if value is not None:
            extra = getattr(exc, "retry_after", None)
            return f"{name}={value}" + (f" retry_after={extra:g}" if extra is not None else "")
    return ""


def _judge(fault: str, surface: str, expect: Expect, out: Outcome) -> None:
    """Assert what a cell must show: the error, the bound, no key, the chunks."""
    if expect.error is None:
        assert out.error is None, repr(out.error)
    else:
        assert isinstance(out.error, expect.error), repr(out.error)
        if expect.error is TimeoutError:
            # The caller's own deadline, not one of ours.
            assert not isinstance(out.error, RequestTimeoutError)
        if expect.check is not None:
            assert expect.check(out.error)
    assert out.elapsed < expect.bound, f"{out.elapsed:.3f}s > {expect.bound}s"
    assert KEY not in str(out.error) and KEY not in repr(out.error)

    wanted = expect.expected or ANSWER
    if surface == "unary" and expect.error is None:
        assert out.texts == ["".join(wanted)]
    elif expect.at_least is not None:
        # A prefix, each chunk once and in order; at least those before the fault.
        assert len(out.texts) >= expect.at_least
        assert out.texts == wanted[: len(out.texts)]
    elif expect.chunks == "all":
        assert out.texts == wanted
    else:
        assert out.texts == wanted[: int(expect.chunks or 0)]
    if fault.startswith("goaway") and surface == "live":
        assert "GoAway" in out.events
    if isinstance(out.error, DisconnectedError) and surface != "unary":
        assert out.error.chunks_received >= len(out.texts) > 0 or fault.startswith("net")


CELLS = [(fault, surface) for fault in MATRIX for surface in SURFACES]


@pytest.mark.parametrize(("fault", "surface"), CELLS, ids=[f"{f}|{s}" for f, s in CELLS])
async def test_fault_matrix(
    fault: str,
    surface: str,
    make_emulator: MakeEmulator,
    leak_check: LeakCheck,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expect = MATRIX[fault][surface]
    # Paced (2.5 ms a chunk) so that a fault the test injects after chunk 3 lands mid-answer.
    emu = await make_emulator(tokens_per_second=400)
    leak_check.rebase()
    monkeypatch.setattr(transport, "MAX_RESPONSE_BYTES", LIMIT)
    monkeypatch.setattr(transport, "MAX_SSE_EVENT_BYTES", LIMIT)
    deadline = CALLER_DEADLINE if expect.error is TimeoutError else HANG_GUARD

    if fault.startswith("net-"):
        out = await _run_net_cell(fault, surface, emu, deadline)
    else:
        out = await _run_cell(surface, emu.base_url, fault, lambda n: None, deadline)
    _record(fault, surface, expect, out)
    _judge(fault, surface, expect, out)

    await leak_check.assert_clean()
    assert emu.live_session_count == 0


async def _run_net_cell(fault: str, surface: str, emu: Emulator, deadline: float) -> Outcome:
    """A proxy fault: at chunk 3 for streams; a few bytes into the answer for unary."""
    early = {"net-reset": "reset_after", "net-cut": "cut_after", "net-blackhole": None}.get(fault)
    proxy = FaultProxy("127.0.0.1", emu.port)
    if fault == "net-slow":
        proxy.latency = 0.005
        proxy.bandwidth = 256 * 1024
        async with proxy:
            return await _run_cell(
                surface, f"http://{proxy.address}", None, lambda n: None, deadline
            )
    if surface == "unary":
        # Inside the status line and headers.
        if early is None:
            proxy.black_hole_after = 0
        elif early == "reset_after":
            proxy.reset_after = 20
        else:
            proxy.cut_after = 20
    async with proxy:

        async def on_chunk(n: int) -> None:
            if n != N:
                return
            if fault == "net-reset":
                await proxy.reset_all()
            elif fault == "net-cut":
                await proxy.cut_all()
            else:
                proxy.black_hole_all()

        return await _run_cell(surface, f"http://{proxy.address}", None, on_chunk, deadline)


async def test_the_marker_and_the_config_select_plans_too(
    make_emulator: MakeEmulator, leak_check: LeakCheck
) -> None:
    """The same plan by ``fault:`` marker in the prompt, and by EmulatorConfig.fault."""
    emu = await make_emulator()
    emu2 = await make_emulator(fault="http-429-retry-3")
    leak_check.rebase()
    async with _client(emu.base_url, None) as client:
        model = client.models.by_name(LIVE_MODEL)
        stream = await model.stream_generate_content_websocket(f"fault:close-1011-after-2 {PROMPT}")
        texts: list[str] = []
        with pytest.raises(DisconnectedError) as info:
            async with stream:
                async for chunk in stream:
                    if chunk.text:
                        texts.append(chunk.text)
        assert info.value.close_code == 1011
        assert texts == ANSWER[:2]  # the marker was removed before the answer was made
        http = client.models.by_name(HTTP_MODEL)
        with pytest.raises(ServiceUnavailableError):
            await http.generate_content(f"fault:http-503 {PROMPT}")
        assert (await http.generate_content(PROMPT)).text == "".join(ANSWER)

    async with _client(emu2.base_url, None) as client:
        with pytest.raises(RateLimitError) as rate:
            await client.models.by_name(HTTP_MODEL).generate_content(PROMPT)
        assert rate.value.retry_after == 3.0
        # The header wins over the config.
        async with _client(emu2.base_url, "http-500") as other:
            with pytest.raises(ServerError):
                await other.models.by_name(HTTP_MODEL).generate_content(PROMPT)
    await leak_check.assert_clean()


async def test_a_live_session_survives_a_faulty_turn_marker_only_for_that_turn(
    make_emulator: MakeEmulator,
) -> None:
    """A ``slowpong`` marker affects one turn; the next turn is normal."""
    emu = await make_emulator()
    async with _client(emu.base_url, None) as client:
        model = client.models.by_name(LIVE_MODEL)
        async with await model.connect() as session:
            for prompt in (f"fault:slowpong-60 {PROMPT}", PROMPT):
                await session.send_text(prompt)
                texts = [
                    e.text
                    async for e in session.receive_turn()
                    if isinstance(e, ModelTurn | OutputTranscription)
                ]
                assert "".join(texts) == "".join(ANSWER)


def test_matrix_covers_every_surface_of_every_row() -> None:
    for fault, row in MATRIX.items():
        assert set(row) == set(SURFACES), fault


@pytest.mark.parametrize(
    "spec",
    [
        "close",
        "close-99",
        "nope-1",
        "http-200",
        "stall-x",
        "slowpong",
        "flood-1-2",
        "http-429-retry",
    ],
)
def test_bad_specs_are_refused(spec: str) -> None:
    from api_gemini.emulator.faults import FaultPlan

    with pytest.raises(ValueError, match="fault spec"):
        FaultPlan.parse(spec)


async def test_a_bad_fault_header_is_a_400(emulator: Emulator) -> None:
    from api_gemini.errors import BadRequestError

    async with _client(emulator.base_url, "explode-now") as client:
        with pytest.raises(BadRequestError, match="fault spec"):
            await client.models.by_name(HTTP_MODEL).generate_content(PROMPT)


def test_goaway_event_type_is_exported() -> None:
    # The live row checks for this event by name.
    assert GoAway.__name__ == "GoAway"


async def test_a_fault_in_a_later_turn_keeps_earlier_turns_and_the_handle(
    make_emulator: MakeEmulator, leak_check: LeakCheck
) -> None:
    """Turn 1 completes; turn 2 is cut after 2 chunks: the error counts what arrived and
    carries the newest resumption handle, which resumes the conversation."""
    emu = await make_emulator()
    leak_check.rebase()
    async with _client(emu.base_url, None) as client:
        model = client.models.by_name(LIVE_MODEL)
        config: dict[str, Any] = {"sessionResumption": {}}
        async with await model.connect(config) as session:
            await session.send_text("echo: first turn")
            first = [
                e.text
                async for e in session.receive_turn()
                if isinstance(e, ModelTurn | OutputTranscription)
            ]
            assert "".join(first) == "first turn"
            await session.send_text(f"fault:close-1011-after-2 {PROMPT}")
            second: list[str] = []
            with pytest.raises(DisconnectedError) as info:
                async for event in session.receive_turn():
                    if isinstance(event, ModelTurn | OutputTranscription) and event.text:
                        second.append(event.text)
        assert second == ANSWER[:2]
        error = info.value
        assert (error.close_code, error.retryable) == (1011, True)
        assert error.resumption_handle is not None
        # The handle resumes the conversation: "recall" lists the earlier user turns.
        resumed = {**config, "sessionResumption": {"handle": error.resumption_handle}}
        async with await model.connect(resumed) as again:
            await again.send_text("recall")
            recalled = [
                e.text
                async for e in again.receive_turn()
                if isinstance(e, ModelTurn | OutputTranscription)
            ]
        assert "".join(recalled).startswith("echo: first turn")
    await leak_check.assert_clean()


def _emulator_argv(*args: str) -> tuple[list[str], dict[str, str]]:
    src = str(Path(__file__).resolve().parent.parent / "src")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
    }
    return [sys.executable, "-m", "api_gemini.emulator", "--port", "0", *args], env


def test_the_command_line_takes_a_fault_plan() -> None:
    argv, env = _emulator_argv("--fault", "http-503-retry-1")
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().split()[-1]

        async def call() -> ServiceUnavailableError:
            async with _client(base_url, None) as client:
                with pytest.raises(ServiceUnavailableError) as info:
                    await client.models.by_name(HTTP_MODEL).generate_content(PROMPT)
                with pytest.raises(WebSocketConnectionError):
                    await client.models.by_name(LIVE_MODEL).stream_generate_content_websocket("x")
            return info.value

        assert asyncio.run(call()).retry_after == 1.0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    argv, env = _emulator_argv("--fault", "explode")
    bad = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30)
    assert bad.returncode == 2
    assert "fault spec" in bad.stderr


# --------------------------------------------------------------------------- HTTP answers
#
# Answers only a server that is not the API, or a broken one, gives: an error event in
# another JSON layout, a stream that ends before its last chunk, a redirect, a 204, an
# HTML page. A raw HTTP server plays them (the emulator never would), after the first
# N chunks of the same answer; the cells are judged as above. No WebSocket counterpart.


def _chunk(i: int) -> bytes:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": ANSWER[i]}], "role": "model"}}
    if i == len(ANSWER) - 1:
        candidate["finishReason"] = "STOP"
    return json.dumps({"candidates": [candidate]}).encode()


def _events(*datas: bytes) -> list[bytes]:
    """SSE events; a data holding line ends is sent as several ``data:`` lines."""
    return [b"data: " + data.replace(b"\n", b"\ndata: ") + b"\n\n" for data in datas]


_FIRST = [_chunk(i) for i in range(N)]
_UNAVAILABLE = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
_PRETTY = json.dumps(_UNAVAILABLE, indent=2).encode()
_SPLIT = b'{\n"error":\n{"code": 503,\n"message": "overloaded"}\n}'
_KEY_LATER = b'{"usageMetadata": {"totalTokenCount": 3}, ' + json.dumps(_UNAVAILABLE)[1:].encode()
_HTML = b"<html><body>Sign in to the Wi-Fi</body></html>"


def _status_is(status: int) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        assert getattr(exc, "status", None) == status
        return True

    return check


def _http_rows() -> dict[str, dict[str, tuple[Any, Expect]]]:
    from test_hostile_http import body_writer, sse_writer

    unavailable = Expect(ServiceUnavailableError, 0, note="the same body as an HTTP error")

    def error_row(data: bytes) -> dict[str, tuple[Any, Expect]]:
        return {
            "sse": (sse_writer(*_events(*_FIRST, data)), Expect(ServiceUnavailableError, N)),
            "unary": (body_writer(503, data), unavailable),
        }

    def wrong(status: int, body: bytes, content_type: str, extra: str = "") -> dict[str, Any]:
        expect = Expect(UnexpectedResponseError, 0, check=_status_is(status))
        return {
            s: (body_writer(status, body, content_type, extra), expect) for s in ("sse", "unary")
        }

    return {
        "sse-error-pretty-after-3": error_row(_PRETTY),
        "sse-error-split-after-3": error_row(_SPLIT),
        "sse-error-key-later-after-3": error_row(_KEY_LATER),
        "end-after-3": {
            "sse": (
                sse_writer(*_events(*_FIRST)),
                Expect(TruncatedStreamError, N, note="no finishReason: truncated"),
            ),
            "unary": (
                body_writer(200, _chunk(0)[:-5]),
                Expect(ResponseParseError, 0, note="JSON cut short"),
            ),
        },
        "status-302": wrong(302, b"{}", "application/json", "Location: https://portal.test/\r\n"),
        "status-204": wrong(204, b"", "application/json"),
        "html-200": wrong(200, _HTML, "text/html"),
    }


HTTP_ROWS = _http_rows()
HTTP_CELLS = [(fault, surface) for fault in HTTP_ROWS for surface in HTTP_ROWS[fault]]


@pytest.mark.parametrize(("fault", "surface"), HTTP_CELLS, ids=[f"{f}|{s}" for f, s in HTTP_CELLS])
async def test_http_answer_matrix(fault: str, surface: str, leak_check: LeakCheck) -> None:
    """Was (before issue 12): the SSE cells ended with no error (an empty chunk, or a
    short answer taken as whole), the unary ones with ``text == ''`` or a parse error."""
    from test_hostile_http import raw_server

    writer, expect = HTTP_ROWS[fault][surface]
    async with raw_server(writer) as url:
        out = await _run_cell(surface, url, None, lambda n: None, HANG_GUARD)
    _record(fault, surface, expect, out)
    _judge(fault, surface, expect, out)
    await leak_check.assert_clean()
