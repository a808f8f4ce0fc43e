"""A client-side energy voice activity detector."""

from __future__ import annotations

import enum
from collections import deque

from ..errors import InvalidRequestError
from .pcm import INPUT_RATE, rms_dbfs

__all__ = ["EnergyVAD", "VadEvent"]


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
