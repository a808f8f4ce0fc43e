"""Audio helpers for voice agents: WAV files, resampling, frames, playback, a simple VAD.

The Live API takes 16-bit little-endian mono PCM at 16 kHz and answers with the same
format at 24 kHz (``audio/pcm;rate=24000``). This module does the work between those
bytes and a microphone, a speaker or a file:

- :func:`read_wav` / :func:`write_wav` / :class:`WavSink`: WAV files (stdlib ``wave``).
- :func:`to_pcm16` and :class:`Resampler`: any WAV layout or device rate to 16 kHz mono
  16-bit. With the ``audio`` extra the resampler is ``soxr`` (band-limited, >100 dB
  alias rejection); without it a small pure-Python linear resampler (weak anti-aliasing,
  fine for tests and speech files; see ``docs/decisions.md``, "Audio").
- :func:`frames`: cut PCM into frames of a chosen duration (20 ms is typical).
- :class:`PlaybackBuffer`: the model's audio waiting to be played, with a count of what
  was actually played, so that on ``Interrupted`` the queue is dropped at once and the
  app knows what the listener heard (:meth:`PlaybackBuffer.interrupt`).
  :func:`play_in_real_time` drives one at the speed of a sound card, for files and tests.
- :class:`EnergyVAD`: a client-side energy voice activity detector, for sessions that
  turn the server's automatic activity detection off and send ``activityStart`` /
  ``activityEnd`` themselves.

No import here needs more than the standard library; ``soxr`` and ``numpy`` are imported
lazily, and only when installed (``pip install 'api-gemini[audio]'``).
"""

from __future__ import annotations

import asyncio
import enum
import math
import sys
import threading
import time
import wave
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

from .errors import InvalidRequestError

__all__ = [
    "INPUT_RATE",
    "OUTPUT_RATE",
    "EnergyVAD",
    "Interruption",
    "PlaybackBuffer",
    "Resampler",
    "VadEvent",
    "WavAudio",
    "WavSink",
    "frame_bytes",
    "frames",
    "have_soxr",
    "play_in_real_time",
    "read_wav",
    "rms_dbfs",
    "to_pcm16",
    "write_wav",
]

#: The rate the Live API takes (``audio/pcm;rate=16000``).
INPUT_RATE: Final = 16000
#: The rate of the Live API's audio answers (``audio/pcm;rate=24000``).
OUTPUT_RATE: Final = 24000

_BIG_ENDIAN = sys.byteorder == "big"


# --------------------------------------------------------------------------- WAV


@dataclass(frozen=True, slots=True)
class WavAudio:
    """The content of a WAV file: PCM bytes and their layout."""

    pcm: bytes
    rate: int
    channels: int = 1
    sample_width: int = 2

    @property
    def seconds(self) -> float:
        """Duration."""
        return len(self.pcm) / (self.rate * self.channels * self.sample_width)


def read_wav(path: str | Path | BinaryIO) -> WavAudio:
    """Read a PCM WAV file (8, 16, 24 or 32-bit integer samples, any rate and channels).

    Raises:
        InvalidRequestError: not a PCM WAV file (floating-point WAV is not read).
    """
    try:
        with wave.open(path if not isinstance(path, Path) else str(path), "rb") as reader:
            rate, channels, width = (
                reader.getframerate(),
                reader.getnchannels(),
                reader.getsampwidth(),
            )
            pcm = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise InvalidRequestError(f"not a PCM WAV file ({exc})") from None
    if width not in (1, 2, 3, 4) or channels < 1 or rate <= 0:
        raise InvalidRequestError(f"unsupported WAV: {width}-byte samples, {channels} channels")
    return WavAudio(pcm=pcm, rate=rate, channels=channels, sample_width=width)


def write_wav(path: str | Path, pcm: bytes, rate: int, channels: int = 1) -> None:
    """Write 16-bit little-endian PCM to a WAV file."""
    with WavSink(path, rate, channels) as sink:
        sink.write(pcm)


class WavSink:
    """A WAV file written as audio arrives (the header is finished on :meth:`close`).

    Use as a context manager, or call :meth:`close`; a file cut short by a crash has a
    header that says 0 frames, which most players still read.
    """

    def __init__(self, path: str | Path, rate: int, channels: int = 1) -> None:
        self._writer = wave.open(str(path), "wb")  # noqa: SIM115  (closed by close())
        self._writer.setnchannels(channels)
        self._writer.setsampwidth(2)
        self._writer.setframerate(rate)
        self.bytes_written = 0

    def write(self, pcm: bytes) -> None:
        """Append 16-bit PCM."""
        self._writer.writeframesraw(pcm)
        self.bytes_written += len(pcm)

    def close(self) -> None:
        """Finish the header and close the file (idempotent)."""
        self._writer.close()

    def __enter__(self) -> WavSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- samples


def _samples(pcm: bytes) -> array[int]:
    """16-bit little-endian PCM as an array of ints (native order)."""
    if len(pcm) % 2:
        raise InvalidRequestError(f"16-bit PCM has an even length, got {len(pcm)} bytes")
    samples = array("h", pcm)
    if _BIG_ENDIAN:
        samples.byteswap()
    return samples


def _to_bytes(samples: array[int]) -> bytes:
    if _BIG_ENDIAN:
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def _to_16bit(pcm: bytes, width: int) -> bytes:
    """Integer PCM of ``width`` bytes per sample to 16-bit (keeps the top 16 bits)."""
    if width == 2:
        return pcm
    count = len(pcm) // width
    out = bytearray(count * 2)
    if width == 1:  # 8-bit WAV is unsigned: 128 is zero
        out[1::2] = pcm[:count].translate(bytes((b - 128) & 0xFF for b in range(256)))
    else:  # 24 and 32-bit: little-endian, the two high bytes are the 16-bit sample
        out[0::2] = pcm[width - 2 : count * width : width]
        out[1::2] = pcm[width - 1 : count * width : width]
    return bytes(out)


def _downmix(pcm: bytes, channels: int) -> bytes:
    """Interleaved 16-bit PCM of ``channels`` channels to mono (their mean)."""
    if channels == 1:
        return pcm
    samples = _samples(pcm[: len(pcm) - len(pcm) % (2 * channels)])
    columns = [samples[c::channels] for c in range(channels)]
    mixed = array("h", (sum(group) // channels for group in zip(*columns, strict=True)))
    return _to_bytes(mixed)


def have_soxr() -> bool:
    """Whether the ``soxr`` resampler (the ``audio`` extra) is installed."""
    try:
        import numpy  # noqa: F401
        import soxr  # noqa: F401
    except ImportError:
        return False
    return True


class Resampler:
    """A streaming resampler of 16-bit mono PCM: feed chunks, get chunks.

    Uses ``soxr`` when installed (``engine="soxr"``), else a pure-Python linear
    interpolator with a box pre-filter when downsampling (``engine="linear"``): about
    6 dB of alias rejection instead of more than 100, good enough for speech files and
    tests, not for music. ``engine`` forces one.
    """

    def __init__(self, from_rate: int, to_rate: int = INPUT_RATE, engine: str = "auto") -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise InvalidRequestError(f"rates must be positive, got {from_rate} -> {to_rate}")
        if engine == "auto":
            engine = "soxr" if have_soxr() else "linear"
        if engine not in ("soxr", "linear"):
            raise InvalidRequestError(f"unknown resampler engine {engine!r}")
        self.from_rate, self.to_rate, self.engine = from_rate, to_rate, engine
        self._stream: Any = None
        if engine == "soxr" and from_rate != to_rate:
            import soxr

            self._stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16")
        self._step = from_rate / to_rate  # input samples per output sample
        self._taps = max(1, round(self._step)) if self._step > 1 else 1
        self._history = [0] * (self._taps - 1)  # raw samples for the box filter
        self._carry: list[int] = []  # filtered samples not yet passed
        self._pos = 0.0  # where the next output sample falls in _carry + new

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        """Resample a chunk; ``last=True`` flushes what the resampler still holds."""
        if self.from_rate == self.to_rate:
            return pcm
        if self._stream is not None:
            import numpy as np

            samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16, copy=False)
            out = self._stream.resample_chunk(samples, last=last)
            return bytes(out.astype("<i2", copy=False).tobytes())
        return self._linear(pcm, last)

    def _linear(self, pcm: bytes, last: bool) -> bytes:
        raw = _samples(pcm).tolist()
        taps = self._taps
        if taps > 1:  # box pre-filter: a running mean of `taps` samples
            padded = self._history + raw
            window = sum(padded[: taps - 1])
            filtered = []
            for i in range(taps - 1, len(padded)):
                window += padded[i]
                filtered.append(window // taps)
                window -= padded[i - taps + 1]
            self._history = padded[-(taps - 1) :]
        else:
            filtered = raw
        buf = self._carry + filtered
        out = array("h")
        pos, step, end = self._pos, self._step, len(buf) - 1
        while pos < end:
            i = int(pos)
            frac = pos - i
            out.append(int(buf[i] + (buf[i + 1] - buf[i]) * frac))
            pos += step
        if last and buf and pos < len(buf):
            out.append(buf[-1])
            pos += step
        keep = min(int(pos), len(buf))
        self._carry = buf[keep:]
        self._pos = pos - keep
        return _to_bytes(out)


def to_pcm16(audio: WavAudio, rate: int = INPUT_RATE, engine: str = "auto") -> bytes:
    """Any :class:`WavAudio` to 16-bit mono PCM at ``rate`` (16 kHz: what Live takes)."""
    pcm = _downmix(_to_16bit(audio.pcm, audio.sample_width), audio.channels)
    return Resampler(audio.rate, rate, engine).process(pcm, last=True)


def frame_bytes(rate: int = INPUT_RATE, ms: float = 20.0) -> int:
    """Bytes in one frame of ``ms`` milliseconds of 16-bit mono PCM at ``rate``."""
    size = round(rate * ms / 1000) * 2
    if size <= 0:
        raise InvalidRequestError(f"a frame of {ms} ms at {rate} Hz is empty")
    return size


def frames(
    pcm: bytes, rate: int = INPUT_RATE, ms: float = 20.0, pad: bool = False
) -> Iterator[bytes]:
    """Cut 16-bit mono PCM into frames of ``ms`` milliseconds.

    The last frame is shorter unless ``pad`` fills it with silence.
    """
    size = frame_bytes(rate, ms)
    for start in range(0, len(pcm), size):
        frame = pcm[start : start + size]
        if pad and len(frame) < size:
            frame += bytes(size - len(frame))
        yield frame


def rms_dbfs(frame: bytes) -> float:
    """The loudness of 16-bit PCM in dB below full scale (``-inf`` for silence)."""
    samples = _samples(frame)
    if not samples:
        return -math.inf
    power = math.fsum(s * s for s in samples) / len(samples)
    if power == 0:
        return -math.inf
    return 10 * math.log10(power / (32768.0 * 32768.0))


# --------------------------------------------------------------------------- playback


@dataclass(frozen=True, slots=True)
class Interruption:
    """What :meth:`PlaybackBuffer.interrupt` dropped, and what the listener heard.

    Attributes:
        dropped_bytes: queued audio that will never be played.
        played_seconds: how much of the interrupted answer was played.
        heard: the answer's transcript (from :meth:`PlaybackBuffer.note_text`) as far
            as its audio was played: what the listener heard, to the chunk.
        unheard: the rest of its transcript, dropped with the audio.
    """

    dropped_bytes: int
    played_seconds: float
    heard: str
    unheard: str


class PlaybackBuffer:
    """The model's audio waiting to be played, and a count of what was played.

    The network side calls :meth:`feed` with each chunk of the answer (and
    :meth:`note_text` with its output transcription); the speaker side calls
    :meth:`read` (a file, :func:`play_in_real_time`) or :meth:`fill` (a sound card's
    callback, any thread) for the next frame. Whatever was handed to the speaker counts
    as played. On an ``Interrupted`` event :meth:`interrupt` drops the queue at once:
    the next read returns silence, so playback stops within the frame in flight.

    Thread-safe (one lock; each call holds it for microseconds). Bounded: more than
    ``max_seconds`` of unplayed audio raises :class:`~api_gemini.errors.InvalidRequestError`
    (nothing is dropped silently).
    """

    def __init__(self, rate: int = OUTPUT_RATE, max_seconds: float = 600.0) -> None:
        self.rate = rate
        self._bytes_per_second = rate * 2
        self._max_bytes = int(max_seconds * self._bytes_per_second)
        self._lock = threading.Lock()
        self._chunks: deque[bytes] = deque()
        self._head = 0  # bytes of _chunks[0] already read
        self._queued = 0
        self._fed = 0  # bytes ever fed (positions below count in this stream)
        self._consumed = 0  # bytes ever read or dropped
        self._played = 0  # bytes ever read
        self._answer_start: int | None = None  # fed position where the answer began
        self._marks: list[tuple[int, str]] = []  # (fed position, transcript text)
        self._answer_open = False
        self.interruptions = 0

    # ---- network side

    def feed(self, pcm: bytes) -> None:
        """Queue a chunk of the answer (16-bit mono PCM at :attr:`rate`)."""
        if not pcm:
            return
        with self._lock:
            if self._queued + len(pcm) > self._max_bytes:
                raise InvalidRequestError(
                    f"playback buffer full: {self._queued} bytes unplayed; nothing reads it"
                )
            self._open_answer()
            self._chunks.append(pcm)
            self._queued += len(pcm)
            self._fed += len(pcm)

    def note_text(self, text: str) -> None:
        """Attach output transcription to the audio fed last (it describes that chunk)."""
        with self._lock:
            self._open_answer()
            last = self._chunks[-1] if self._chunks else b""
            self._marks.append((self._fed - len(last), text))

    def end_answer(self) -> None:
        """The answer is complete (``TurnComplete``); the next feed starts a new one.
        Its queued audio still plays."""
        with self._lock:
            self._answer_open = False

    def _open_answer(self) -> None:
        if not self._answer_open:
            self._answer_open = True
            self._answer_start = self._fed
            self._marks = []

    def interrupt(self) -> Interruption:
        """Drop every queued byte now and close the answer; says what was heard."""
        with self._lock:
            heard = "".join(t for pos, t in self._marks if pos < self._consumed)
            unheard = "".join(t for pos, t in self._marks if pos >= self._consumed)
            start = self._answer_start if self._answer_start is not None else self._consumed
            played = max(0, self._consumed - start) if self._answer_open else 0
            dropped = self._queued
            self._chunks.clear()
            self._head = 0
            self._queued = 0
            self._consumed += dropped
            self._answer_open = False
            self._marks = []
            self.interruptions += 1
        return Interruption(dropped, played / self._bytes_per_second, heard, unheard)

    # ---- speaker side

    def read(self, nbytes: int) -> bytes:
        """Take up to ``nbytes`` of queued audio (fewer, or none, when less is queued).
        Everything returned counts as played."""
        with self._lock:
            return self._take(min(nbytes - nbytes % 2, self._queued))

    def fill(self, nbytes: int) -> bytes:
        """Exactly ``nbytes``: queued audio, then silence (for a sound card callback)."""
        data = self.read(nbytes)
        return data + bytes(nbytes - len(data)) if len(data) < nbytes else data

    def _take(self, nbytes: int) -> bytes:
        parts = []
        need = nbytes
        while need:
            chunk = self._chunks[0]
            available = len(chunk) - self._head
            if available <= need:
                parts.append(chunk[self._head :] if self._head else chunk)
                self._chunks.popleft()
                self._head = 0
                need -= available
            else:
                parts.append(chunk[self._head : self._head + need])
                self._head += need
                need = 0
        self._queued -= nbytes
        self._consumed += nbytes
        self._played += nbytes
        return parts[0] if len(parts) == 1 else b"".join(parts)

    # ---- the clock

    @property
    def queued_bytes(self) -> int:
        """Audio waiting to be played."""
        return self._queued

    @property
    def queued_seconds(self) -> float:
        """Audio waiting to be played, in seconds."""
        return self._queued / self._bytes_per_second

    @property
    def played_bytes(self) -> int:
        """Audio handed to the speaker since the buffer was made."""
        return self._played

    @property
    def played_seconds(self) -> float:
        """Audio handed to the speaker since the buffer was made, in seconds."""
        return self._played / self._bytes_per_second

    def heard_text(self) -> str:
        """The current (or last) answer's transcript as far as its audio was played."""
        with self._lock:
            return "".join(t for pos, t in self._marks if pos < self._consumed)


async def play_in_real_time(
    buffer: PlaybackBuffer,
    sink: Callable[[bytes], None],
    frame_ms: float = 20.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Play ``buffer`` into ``sink`` at the speed of a sound card, until ``stop`` is set.

    Each tick hands ``sink`` the audio that a card would have played since the last one
    (at most one frame ahead of the wall clock), so an :meth:`PlaybackBuffer.interrupt`
    stops the audio within one frame, as on a real device. Only audio is passed on, not
    the silence between answers. Late ticks (a loaded machine) catch up; when the queue
    runs dry the clock waits for the next audio instead of counting silence.
    """
    frame = frame_bytes(buffer.rate, frame_ms)
    per_second = buffer.rate * 2
    started = time.monotonic()
    played = 0  # bytes played since `started`
    while stop is None or not stop.is_set():
        due = int((time.monotonic() - started) * per_second) + frame  # one frame ahead
        due -= due % 2
        if due > played:
            data = buffer.read(due - played)
            if data:
                sink(data)
                played += len(data)
            if played < due - frame:
                # Underrun: the card would play silence; restart the clock at the audio.
                started = time.monotonic()
                played = 0
        await asyncio.sleep(frame_ms / 1000)


# --------------------------------------------------------------------------- VAD


class VadEvent(enum.Enum):
    """What :meth:`EnergyVAD.process` saw in a frame."""

    START = "start"
    END = "end"


class EnergyVAD:
    """A client-side energy voice activity detector over 16-bit mono PCM frames.

    For sessions with ``automaticActivityDetection.disabled``: send ``activityStart`` on
    :attr:`VadEvent.START`, then :attr:`prefix` (the audio just before and at the start,
    so the first syllable is not cut), then the frames, and ``activityEnd`` on
    :attr:`VadEvent.END`. Speech is ``start_ms`` of frames louder than
    ``threshold_dbfs``; its end is ``silence_ms`` of quieter frames. Energy is not
    speech: a loud fan counts as talking; prefer the server's detection when you can.
    """

    def __init__(
        self,
        threshold_dbfs: float = -45.0,
        start_ms: float = 60.0,
        silence_ms: float = 500.0,
        prefix_ms: float = 200.0,
        rate: int = INPUT_RATE,
    ) -> None:
        if start_ms < 0 or silence_ms <= 0 or prefix_ms < 0:
            raise InvalidRequestError("start_ms, prefix_ms >= 0 and silence_ms > 0 are needed")
        self.threshold_dbfs = threshold_dbfs
        self._bytes_per_ms = rate * 2 / 1000
        self._start = start_ms * self._bytes_per_ms
        self._silence = silence_ms * self._bytes_per_ms
        self._prefix_max = int(prefix_ms * self._bytes_per_ms)
        self._ring: deque[bytes] = deque()
        self._ring_bytes = 0
        self._loud = 0.0  # bytes of consecutive loud audio
        self._quiet = 0.0  # bytes of consecutive quiet audio
        self.speaking = False
        #: After START: the frames before and at the start of speech, oldest first.
        self.prefix: list[bytes] = []

    def process(self, frame: bytes) -> VadEvent | None:
        """Look at the next frame; returns START or END when speech starts or ends."""
        loud = rms_dbfs(frame) >= self.threshold_dbfs
        if not self.speaking:
            self._ring.append(frame)
            self._ring_bytes += len(frame)
            while self._ring_bytes - len(self._ring[0]) >= self._prefix_max + self._start:
                self._ring_bytes -= len(self._ring.popleft())
            self._loud = self._loud + len(frame) if loud else 0
            if loud and self._loud >= self._start:
                self.speaking = True
                self._quiet = 0
                self.prefix = list(self._ring)
                self._ring.clear()
                self._ring_bytes = 0
                return VadEvent.START
            return None
        self._quiet = 0 if loud else self._quiet + len(frame)
        if self._quiet >= self._silence:
            self.speaking = False
            self._loud = 0
            self.prefix = []
            return VadEvent.END
        return None
