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
- :func:`microphone_frames` / :func:`speaker` (a sound device, with the ``audio``
  extra) and :func:`wav_frames` / :func:`wav_speaker` (files, in real time): the two
  ends of a voice agent, interchangeable.
- :class:`EnergyVAD`: a client-side energy voice activity detector, for sessions that
  turn the server's automatic activity detection off and send ``activityStart`` /
  ``activityEnd`` themselves.

No import here needs more than the standard library; ``soxr`` and ``numpy`` are imported
lazily, and only when installed (the ``audio`` extra: ``pip install -e '.[audio]'``
in a clone of the repository).
"""

from __future__ import annotations

from .devices import (
    INSTALL_HINT,
    PORTAUDIO_HINT,
    load_sounddevice,
    microphone_frames,
    speaker,
    wav_frames,
    wav_speaker,
)
from .pcm import (
    INPUT_RATE,
    OUTPUT_RATE,
    Resampler,
    WavAudio,
    WavSink,
    frame_bytes,
    frames,
    have_soxr,
    read_wav,
    rms_dbfs,
    to_pcm16,
    write_wav,
)
from .playback import Interruption, PlaybackBuffer, play_in_real_time
from .vad import EnergyVAD, VadEvent

__all__ = [
    "INPUT_RATE",
    "INSTALL_HINT",
    "OUTPUT_RATE",
    "PORTAUDIO_HINT",
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
    "load_sounddevice",
    "microphone_frames",
    "play_in_real_time",
    "read_wav",
    "rms_dbfs",
    "speaker",
    "to_pcm16",
    "wav_frames",
    "wav_speaker",
    "write_wav",
]
