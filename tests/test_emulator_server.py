"""The emulator as a server: TLS, the subprocess entry point, clean stop, config, model."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import httpx2
import psutil
import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st
from websockets.sync.client import connect as sync_connect

from api_gemini.emulator import Emulator, EmulatorConfig
from api_gemini.emulator.__main__ import build_parser, config_from_args, main
from api_gemini.emulator.catalog import CATALOG
from api_gemini.emulator.model import chunk_tokens, generate_answer, split_words
from helpers import KEY_HEADERS

#: The ``make_emulator`` fixture (see conftest).
MakeEmulator = Callable[..., Awaitable[Emulator]]

LIVE_MODEL = "models/gemini-3.8-live"
SRC = str(Path(__file__).resolve().parent.parent / "src")


class TlsFilesLike(Protocol):
    """The ``tls_files`` fixture's value (see conftest)."""

    ca: str
    cert: str
    key: str


def text_turn(text: str) -> str:
    return json.dumps(
        {"clientContent": {"turns": [{"parts": [{"text": text}]}], "turnComplete": True}}
    )


# -- TLS ---------------------------------------------------------------------------------


async def test_https_and_wss(make_emulator: MakeEmulator, tls_files: TlsFilesLike) -> None:
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    assert emu.base_url.startswith("https://127.0.0.1:")
    assert emu.live_url().startswith("wss://127.0.0.1:")
    ctx = ssl.create_default_context(cafile=tls_files.ca)
    async with (
        aiohttp.ClientSession(headers=KEY_HEADERS) as session,
        session.get(f"{emu.base_url}/v1beta/models", ssl=ctx) as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["models"]
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS, ssl=ctx) as ws:
        setup = {"model": LIVE_MODEL, "outputAudioTranscription": {}}
        await ws.send(json.dumps({"setup": setup}))
        assert json.loads(await ws.recv()) == {"setupComplete": {}}
        await ws.send(text_turn("echo: secure"))
        audio = json.loads(await ws.recv())["serverContent"]["modelTurn"]["parts"][0]
        assert audio["inlineData"]["mimeType"] == "audio/pcm;rate=24000"
        assert json.loads(await ws.recv())["serverContent"]["outputTranscription"] == {
            "text": "secure",
            "finished": True,
        }


async def test_tls_is_verified(make_emulator: MakeEmulator, tls_files: TlsFilesLike) -> None:
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    # The default trust store does not know the test CA.
    async with aiohttp.ClientSession(headers=KEY_HEADERS) as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(f"{emu.base_url}/v1beta/models")


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="together"):
        EmulatorConfig(tls_cert="a.pem")
    with pytest.raises(ValueError, match="tokens_per_chunk"):
        EmulatorConfig(tokens_per_chunk=0)
    with pytest.raises(ValueError, match="live_connection_lifetime"):
        EmulatorConfig(live_connection_lifetime=0)
    assert not EmulatorConfig().tls


# -- life cycle ----------------------------------------------------------------------------


async def test_stop_leaves_no_task_or_socket(make_emulator: MakeEmulator) -> None:
    before = set(asyncio.all_tasks())
    emu = await make_emulator(tokens_per_second=100)
    port = emu.port
    ws = await websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS)
    await ws.send(json.dumps({"setup": {"model": LIVE_MODEL}}))
    await ws.recv()
    await ws.send(text_turn("a long answer"))
    await ws.recv()
    async with aiohttp.ClientSession(headers=KEY_HEADERS) as session:
        url = f"{emu.base_url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        async with session.post(url, json={"contents": [{"parts": [{"text": "x"}]}]}) as resp:
            await resp.content.readline()
            await emu.stop()
    # The Live client got a proper close frame.
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    await ws.close()
    leftover = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
    assert leftover == []
    mine = [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status != psutil.CONN_TIME_WAIT
    ]
    assert mine == []
    assert emu.stats.ws_active == 0


async def test_stop_with_a_peer_that_stopped_reading(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator()
    ws = await websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS, max_queue=1)
    setup = {"model": LIVE_MODEL, "generationConfig": {"maxOutputTokens": 300_000}}
    await ws.send(json.dumps({"setup": setup}))
    await ws.recv()
    await ws.send(text_turn("flood me"))
    # Wait until the server is blocked on a full socket (audio chunks are ~1.3 kB).
    while emu.stats.live_chunks < 500:
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await emu.stop()
    assert loop.time() - started < 2.5
    assert emu.stats.ws_active == 0
    ws.transport.abort()
    await ws.wait_closed()


async def test_start_twice_and_stop_twice() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    await emu.start()
    with pytest.raises(RuntimeError):
        await emu.start()
    await emu.stop()
    await emu.stop()


async def test_stats_reset(emulator: Emulator) -> None:
    async with (
        aiohttp.ClientSession(headers=KEY_HEADERS) as session,
        session.get(f"{emulator.base_url}/v1/models"),
    ):
        pass
    assert emulator.stats.as_dict()["http_requests"] == 1
    emulator.stats.reset()
    assert emulator.stats.http_requests == 0


# -- the command line ----------------------------------------------------------------------


def test_subprocess_serves_http_and_live(emulator_process: str) -> None:
    assert emulator_process.startswith("http://127.0.0.1:")
    with httpx2.Client(headers=KEY_HEADERS) as client:
        page = client.get(f"{emulator_process}/v1beta/models").json()
    assert page["models"][0]["name"] == CATALOG[0]["name"]
    ws_url = emulator_process.replace("http://", "ws://") + (
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )
    with sync_connect(ws_url, additional_headers=KEY_HEADERS) as ws:
        setup = {"model": LIVE_MODEL, "outputAudioTranscription": {}}
        ws.send(json.dumps({"setup": setup}))
        assert json.loads(ws.recv()) == {"setupComplete": {}}


def run_process(*args: str) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_gemini.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line


def test_subprocess_options_and_sigint(tls_files: TlsFilesLike) -> None:
    proc, line = run_process(
        "--api-key", "K", "--default-max-tokens", "6", "--tokens-per-chunk", "4",
        "--tls-cert", tls_files.cert, "--tls-key", tls_files.key,
    )  # fmt: skip
    try:
        assert line.startswith("api_gemini emulator listening on https://")
        base = line.split()[-1]
        body: dict[str, Any] = {"contents": [{"parts": [{"text": "hi"}]}]}
        url = f"{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        with httpx2.Client(verify=ssl.create_default_context(cafile=tls_files.ca)) as client:
            assert client.post(url, json=body).status_code == 403
            resp = client.post(url, json=body, headers={"x-goog-api-key": "K"})
        events = [e for e in resp.text.split("\r\n\r\n") if e]
        assert len(events) == math.ceil(6 / 4)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_subprocess_bad_arguments() -> None:
    proc, line = run_process("--tls-cert", "only-one.pem")
    _, err = proc.communicate(timeout=10)
    assert line == ""
    assert proc.returncode == 2
    assert "together" in err


def test_main_reuses_the_parser() -> None:
    args = build_parser().parse_args(["--ttft", "0.5", "--tokens-per-second", "20"])
    config = config_from_args(args)
    assert config.time_to_first_token == 0.5
    assert config.tokens_per_second == 20
    assert main(["--tokens-per-chunk", "0"]) == 2


def test_command_line_lifetimes_and_time_scale() -> None:
    # The service's durations by default; --time-scale shrinks them all.
    default = config_from_args(build_parser().parse_args([]))
    assert (default.live_connection_lifetime, default.go_away_notice) == (600.0, 60.0)
    assert default.time_scale == 1.0 and default.playback_scale == 1.0
    args = ["--time-scale", "0.01", "--playback-time-scale", "0", "--live-connection-lifetime", "0"]
    scaled = config_from_args(build_parser().parse_args(args))
    assert scaled.time_scale == 0.01
    assert scaled.playback_scale == 0.0
    assert scaled.live_connection_lifetime is None  # 0: no limit


# -- the deterministic model ---------------------------------------------------------------


@given(st.text())
def test_split_words_round_trips(text: str) -> None:
    assert "".join(split_words(text)) == text


@given(st.integers(0, 300), st.integers(1, 40))
def test_chunk_count(tokens: int, per_chunk: int) -> None:
    answer = generate_answer(
        "m", [{"role": "user", "parts": [{"text": "q"}]}], max_output_tokens=tokens
    )
    assert len(answer.tokens) == tokens
    assert len(answer.chunks(per_chunk)) == max(1, math.ceil(tokens / per_chunk))
    assert "".join(chunk_tokens(answer.tokens, per_chunk)) == answer.text


@given(st.text(max_size=50), st.sampled_from(["a", "b"]))
def test_answers_are_pure(prompt: str, model: str) -> None:
    contents = [{"role": "user", "parts": [{"text": prompt}]}]
    first = generate_answer(model, contents, max_output_tokens=5)
    assert first == generate_answer(model, contents, max_output_tokens=5)
