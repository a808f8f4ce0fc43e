"""Server-side automatic activity detection on the audio's energy (deterministic).

The real detector is a model; the emulator's is a threshold on the RMS level of 10 ms
frames of 16-bit PCM, counted in *audio time* (the bytes received), never in wall time,
so a test gets the same turns however loaded the machine is.

How a test makes speech and silence
-----------------------------------

- **speech**: 16-bit PCM whose RMS is at least 1000 (for example a 440 Hz tone of
  amplitude 3000, RMS about 2100). Speech under every sensitivity setting.
- **silence**: RMS under 100 (all-zero PCM is simplest). Silence under every setting.
- The levels in between depend on the sensitivities (:data:`START_LEVELS`,
  :data:`END_LEVELS`).

The knobs of ``realtimeInputConfig.automaticActivityDetection``
(https://ai.google.dev/api/live#automaticactivitydetection, and google-genai's
``AutomaticActivityDetection``):

- ``startOfSpeechSensitivity``: HIGH (the Gemini API default, per the SDK's enum doc)
  counts a frame of RMS >= 300 as speech; LOW needs RMS >= 1000.
- ``prefixPaddingMs``: speech must last this long before start-of-speech is committed
  (emulator default 20 ms; the service's default is not published).
- ``endOfSpeechSensitivity``: HIGH (default) counts a frame of RMS < 300 as non-speech
  once speaking; LOW only RMS < 100 (ends speech less often).
- ``silenceDurationMs``: non-speech must last this long before end-of-speech is
  committed (emulator default 500 ms; the service's default is not published).
"""

from __future__ import annotations

import math
import operator
import sys
from array import array
from dataclasses import dataclass
from typing import Any

__all__ = [
    "END_LEVELS",
    "START_LEVELS",
    "VadEvent",
    "VadSettings",
    "VoiceActivityDetector",
    "pcm_rate",
    "rms",
]

#: RMS a frame needs to count as speech, by ``startOfSpeechSensitivity``.
START_LEVELS = {"START_SENSITIVITY_HIGH": 300.0, "START_SENSITIVITY_LOW": 1000.0}
#: RMS under which a frame counts as non-speech while speaking, by ``endOfSpeechSensitivity``.
END_LEVELS = {"END_SENSITIVITY_HIGH": 300.0, "END_SENSITIVITY_LOW": 100.0}
_DEFAULT_START = START_LEVELS["START_SENSITIVITY_HIGH"]
_DEFAULT_END = END_LEVELS["END_SENSITIVITY_HIGH"]
DEFAULT_PREFIX_PADDING_MS = 20
DEFAULT_SILENCE_DURATION_MS = 500
_FRAME_MS = 10
_BIG_ENDIAN = sys.byteorder == "big"


def pcm_rate(mime: str) -> int:
    """The sample rate of an ``audio/pcm;rate=N`` MIME type (16000 when not given)."""
    for param in mime.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "rate" and value.strip().isdigit():
            return max(1, int(value.strip()))
    return 16000


def rms(samples: array[int]) -> float:
    """Root mean square of 16-bit samples (0.0 for none)."""
    if not samples:
        return 0.0
    return math.sqrt(sum(map(operator.mul, samples, samples)) / len(samples))


@dataclass(frozen=True, slots=True)
class VadSettings:
    """``automaticActivityDetection`` resolved to numbers."""

    disabled: bool = False
    start_level: float = _DEFAULT_START
    end_level: float = _DEFAULT_END
    prefix_padding_ms: int = DEFAULT_PREFIX_PADDING_MS
    silence_duration_ms: int = DEFAULT_SILENCE_DURATION_MS

    @classmethod
    def from_setup(cls, aad: dict[str, Any] | None) -> VadSettings:
        """Settings from a (schema-checked, camelCase) ``automaticActivityDetection``."""
        aad = aad or {}
        start = START_LEVELS.get(aad.get("startOfSpeechSensitivity", ""), _DEFAULT_START)
        end = END_LEVELS.get(aad.get("endOfSpeechSensitivity", ""), _DEFAULT_END)
        prefix = aad.get("prefixPaddingMs")
        silence = aad.get("silenceDurationMs")
        return cls(
            disabled=bool(aad.get("disabled", False)),
            start_level=start,
            end_level=end,
            prefix_padding_ms=DEFAULT_PREFIX_PADDING_MS if prefix is None else int(prefix),
            silence_duration_ms=DEFAULT_SILENCE_DURATION_MS if silence is None else int(silence),
        )


@dataclass(frozen=True, slots=True)
class VadEvent:
    """Start or end of speech, at an audio time (ms since the stream began)."""

    kind: str  # "start" | "end"
    at_ms: int


class VoiceActivityDetector:
    """Feeds on PCM chunks; reports committed starts and ends of speech.

    Also keeps the durations a turn is made of: ``speech_ms`` (audio from the committed
    start, prefix included, to the last speech frame) and ``total_ms`` (every audio ms
    since the last turn ended).
    """

    def __init__(self, settings: VadSettings) -> None:
        self.settings = settings
        self.in_speech = False
        self.audio_ms = 0
        self._run_speech_ms = 0
        self._run_silence_ms = 0
        self._speech_start_ms = 0
        self._last_speech_ms = 0
        self._carry = b""

    def feed(self, pcm: bytes, rate: int = 16000) -> list[VadEvent]:
        """Process a chunk of 16-bit little-endian mono PCM at ``rate``."""
        events: list[VadEvent] = []
        data = self._carry + pcm
        frame_bytes = max(2, rate * _FRAME_MS // 1000 * 2)
        whole = len(data) - len(data) % frame_bytes
        self._carry = data[whole:]
        settings = self.settings
        for offset in range(0, whole, frame_bytes):
            samples = array("h", data[offset : offset + frame_bytes])
            if _BIG_ENDIAN:
                samples.byteswap()
            level = rms(samples)
            self.audio_ms += _FRAME_MS
            if not self.in_speech:
                if level >= settings.start_level:
                    self._run_speech_ms += _FRAME_MS
                    if self._run_speech_ms >= max(settings.prefix_padding_ms, _FRAME_MS):
                        self.in_speech = True
                        self._speech_start_ms = self.audio_ms - self._run_speech_ms
                        self._last_speech_ms = self.audio_ms
                        self._run_silence_ms = 0
                        events.append(VadEvent("start", self._speech_start_ms))
                else:
                    self._run_speech_ms = 0
            elif level < settings.end_level:
                self._run_silence_ms += _FRAME_MS
                if self._run_silence_ms >= settings.silence_duration_ms:
                    events.append(VadEvent("end", self.audio_ms))
                    self.in_speech = False
                    self._run_speech_ms = 0
            else:
                self._run_silence_ms = 0
                self._last_speech_ms = self.audio_ms
        return events

    @property
    def speech_ms(self) -> int:
        """Length of the current (or just ended) activity, trailing silence excluded."""
        return self._last_speech_ms - self._speech_start_ms

    def force_end(self) -> VadEvent | None:
        """End speech now (``audioStreamEnd``); None when not speaking."""
        self._carry = b""
        if not self.in_speech:
            return None
        self.in_speech = False
        self._run_speech_ms = 0
        return VadEvent("end", self.audio_ms)
