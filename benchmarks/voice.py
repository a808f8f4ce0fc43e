"""Voice benchmarks (issue 14): barge-in latency, end of speech to first answer byte,
CPU per second of two-way audio, and the resampler choice.

Run (about 3 minutes; the figures go to stdout, as Markdown tables)::

    .venv/bin/python benchmarks/voice.py                      # all four
    .venv/bin/python benchmarks/voice.py --only bargein,eos   # some: resample bargein eos cpu
    .venv/bin/python benchmarks/voice.py --quick              # small sizes (a smoke run)

- **resample**: 10 s of 48 kHz audio to 16 kHz with ``soxr`` and with the pure-Python
  fallback: time, the level of a 440 Hz tone kept, a 10 kHz tone's alias left.
- **bargein**: ``api-gemini talk`` (the library's code, ``--input``/``--output`` WAV)
  against an emulator on its own event loop thread in the same process, so that one
  clock serves both: from the emulator handing the ``interrupted`` frame to its socket
  to :meth:`PlaybackBuffer.interrupt` returning (after which the card gets silence).
- **eos**: end of speech to first answer byte on the same kind of session (AUDIO out,
  server-side activity detection with ``silenceDurationMs: 100``, 20 ms frames sent in
  real time), api_gemini against google-genai 3.6.1, rounds interleaved; the emulator in
  its own process. The figure includes the 100 ms of silence the detector waits for.
- **cpu**: process CPU time per second of wall time while 16 kHz audio goes up in real
  time and 24 kHz answers come down and are played by a simulated card, for both
  clients (same app-side work: a :class:`PlaybackBuffer` and :func:`play_in_real_time`).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from api_gemini import AsyncClient
from api_gemini.audio import (
    PlaybackBuffer,
    Resampler,
    WavAudio,
    WavSink,
    frames,
    have_soxr,
    play_in_real_time,
    to_pcm16,
    write_wav,
)

MODEL = "gemini-3.8-live"
RATE = 16000
ROOT = Path(__file__).resolve().parent.parent


def tone(seconds: float, rate: int = RATE, hz: float = 300.0, amplitude: int = 8000) -> bytes:
    count = int(seconds * rate)
    return struct.pack(
        f"<{count}h",
        *(int(amplitude * math.sin(2 * math.pi * hz * i / rate)) for i in range(count)),
    )


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


def level(pcm: bytes, rate: int, hz: float) -> float:
    xs = struct.unpack(f"<{len(pcm) // 2}h", pcm)[rate // 20 : -rate // 20]
    re = sum(x * math.cos(2 * math.pi * hz * i / rate) for i, x in enumerate(xs))
    im = sum(x * math.sin(2 * math.pi * hz * i / rate) for i, x in enumerate(xs))
    return 2 * math.hypot(re, im) / len(xs)


def summary(values: list[float], unit: str = "ms", scale: float = 1e3) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"{statistics.median(ordered) * scale:.2f} {unit} median, {p95 * scale:.2f} p95, "
        f"{ordered[-1] * scale:.2f} max (n={len(ordered)})"
    )


def start_emulator(folder: Path, *options: str) -> tuple[subprocess.Popen[str], str, str]:
    """The emulator in its own process over TLS (google-genai connects with wss only);
    returns the process, its URL and the CA file, which both clients trust."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_gemini.emulator", "--port", "0",
         "--tls-cert", str(cert_path), "--tls-key", str(key_path), *options],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().split()[-1]
    # Keep reading what it prints: a full pipe would stall the emulator mid-benchmark.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    os.environ["SSL_CERT_FILE"] = str(ca_path)  # how google-genai is told to trust it
    return proc, url, str(ca_path)


# --------------------------------------------------------------------------- resample


def bench_resample(quick: bool) -> None:
    seconds = 2.0 if quick else 10.0
    voice = WavAudio(pcm=tone(seconds, 48000, 440), rate=48000)
    alias = WavAudio(pcm=tone(2.0, 48000, 10000), rate=48000)
    print("\n### Resampling 48 kHz to 16 kHz\n")
    print("| engine | time per second of audio | 440 Hz kept | 10 kHz alias at 6 kHz |")
    print("|---|---|---|---|")
    for engine in ("soxr", "linear"):
        if engine == "soxr" and not have_soxr():
            print("| soxr | not installed | | |")
            continue
        times = []
        for _ in range(5):
            started = time.perf_counter()
            out = to_pcm16(voice, engine=engine)
            times.append((time.perf_counter() - started) / seconds)
        kept = level(out, RATE, 440) / 8000
        folded = level(to_pcm16(alias, engine=engine), RATE, 6000) / 8000
        print(
            f"| {engine} | {statistics.median(times) * 1e3:.2f} ms | "
            f"{20 * math.log10(kept):+.2f} dB | {20 * math.log10(max(folded, 1e-9)):.1f} dB |"
        )
    # The streaming path of a microphone at 48 kHz: one 20 ms frame at a time.
    for engine in ("soxr", "linear"):
        if engine == "soxr" and not have_soxr():
            continue
        stream = Resampler(48000, RATE, engine=engine)
        frame_list = list(frames(voice.pcm, 48000, 20))
        started = time.perf_counter()
        for frame in frame_list:
            stream.process(frame)
        per_frame = (time.perf_counter() - started) / len(frame_list)
        print(f"\n{engine}, streaming: {per_frame * 1e6:.0f} µs per 20 ms frame", end="")
    print()


# --------------------------------------------------------------------------- barge-in


def bench_bargein(quick: bool) -> None:
    """Interrupted frame handed to the emulator's socket -> playback queue dropped."""
    import aiohttp.web

    from api_gemini._portal import LoopPortal
    from api_gemini.cli import _parser
    from api_gemini.emulator import Emulator, EmulatorConfig
    from api_gemini.talk import talk

    cycles = 4 if quick else 25
    sent: list[float] = []
    dropped: list[float] = []
    send_bytes = aiohttp.web.WebSocketResponse.send_bytes

    async def timed_send(self: Any, data: bytes, *args: Any, **kwargs: Any) -> None:
        if b'"interrupted":true' in data:
            sent.append(time.perf_counter())
        await send_bytes(self, data, *args, **kwargs)

    interrupt = PlaybackBuffer.interrupt

    def timed_interrupt(self: PlaybackBuffer) -> Any:
        cut = interrupt(self)
        dropped.append(time.perf_counter())
        timed_interrupt_end(dropped[-1])
        return cut

    # The simulated card hands over audio up to one block ahead of its clock: the last
    # hand-over before the drop, plus one block, is when the last audible sample ends.
    from api_gemini.talk import PLAYBACK_BLOCK_MS

    handed: list[float] = []
    write = WavSink.write

    def timed_write(self: WavSink, pcm: bytes) -> None:
        handed.append(time.perf_counter())
        write(self, pcm)

    ends: list[float] = []

    def timed_interrupt_end(cut_time: float) -> None:
        before = [t for t in handed if t <= cut_time]
        ends.append(max(cut_time, before[-1] + PLAYBACK_BLOCK_MS / 1000 if before else 0.0))

    WavSink.write = timed_write  # type: ignore[method-assign]
    aiohttp.web.WebSocketResponse.send_bytes = timed_send  # type: ignore[method-assign]
    PlaybackBuffer.interrupt = timed_interrupt  # type: ignore[method-assign]
    config = EmulatorConfig(
        port=0,
        time_to_first_token=0.05,
        tokens_per_second=150.0,
        tokens_per_chunk=5,
        default_max_output_tokens=150,
    )

    async def start() -> Emulator:
        return await Emulator(config).start()

    portal = LoopPortal(name="bench-emulator")
    emulator = portal.run(start())
    try:
        with tempfile.TemporaryDirectory() as folder:
            source, sink = Path(folder) / "in.wav", Path(folder) / "out.wav"
            # Each new question comes 1.2 s after the last: mid-answer (answers last 3 s).
            write_wav(source, (tone(0.4) + silence(1.2)) * cycles + silence(3.5), RATE)
            args = _parser().parse_args(
                ["talk", "--base-url", emulator.base_url, "--model", MODEL, "--linger", "0.5",
                 "--input", str(source), "--output", str(sink)]
            )  # fmt: skip
            devnull = open(os.devnull, "w")  # noqa: SIM115
            with devnull:
                report = asyncio.run(talk(args, devnull))
    finally:
        portal.run(emulator.stop())
        portal.close()
        aiohttp.web.WebSocketResponse.send_bytes = send_bytes  # type: ignore[method-assign]
        PlaybackBuffer.interrupt = interrupt  # type: ignore[method-assign]
        WavSink.write = write  # type: ignore[method-assign]
    assert len(sent) == len(dropped) == len(report.interruptions), (sent, dropped)
    latencies = [d - s for s, d in zip(sent, dropped, strict=True)]
    silenced = [e - s for s, e in zip(sent, ends, strict=True)]
    print("\n### Barge-in: `interrupted` frame sent -> playback queue dropped\n")
    print(f"- {summary(latencies)}")
    print(f"- to the end of the last audio handed to the card ({PLAYBACK_BLOCK_MS:.0f} ms blocks): "
          f"{summary(silenced)}")  # fmt: skip
    dropped_seconds = [c.dropped_bytes / 48000 for c in report.interruptions]
    print(f"- audio dropped per barge-in: {summary(dropped_seconds, 's', 1)}")


# --------------------------------------------------------------------------- end of speech


SESSION_VAD = {"automaticActivityDetection": {"silenceDurationMs": 100, "prefixPaddingMs": 20}}


class OursAudio:
    name = "api_gemini"

    def __init__(self, base_url: str, ca: str) -> None:
        self.client = AsyncClient("bench-key", base_url=base_url, verify=ca)

    async def session(self, body: Callable[[Any, Any, Any], Awaitable[None]]) -> None:
        from api_gemini.websocket import ModelTurn

        config = {"responseModalities": ["AUDIO"], "realtimeInputConfig": SESSION_VAD}
        async with await self.client.models.by_name(MODEL).connect(config) as session:

            async def send(frame: bytes) -> None:
                await session.send_audio(frame, RATE)

            async def audio() -> Any:
                async for event in session:
                    if isinstance(event, ModelTurn):
                        data = event.audio
                        if data:
                            yield data

            await body(send, audio, session)

    async def close(self) -> None:
        await self.client.aclose()


class SdkAudio:
    name = "google-genai"

    def __init__(self, base_url: str, ca: str) -> None:
        from google import genai

        self.client = genai.Client(api_key="bench-key", http_options={"base_url": base_url})

    async def session(self, body: Callable[[Any, Any, Any], Awaitable[None]]) -> None:
        from google.genai import types

        config: Any = {
            "response_modalities": ["AUDIO"],
            "realtime_input_config": {
                "automatic_activity_detection": {
                    "silence_duration_ms": 100,
                    "prefix_padding_ms": 20,
                }
            },
        }
        async with self.client.aio.live.connect(model=MODEL, config=config) as session:

            async def send(frame: bytes) -> None:
                await session.send_realtime_input(
                    audio=types.Blob(data=frame, mime_type="audio/pcm;rate=16000")
                )

            async def audio() -> Any:
                while True:
                    async for message in session.receive():
                        data = message.data
                        if data:
                            yield data

            await body(send, audio, session)

    async def close(self) -> None:
        pass


async def end_of_speech_round(client: Any) -> float:
    """Speech 0.3 s then silence, in real time; seconds from the last speech frame sent
    to the first answer byte received."""
    result: list[float] = []

    async def body(send: Any, audio: Any, session: Any) -> None:
        end_of_speech = 0.0
        first = asyncio.get_running_loop().create_future()

        async def receive() -> None:
            async for _ in audio():
                if not first.done():
                    first.set_result(time.perf_counter())
                return

        receiver = asyncio.create_task(receive())
        loop = asyncio.get_running_loop()
        start = loop.time()
        speech = list(frames(tone(0.3), RATE, 20))
        quiet = bytes(640)
        i = 0
        while not first.done() and i < 400:
            frame = speech[i] if i < len(speech) else quiet
            delay = start + i * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(frame)
            if i == len(speech) - 1:
                end_of_speech = time.perf_counter()
            i += 1
        result.append(await asyncio.wait_for(first, 5) - end_of_speech)
        receiver.cancel()

    await client.session(body)
    return result[0]


def bench_eos(quick: bool) -> None:
    rounds = 4 if quick else 30
    folder = tempfile.TemporaryDirectory()
    # Short answers: a round stops reading after the first byte, and google-genai's
    # close then waits 10 s (close_timeout) behind a full receive queue.
    proc, url, ca = start_emulator(Path(folder.name), "--default-max-tokens", "5")
    try:

        async def run() -> dict[str, list[float]]:
            clients: list[Any] = [OursAudio(url, ca), SdkAudio(url, ca)]
            got: dict[str, list[float]] = {c.name: [] for c in clients}
            for client in clients:  # warm up: imports, first connection
                await end_of_speech_round(client)
            for _ in range(rounds):
                for client in clients:
                    got[client.name].append(await end_of_speech_round(client))
            for client in clients:
                await client.close()
            return got

        got = asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(10)
        folder.cleanup()
    print("\n### End of speech to first answer byte (server VAD, silenceDurationMs 100)\n")
    for name, values in got.items():
        print(f"- {name}: {summary(values)}")
    diff = statistics.median(got["api_gemini"]) - statistics.median(got["google-genai"])
    print(f"- difference of medians (api_gemini - google-genai): {diff * 1e3:+.2f} ms")


# --------------------------------------------------------------------------- CPU


async def two_way_audio(client: Any, seconds: float) -> tuple[float, float, int]:
    """Send ``seconds`` of speech/silence in real time, play every answer; returns
    (CPU seconds, wall seconds, answer bytes)."""
    received = [0]

    async def body(send: Any, audio: Any, session: Any) -> None:
        buffer = PlaybackBuffer()
        stop = asyncio.Event()
        player = asyncio.create_task(play_in_real_time(buffer, lambda _: None, 20, stop))

        async def receive() -> None:
            async for data in audio():
                received[0] += len(data)
                buffer.feed(data)

        receiver = asyncio.create_task(receive())
        loop = asyncio.get_running_loop()
        start = loop.time()
        pcm = (tone(1.0) + silence(2.0)) * max(1, int(seconds / 3))
        for i, frame in enumerate(frames(pcm, RATE, 20)):
            delay = start + i * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(frame)
        receiver.cancel()
        stop.set()
        await player

    cpu, wall = time.process_time(), time.perf_counter()
    await client.session(body)
    return time.process_time() - cpu, time.perf_counter() - wall, received[0]


def bench_cpu(quick: bool) -> None:
    seconds = 6.0 if quick else 30.0
    folder = tempfile.TemporaryDirectory()
    proc, url, ca = start_emulator(
        Path(folder.name),
        "--tokens-per-second",
        "150",
        "--tokens-per-chunk",
        "5",
        "--default-max-tokens",
        "90",
    )
    try:

        async def run() -> list[tuple[str, float, float, int]]:
            rows = []
            clients: list[Any] = [OursAudio(url, ca), SdkAudio(url, ca)]
            for client in clients:
                await two_way_audio(client, 3.0)  # warm up
                cpu, wall, got = await two_way_audio(client, seconds)
                rows.append((client.name, cpu, wall, got))
                await client.close()
            return rows

        rows = asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(10)
        folder.cleanup()
    print("\n### CPU per second of two-way audio (16 kHz up in real time, answers played)\n")
    print("| client | CPU per second | audio received |")
    print("|---|---|---|")
    for name, cpu, wall, got in rows:
        print(f"| {name} | {cpu / wall * 1e3:.1f} ms ({cpu / wall:.2%} of a core) | "
              f"{got / 48000:.1f} s in {wall:.1f} s |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="resample,bargein,eos,cpu")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}, {os.cpu_count()} CPUs")
    benches = {"resample": bench_resample, "bargein": bench_bargein, "eos": bench_eos,
               "cpu": bench_cpu}  # fmt: skip
    for name in args.only.split(","):
        benches[name](args.quick)


if __name__ == "__main__":
    main()
