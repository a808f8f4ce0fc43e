"""Playing the model's audio: a buffer that knows what was played, and a real-time clock."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidRequestError
from .pcm import OUTPUT_RATE, Resampler, frame_bytes

__all__ = ["Interruption", "PlaybackBuffer", "play_in_real_time"]


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

    def __init__(
        self, rate: int = OUTPUT_RATE, max_seconds: float = 600.0, input_rate: int | None = None
    ) -> None:
        self.rate = rate
        # A device that cannot play 24 kHz: fed audio is resampled to its rate.
        self._resampler = (
            Resampler(input_rate, rate) if input_rate is not None and input_rate != rate else None
        )
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
        """Queue a chunk of the answer (16-bit mono PCM at :attr:`rate`, or at
        ``input_rate`` when one was given)."""
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
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
