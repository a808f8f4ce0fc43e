"""The two ends of a voice agent: a sound device (the ``audio`` extra) or WAV files.

:func:`microphone_frames` and :func:`wav_frames` yield the same 16 kHz frames;
:func:`speaker` and :func:`wav_speaker` yield the same :class:`~.playback.PlaybackBuffer`:
an app written for one runs headless with the other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from .._install import install_command
from ..errors import ConfigurationError
from .pcm import (
    INPUT_RATE,
    OUTPUT_RATE,
    Resampler,
    WavSink,
    frame_bytes,
    frames,
    read_wav,
    to_pcm16,
)
from .playback import PlaybackBuffer, play_in_real_time

__all__ = [
    "INSTALL_HINT",
    "PORTAUDIO_HINT",
    "load_sounddevice",
    "microphone_frames",
    "speaker",
    "wav_frames",
    "wav_speaker",
]


#: One line for a machine without the sound stack.
INSTALL_HINT = f"a sound device needs the audio extra: {install_command('audio')}"
PORTAUDIO_HINT = (
    "a sound device needs the PortAudio library (apt install libportaudio2, brew install portaudio)"
)


def load_sounddevice(hint: str = "") -> ModuleType:
    """Import ``sounddevice`` (the ``audio`` extra).

    Raises:
        ConfigurationError: it is not installed, or PortAudio is missing; the message
            is one line saying what to install, followed by ``hint``.
    """
    try:
        import sounddevice
    except ImportError:
        raise ConfigurationError(INSTALL_HINT + hint) from None
    except OSError:  # the Python package is there, the PortAudio library is not
        raise ConfigurationError(PORTAUDIO_HINT + hint) from None
    module: ModuleType = sounddevice
    return module


async def wav_frames(
    path: str | Path, frame_ms: float = 20.0, real_time: bool = True
) -> AsyncIterator[bytes]:
    """A WAV file as frames of 16 kHz mono PCM; with ``real_time`` at a microphone's
    pace (a late frame catches up, the schedule does not drift)."""
    pcm = to_pcm16(read_wav(path), INPUT_RATE)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, frame in enumerate(frames(pcm, INPUT_RATE, frame_ms, pad=True)):
        if real_time:
            delay = start + i * frame_ms / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        yield frame


def _open_stream(sd: Any, kind: str, rate: int, frame_ms: float, callback: Any) -> tuple[Any, int]:
    """A raw 16-bit mono PortAudio stream at ``rate``, else at the device's own rate."""
    opener = sd.RawInputStream if kind == "input" else sd.RawOutputStream
    for attempt in (rate, None):
        if attempt is None:  # the device does not do `rate`: take its own, resample
            rate = int(sd.query_devices(kind=kind)["default_samplerate"])
        try:
            stream = opener(
                samplerate=rate, channels=1, dtype="int16", callback=callback,
                blocksize=frame_bytes(rate, frame_ms) // 2, latency="low",
            )  # fmt: skip
        except sd.PortAudioError:
            if attempt is None:
                raise
            continue
        return stream, rate
    raise AssertionError("unreachable")


async def microphone_frames(
    frame_ms: float = 20.0,
    max_waiting_seconds: float = 5.0,
    on_drop: Callable[[float], None] | None = None,
) -> AsyncIterator[bytes]:
    """The default microphone as frames of 16 kHz mono PCM (needs the ``audio`` extra).

    The device's thread hands frames to the event loop; when nobody takes them for
    ``max_waiting_seconds`` (a long reconnect), the oldest are dropped and ``on_drop``
    is told how many seconds went.

    Raises:
        ConfigurationError: no ``sounddevice`` or no PortAudio (one line).
    """
    sd = load_sounddevice()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    limit = max(1, int(max_waiting_seconds * 1000 / frame_ms))

    def put(frame: bytes) -> None:  # on the loop thread
        if queue.qsize() >= limit:
            lost = queue.get_nowait()
            if on_drop is not None:
                on_drop(len(lost) / (2 * rate))
        queue.put_nowait(frame)

    def on_audio(data: Any, count: int, timing: Any, status: Any) -> None:  # PortAudio thread
        loop.call_soon_threadsafe(put, bytes(data))

    stream, rate = _open_stream(sd, "input", INPUT_RATE, frame_ms, on_audio)
    resampler = Resampler(rate, INPUT_RATE)
    with stream:
        while True:
            yield resampler.process(await queue.get())


@contextlib.asynccontextmanager
async def speaker(frame_ms: float = 10.0) -> AsyncIterator[PlaybackBuffer]:
    """The default output device playing a :class:`PlaybackBuffer` of 24 kHz audio.

    The device's callback pulls one ``frame_ms`` block at a time, so an
    :meth:`~PlaybackBuffer.interrupt` silences it within one block (10 ms: half the
    20 ms frame that is the barge-in target, the rest left for the network path).

    Raises:
        ConfigurationError: no ``sounddevice`` or no PortAudio (one line).
    """
    sd = load_sounddevice()
    holder: list[PlaybackBuffer] = []

    def on_block(out: Any, count: int, timing: Any, status: Any) -> None:  # PortAudio thread
        out[:] = holder[0].fill(len(out)) if holder else bytes(len(out))

    stream, rate = _open_stream(sd, "output", OUTPUT_RATE, frame_ms, on_block)
    holder.append(PlaybackBuffer(rate, input_rate=OUTPUT_RATE))
    with stream:
        yield holder[0]


@contextlib.asynccontextmanager
async def wav_speaker(path: str | Path, frame_ms: float = 10.0) -> AsyncIterator[PlaybackBuffer]:
    """A simulated sound card that plays a :class:`PlaybackBuffer` into a WAV file in
    real time (:func:`play_in_real_time`): the file holds exactly what was played."""
    buffer = PlaybackBuffer(OUTPUT_RATE)
    stop = asyncio.Event()
    with WavSink(path, OUTPUT_RATE) as sink:
        player = asyncio.create_task(play_in_real_time(buffer, sink.write, frame_ms, stop))
        try:
            yield buffer
        finally:
            stop.set()
            await player
