"""Logging: silent by default, a tree under ``api_gemini``, never the key.

The key check runs real calls (HTTP unary, SSE, a Live stream, a Live session that
reconnects after a drop, refused keys) with every logger of the process at DEBUG,
including the WebSocket, HTTP and server libraries, and looks for the key in every
record: that is the guarantee "by construction". The filter is tested on its own.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from api_gemini import AsyncClient, KeyRedactingFilter, ReconnectPolicy
from api_gemini.errors import AuthenticationError, SetupRejectedError
from api_gemini.websocket import Reconnected, TurnComplete
from conftest import MakeEmulator

# Shaped like a real Google API key, so the filter's pattern would match it too.
KEY = "AIzaSyA-logging-test-key-0123456789abcd"
WRONG = "AIzaSyB-another-wrong-key-0123456789xy"
LIVE = "gemini-3.8-live"


def test_silent_by_default() -> None:
    # Without the NullHandler, logging's last-resort handler prints WARNING records.
    code = """
        import logging
        import api_gemini
        logging.getLogger("api_gemini.settings").warning("this must not reach stderr")
        logging.getLogger("elsewhere").warning("this does")
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stderr == "this does\n"


def test_the_package_logger_has_only_a_null_handler() -> None:
    handlers = logging.getLogger("api_gemini").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
    assert logging.getLogger("api_gemini").level == logging.NOTSET  # the app decides


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {KEY} leaked", "key *** leaked"),
        ("GET /v1beta/models?key=abc123&pageSize=5", "GET /v1beta/models?key=***&pageSize=5"),
        ("> x-goog-api-key: sekret-value-1", "> x-goog-api-key: ***"),
        ("{'X-Goog-Api-Key': 'sekret-value-2'}", "{'X-Goog-Api-Key': '***'}"),
        ("Authorization: Token auth_tokens/abc.def", "Authorization: ***"),
        ("name auth_tokens/tok-123 expired", "name auth_tokens/*** expired"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_the_filter_masks_what_looks_like_a_credential(text: str, expected: str) -> None:
    assert KeyRedactingFilter().redact(text) == expected


def test_the_filter_masks_given_secrets_in_arguments_and_tracebacks() -> None:
    secret = "plain-secret-without-a-shape"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "using %s", (secret,), None)
    try:
        raise ValueError(f"bad {secret}")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert KeyRedactingFilter(secrets=(secret,)).filter(record) is True  # never drops
    assert record.getMessage() == "using ***"
    assert record.exc_text is not None
    assert secret not in record.exc_text and "ValueError: bad ***" in record.exc_text


def _no_key_in(records: list[logging.LogRecord]) -> None:
    formatter = logging.Formatter()
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += formatter.formatException(record.exc_info)
        assert KEY not in text and WRONG not in text, f"{record.name}: {text}"


async def test_the_key_is_in_no_record_of_any_logger(
    make_emulator: MakeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root: every library's records
    emu = await make_emulator(api_key=KEY)
    async with AsyncClient(KEY, base_url=emu.base_url) as client:
        flash = client.models.by_name("gemini-2.5-flash")
        assert (await flash.generate_content("echo: unary")).text == "unary"
        async with await flash.stream_generate_content("echo: over sse") as sse:
            assert "".join([c.text async for c in sse]) == "over sse"
        live = client.models.by_name(LIVE)
        stream = await live.stream_generate_content_websocket("echo: over ws")
        async with stream:
            assert "".join([c.text async for c in stream]) == "over ws"

        # A Live session that reconnects after the server drops it.
        config: dict[str, Any] = {"sessionResumption": {}}
        policy = ReconnectPolicy(initial_backoff=0.01, max_backoff=0.05)
        async with await live.connect(config, reconnect=policy) as session:
            await session.send_text("echo: before")
            async for event in session:
                if isinstance(event, TurnComplete):
                    break
            while session.resumption_handle is None:
                await anext(session)
            await emu.close_live_sessions(1011, "Internal error encountered.")
            async for event in session:
                if isinstance(event, Reconnected):
                    break
    async with AsyncClient(WRONG, base_url=emu.base_url) as wrong:
        with pytest.raises(AuthenticationError):
            await wrong.models.by_name("gemini-2.5-flash").generate_content("hi")
        with pytest.raises(SetupRejectedError):
            await wrong.models.by_name(LIVE).stream_generate_content_websocket("hi")

    names = {record.name for record in caplog.records}
    # The check means something only if the chatty loggers did speak.
    assert "websockets.client" in names and "api_gemini.emulator.server" in names
    assert any(name.startswith("httpx2") for name in names)
    _no_key_in(caplog.records)


async def test_the_websocket_loggers_say_what_happens(
    make_emulator: MakeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="api_gemini")
    emu = await make_emulator()
    async with AsyncClient(KEY, base_url=emu.base_url) as client:
        live = client.models.by_name(LIVE)
        assert await live.prewarm(count=1) == 1
        stream = await live.stream_generate_content_websocket("echo: warm")
        async with stream:
            assert "".join([c.text async for c in stream]) == "warm"

        # No modality: today's default, AUDIO with its transcription (TEXT is refused).
        config: dict[str, Any] = {"sessionResumption": {}}
        policy = ReconnectPolicy(initial_backoff=0.01, max_backoff=0.05)
        async with await live.connect(config, reconnect=policy) as session:
            await session.send_text("echo: before")
            async for event in session:
                if isinstance(event, TurnComplete):
                    break
            while session.resumption_handle is None:
                await anext(session)
            await emu.send_go_away(30.0)  # between turns: the session moves at once
            async for event in session:
                if isinstance(event, Reconnected):
                    break
            await emu.close_live_sessions(1011, "Internal error encountered.")
            async for event in session:
                if isinstance(event, Reconnected):
                    break

    said = [(r.name, r.getMessage()) for r in caplog.records]

    def logged(name: str, start: str) -> bool:
        return any(n == name and m.startswith(start) for n, m in said)

    connection, pool = "api_gemini.websocket.connection", "api_gemini.websocket.pool"
    session_log, reconnect = "api_gemini.websocket.session", "api_gemini.websocket.reconnect"
    assert logged(connection, f"Live connection open: ws://127.0.0.1:{emu.port}/ws/")
    assert logged(connection, "Live connection closed by the server: 1011")
    assert logged(pool, "pool: opened a warm connection")
    assert logged(pool, "pool hit: a warm connection")
    assert logged(session_log, "goAway: the server ends this connection in 30")
    assert logged(reconnect, "goAway: moving the session to a new connection")
    assert logged(reconnect, "the connection closed (1011): reconnecting")
    assert logged(reconnect, "reconnected on attempt 1")
    _no_key_in(caplog.records)
