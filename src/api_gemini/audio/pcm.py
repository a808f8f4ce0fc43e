"""PCM and WAV: read and write files, convert any layout to 16-bit mono, resample, frame.

16-bit little-endian samples throughout, as the Live API sends and takes them.
"""

from __future__ import annotations

import math
import sys
import wave
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

from ..errors import InvalidRequestError

__all__ = [
    "INPUT_RATE",
    "OUTPUT_RATE",
    "Resampler",
    "WavAudio",
    "WavSink",
    "frame_bytes",
    "frames",
    "have_soxr",
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
