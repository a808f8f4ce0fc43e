"""Load: many concurrent Live sessions and streams from one process against the emulator
running in another, counting errors and lost or duplicated chunks, and measuring memory.

::

    python benchmarks/load.py                       # 500 sessions, 500 WS streams, 100 SSE
    python benchmarks/load.py --sessions 50 --streams 50 --sse 20 --json out.json
    python benchmarks/load.py --base-url http://127.0.0.1:8123   # an emulator you started
    python benchmarks/load.py --tls                 # https/wss with a test CA (trustme)

Phases, one after the other so that each figure is about one thing:

1. ``live``: open ``--sessions`` Live sessions concurrently and hold them all open
   (memory per open session = client RSS growth / sessions); then every session sends
   one turn at once and checks its answer; then all close.
2. ``ws-stream``: ``--streams`` one-shot WebSocket streams at once.
3. ``sse``: ``--sse`` HTTP SSE streams at once (one client: its connection pool, 100 by
   default, bounds the useful concurrency).

Every call gets a prompt of its own (``echo: <id> w0 w1 ...``); the emulator answers it
word by word, so the chunks a call must receive are known exactly: any missing, extra,
repeated or reordered chunk counts as lost or duplicated. Not part of the test suite
(``tests/test_faults_load_smoke.py`` runs a 20-session version of it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from api_gemini import AsyncClient
from api_gemini.settings import Timeouts
from api_gemini.websocket import OutputTranscription

LIVE_MODEL = "gemini-3.8-live"
HTTP_MODEL = "gemini-2.5-flash"
KEY = "load-test-key"


@dataclass
class PhaseResult:
    """The figures of one phase."""

    name: str
    calls: int
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    lost_chunks: int = 0
    duplicated_chunks: int = 0
    reordered_calls: int = 0
    chunks: int = 0
    wall_seconds: float = 0.0
    #: Live: seconds until every session was open and set up.
    open_seconds: float | None = None
    first_chunk_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    rss_open_mb: float | None = None
    memory_per_open_kib: float | None = None
    emulator_rss_mb: float | None = None
    emulator_memory_per_open_kib: float | None = None

    def summary(self) -> dict[str, Any]:
        """The figures as plain values (percentiles instead of the raw lists)."""
        data = asdict(self)
        data["errors"] = dict(self.errors)
        for name in ("first_chunk_ms", "total_ms"):
            values = sorted(data.pop(name))
            data[name.replace("_ms", "_p50_ms")] = _pct(values, 50)
            data[name.replace("_ms", "_p99_ms")] = _pct(values, 99)
        return data


def _pct(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, round(pct / 100 * (len(values) - 1)))
    return round(values[index], 2)


def _prompt(call_id: str, words: int) -> str:
    return "echo: " + " ".join([call_id] + [f"w{i}" for i in range(words)])


def _expected(call_id: str, words: int) -> list[str]:
    """The emulator's chunks for ``_prompt``: each word with the space after it."""
    tokens = [call_id] + [f"w{i}" for i in range(words)]
    return [t + " " for t in tokens[:-1]] + [tokens[-1]]


def _check(result: PhaseResult, expected: list[str], got: list[str]) -> None:
    """Count lost, duplicated and reordered chunks of one call."""
    result.chunks += len(got)
    want, have = Counter(expected), Counter(got)
    result.lost_chunks += sum((want - have).values())
    result.duplicated_chunks += sum((have - want).values())
    if not (want - have) and not (have - want) and got != expected:
        result.reordered_calls += 1
    if got == expected:
        result.ok += 1


def _rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 1e6


async def _timed(
    result: PhaseResult,
    expected: list[str],
    run: Callable[[Callable[[str], None]], Awaitable[None]],
) -> None:
    got: list[str] = []
    start = time.perf_counter()

    def on_chunk(text: str) -> None:
        if not got:
            result.first_chunk_ms.append((time.perf_counter() - start) * 1000)
        got.append(text)

    try:
        await run(on_chunk)
    except Exception as exc:
        result.errors[type(exc).__name__] += 1
    else:
        result.total_ms.append((time.perf_counter() - start) * 1000)
    _check(result, expected, got)


async def live_phase(
    client: AsyncClient, n: int, words: int, emulator: psutil.Process | None
) -> PhaseResult:
    """Open ``n`` sessions, hold them, then one turn each, then close."""
    result = PhaseResult("live", n)
    process = psutil.Process()
    model = client.models.by_name(LIVE_MODEL)
    gc.collect()
    rss_before = process.memory_info().rss
    emulator_before = emulator.memory_info().rss if emulator is not None else 0
    start = time.perf_counter()
    opened = await asyncio.gather(
        *(model.connect() for _ in range(n)),
        return_exceptions=True,
    )
    result.open_seconds = round(time.perf_counter() - start, 3)
    sessions = [s for s in opened if not isinstance(s, BaseException)]
    for failure in opened:
        if isinstance(failure, BaseException):
            result.errors[type(failure).__name__] += 1
    gc.collect()
    rss_open = process.memory_info().rss
    result.rss_open_mb = round(rss_open / 1e6, 1)
    if sessions:
        result.memory_per_open_kib = round((rss_open - rss_before) / len(sessions) / 1024, 1)
    if emulator is not None:
        result.emulator_rss_mb = round(_rss_mb(emulator), 1)
        if sessions:
            grown = emulator.memory_info().rss - emulator_before
            result.emulator_memory_per_open_kib = round(grown / len(sessions) / 1024, 1)

    async def turn(i: int, session: Any) -> None:
        call_id = f"s{i}"

        async def run(on_chunk: Callable[[str], None]) -> None:
            await session.send_text(_prompt(call_id, words))
            async for event in session.receive_turn():
                if isinstance(event, OutputTranscription) and event.text:
                    on_chunk(event.text)

        await _timed(result, _expected(call_id, words), run)

    await asyncio.gather(*(turn(i, s) for i, s in enumerate(sessions)))
    await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
    result.wall_seconds = round(time.perf_counter() - start, 3)
    return result


async def stream_phase(client: AsyncClient, n: int, words: int, *, sse: bool) -> PhaseResult:
    """``n`` one-shot streams at once, over WebSocket or SSE."""
    result = PhaseResult("sse" if sse else "ws-stream", n)
    model = client.models.by_name(HTTP_MODEL if sse else LIVE_MODEL)
    start = time.perf_counter()

    async def one(i: int) -> None:
        call_id = f"{'h' if sse else 'c'}{i}"
        prompt = _prompt(call_id, words)

        async def run(on_chunk: Callable[[str], None]) -> None:
            if sse:
                async with await model.stream_generate_content(prompt) as stream:
                    async for chunk in stream:
                        if chunk.text:
                            on_chunk(chunk.text)
            else:
                async with await model.stream_generate_content_websocket(prompt) as ws:
                    async for chunk in ws:
                        if chunk.text:
                            on_chunk(chunk.text)

        await _timed(result, _expected(call_id, words), run)

    await asyncio.gather(*(one(i) for i in range(n)))
    result.wall_seconds = round(time.perf_counter() - start, 3)
    return result


async def run_load(
    base_url: str,
    *,
    sessions: int,
    streams: int,
    sse: int,
    words: int,
    emulator_pid: int | None = None,
    ca_file: str | None = None,
) -> dict[str, Any]:
    """Run every phase against ``base_url``; returns the figures as a dict."""
    emulator = psutil.Process(emulator_pid) if emulator_pid else None
    timeouts = Timeouts(connect=30, read=60, write=30, pool=60)
    phases: list[PhaseResult] = []
    verify: Any = ca_file if ca_file is not None else True
    async with AsyncClient(KEY, base_url=base_url, timeouts=timeouts, verify=verify) as client:
        if sessions:
            phases.append(await live_phase(client, sessions, words, emulator))
        if streams:
            phases.append(await stream_phase(client, streams, words, sse=False))
        if sse:
            phases.append(await stream_phase(client, sse, words, sse=True))
    leftover = [t for t in asyncio.all_tasks() if t.get_name().startswith("api-gemini")]
    return {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "words_per_answer": words,
        "tls": base_url.startswith("https://"),
        "phases": [p.summary() for p in phases],
        "leftover_tasks": len(leftover),
        "client_fds_after": psutil.Process().num_fds(),
    }


def start_emulator(
    tokens_per_second: float, tls: tuple[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """``python -m api_gemini.emulator`` in a subprocess (over TLS with ``(cert, key)``);
    returns it and its base URL."""
    # --playback-time-scale 0: measure the client, not the wait for audio playback.
    argv = [sys.executable, "-m", "api_gemini.emulator", "--port", "0"]
    argv += ["--playback-time-scale", "0"]
    argv += ["--tokens-per-second", str(tokens_per_second)]
    if tls is not None:
        argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("the emulator did not start")
    return proc, line.split()[-1]


def test_certificates(folder: Path) -> tuple[str, str, str]:
    """A trustme CA and a certificate for 127.0.0.1 it signed: (ca, cert, key) paths."""
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = [str(folder / name) for name in ("ca.pem", "server.pem", "server.key")]
    ca.cert_pem.write_to_path(paths[0])
    server.private_key_pem.write_to_path(paths[2])
    with open(paths[1], "wb") as f:
        for blob in server.cert_chain_pems:
            f.write(blob.bytes())
    return paths[0], paths[1], paths[2]


def stop_emulator(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, then wait (kill after 10 s)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exits 1 when any call failed or lost a chunk."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=500, help="concurrent Live sessions")
    parser.add_argument("--streams", type=int, default=500, help="concurrent WebSocket streams")
    parser.add_argument("--sse", type=int, default=100, help="concurrent SSE streams")
    parser.add_argument("--words", type=int, default=20, help="chunks per answer (+1)")
    parser.add_argument(
        "--tokens-per-second", type=float, default=200.0, help="emulator pace per answer"
    )
    parser.add_argument("--base-url", default=None, help="use this emulator (else start one)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--tls", action="store_true", help="https/wss with a test CA")
    args = parser.parse_args(argv)

    proc = None
    base_url = args.base_url
    ca_file = None
    tmp = tempfile.TemporaryDirectory()
    if base_url is None:
        tls = None
        if args.tls:
            ca_file, cert, key = test_certificates(Path(tmp.name))
            tls = (cert, key)
        proc, base_url = start_emulator(args.tokens_per_second, tls)
    try:
        figures = asyncio.run(
            run_load(
                base_url,
                sessions=args.sessions,
                streams=args.streams,
                sse=args.sse,
                words=args.words,
                emulator_pid=proc.pid if proc else None,
                ca_file=ca_file,
            )
        )
    finally:
        if proc is not None:
            stop_emulator(proc)
        tmp.cleanup()
    figures["command"] = "python benchmarks/load.py " + " ".join(argv or sys.argv[1:])
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    bad = any(
        p["errors"] or p["lost_chunks"] or p["duplicated_chunks"] or p["reordered_calls"]
        for p in figures["phases"]
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
