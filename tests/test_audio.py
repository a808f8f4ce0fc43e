"""api_gemini.audio with real (generated) PCM: WAV, resampling, frames, playback, VAD."""

from __future__ import annotations

import asyncio
import math
import struct
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path
from typing import Any

import pytest

from api_gemini._install import install_command
from api_gemini.audio import (
    EnergyVAD,
    PlaybackBuffer,
    Resampler,
    VadEvent,
    WavAudio,
    WavSink,
    frame_bytes,
    frames,
    have_soxr,
    load_sounddevice,
    microphone_frames,
    play_in_real_time,
    read_wav,
    rms_dbfs,
    speaker,
    to_pcm16,
    write_wav,
)
from api_gemini.errors import ConfigurationError, InvalidRequestError


def tone(seconds: float, rate: int, hz: float = 440.0, amplitude: int = 8000) -> bytes:
    """16-bit mono PCM of a sine."""
    count = int(seconds * rate)
    return struct.pack(
        f"<{count}h",
        *(int(amplitude * math.sin(2 * math.pi * hz * i / rate)) for i in range(count)),
    )


def samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def tone_level(pcm: bytes, rate: int, hz: float) -> float:
    """Amplitude of the ``hz`` component (one DFT bin), skipping the edges."""
    xs = samples(pcm)[rate // 20 : -rate // 20]
    re = sum(x * math.cos(2 * math.pi * hz * i / rate) for i, x in enumerate(xs))
    im = sum(x * math.sin(2 * math.pi * hz * i / rate) for i, x in enumerate(xs))
    return 2 * math.hypot(re, im) / len(xs)


# --------------------------------------------------------------------------- WAV


def test_wav_round_trip(tmp_path: Path) -> None:
    pcm = tone(0.25, 24000)
    write_wav(tmp_path / "a.wav", pcm, 24000)
    audio = read_wav(tmp_path / "a.wav")
    assert audio == WavAudio(pcm=pcm, rate=24000, channels=1, sample_width=2)
    assert audio.seconds == pytest.approx(0.25)


def test_wav_sink_writes_as_audio_arrives(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    with WavSink(path, 24000) as sink:
        sink.write(b"\x01\x00" * 10)
        sink.write(b"\x02\x00" * 5)
    with wave.open(str(path)) as reader:
        assert reader.getnframes() == 15
        assert reader.readframes(15) == b"\x01\x00" * 10 + b"\x02\x00" * 5


@pytest.mark.parametrize("width", [1, 3, 4])
def test_other_sample_widths_become_16_bit(tmp_path: Path, width: int) -> None:
    pcm16 = samples(tone(0.1, 16000))
    if width == 1:
        raw = bytes(((s >> 8) + 128) & 0xFF for s in pcm16)
    else:  # the 16-bit value in the top bytes, zeros below
        raw = b"".join(b"\x00" * (width - 2) + struct.pack("<h", s) for s in pcm16)
    path = tmp_path / "w.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(16000)
        out.writeframes(raw)
    got = samples(to_pcm16(read_wav(path)))
    tolerance = 256 if width == 1 else 0
    assert len(got) == len(pcm16)
    assert all(abs(a - b) <= tolerance for a, b in zip(got, pcm16, strict=True))


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    left, right = samples(tone(0.1, 16000)), [1000] * 1600
    interleaved = struct.pack(
        f"<{3200}h", *(v for pair in zip(left, right, strict=True) for v in pair)
    )
    audio = WavAudio(pcm=interleaved, rate=16000, channels=2)
    mono = samples(to_pcm16(audio))
    assert mono == [(a + b) // 2 for a, b in zip(left, right, strict=True)]


def test_not_a_wav_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00nonsense")
    with pytest.raises(InvalidRequestError, match="not a PCM WAV"):
        read_wav(path)


# --------------------------------------------------------------------------- resampling


@pytest.mark.parametrize(
    "engine",
    [
        "linear",
        pytest.param(
            "soxr", marks=pytest.mark.skipif(not have_soxr(), reason="soxr not installed")
        ),
    ],
)
@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resample_to_16k_keeps_a_voice_band_tone(engine: str, rate: int) -> None:
    out = to_pcm16(WavAudio(pcm=tone(1.0, rate, hz=440), rate=rate), engine=engine)
    assert abs(len(out) // 2 - 16000) <= 64  # one second stays one second
    assert tone_level(out, 16000, 440) == pytest.approx(8000, rel=0.05)


@pytest.mark.skipif(not have_soxr(), reason="soxr not installed")
def test_soxr_rejects_what_would_alias() -> None:
    # 10 kHz is above the 8 kHz Nyquist limit of 16 kHz audio: it must go, not fold to 6 kHz.
    out = to_pcm16(WavAudio(pcm=tone(1.0, 48000, hz=10000), rate=48000), engine="soxr")
    assert tone_level(out, 16000, 6000) < 8000 * 0.001  # better than -60 dB


def test_streaming_resampler_matches_one_shot() -> None:
    pcm = tone(0.5, 48000)
    whole = Resampler(48000, 16000, engine="linear").process(pcm, last=True)
    stream = Resampler(48000, 16000, engine="linear")
    pieces = [stream.process(f) for f in frames(pcm, 48000, 20)]
    pieces.append(stream.process(b"", last=True))
    assert b"".join(pieces) == whole


def test_odd_pcm_is_a_typed_error() -> None:
    with pytest.raises(InvalidRequestError):
        Resampler(48000, engine="linear").process(b"\x00\x01\x02")


# --------------------------------------------------------------------------- frames


def test_frames_of_20_ms() -> None:
    pcm = tone(0.05, 16000)  # 50 ms
    cut = list(frames(pcm, 16000, 20))
    assert [len(f) for f in cut] == [640, 640, 320]
    assert b"".join(cut) == pcm
    padded = list(frames(pcm, 16000, 20, pad=True))
    assert [len(f) for f in padded] == [640] * 3 and padded[-1].endswith(b"\x00" * 320)
    assert frame_bytes(24000, 20) == 960


# --------------------------------------------------------------------------- playback


def test_playback_counts_what_was_played_and_interrupt_drops_the_rest() -> None:
    buffer = PlaybackBuffer(rate=24000)
    chunk = tone(0.1, 24000)  # 4800 bytes
    for word in ("The ", "time ", "is ", "noon."):
        buffer.feed(chunk)
        buffer.note_text(word)
    assert buffer.queued_seconds == pytest.approx(0.4)
    played = buffer.read(4800 + 960)  # the first chunk and one frame of the second
    assert played == chunk + chunk[:960]
    cut = buffer.interrupt()
    assert cut.dropped_bytes == 4 * 4800 - len(played)
    assert cut.played_seconds == pytest.approx(len(played) / 48000)
    assert (cut.heard, cut.unheard) == ("The time ", "is noon.")
    assert buffer.read(960) == b""  # silenced at once
    assert buffer.fill(960) == bytes(960)
    assert buffer.played_bytes == len(played)


def test_a_new_answer_after_an_interruption_starts_from_zero() -> None:
    buffer = PlaybackBuffer()
    buffer.feed(b"\x01\x00" * 100)
    buffer.note_text("old")
    buffer.read(50)
    buffer.interrupt()
    buffer.feed(b"\x02\x00" * 100)
    buffer.note_text("new")
    assert buffer.heard_text() == ""
    assert buffer.read(400) == b"\x02\x00" * 100
    assert buffer.heard_text() == "new"
    cut = buffer.interrupt()
    assert (cut.dropped_bytes, cut.heard, cut.played_seconds) == (0, "new", 200 / 48000)


def test_playback_buffer_is_bounded() -> None:
    buffer = PlaybackBuffer(rate=24000, max_seconds=0.1)
    buffer.feed(bytes(4800))
    with pytest.raises(InvalidRequestError, match="playback buffer full"):
        buffer.feed(b"\x00\x00")
    assert buffer.queued_bytes == 4800  # the refused chunk was not half-added


async def test_real_time_player_plays_at_card_speed_and_stops_on_interrupt() -> None:
    buffer = PlaybackBuffer(rate=24000)
    out: list[bytes] = []
    stop = asyncio.Event()
    buffer.feed(tone(10.0, 24000))
    player = asyncio.create_task(play_in_real_time(buffer, out.append, 20, stop))
    while sum(map(len, out)) < 4800:  # 0.1 s played
        await asyncio.sleep(0.005)
    assert buffer.queued_seconds > 5  # not drained at once: paced like a card
    buffer.interrupt()
    played = sum(map(len, out))
    for _ in range(5):
        await asyncio.sleep(0.02)
    assert sum(map(len, out)) == played  # nothing after the interruption
    stop.set()
    await player
    assert b"".join(out) == tone(10.0, 24000)[:played]


# --------------------------------------------------------------------------- VAD


def speech_then_silence() -> bytes:
    return bytes(16000) + tone(0.5, 16000, 300) + bytes(32000)  # 0.5 s silence, 0.5 s, 1 s


def test_energy_vad_finds_speech_and_its_end() -> None:
    vad = EnergyVAD(silence_ms=400, start_ms=60, prefix_ms=100)
    events = [(i, vad.process(f)) for i, f in enumerate(frames(speech_then_silence()))]
    marks = [(i, e) for i, e in events if e is not None]
    # Speech starts at frame 25; 60 ms of it (3 frames) confirm it: START on frame 27.
    # It ends at frame 50; 400 ms (20 frames) of quiet: END on frame 69.
    assert marks == [(27, VadEvent.START), (69, VadEvent.END)]


def test_energy_vad_prefix_keeps_the_first_syllable() -> None:
    vad = EnergyVAD(start_ms=60, prefix_ms=100)
    for frame in frames(speech_then_silence()):
        if vad.process(frame) is VadEvent.START:
            break
    # 100 ms of lead-in silence plus the 60 ms that confirmed the speech.
    assert len(vad.prefix) == 8
    assert rms_dbfs(vad.prefix[0]) == -math.inf and rms_dbfs(vad.prefix[-1]) > -30


def test_energy_vad_ignores_a_click() -> None:
    vad = EnergyVAD(start_ms=60)
    pcm = bytes(6400) + tone(0.02, 16000) + bytes(6400)  # one loud 20 ms frame
    assert all(vad.process(f) is None for f in frames(pcm))


def test_import_api_gemini_imports_no_audio_dependency() -> None:
    code = (
        "import sys, api_gemini, api_gemini.audio; "
        "bad = {'numpy', 'soxr', 'sounddevice'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- sound devices


class FakeSoundDevice:
    """A stand-in for ``sounddevice`` whose one device runs at 48 kHz only: streams call
    back from a thread, as PortAudio does, one block at a time."""

    class PortAudioError(Exception):
        pass

    def __init__(self, microphone: bytes) -> None:
        self.microphone = microphone
        self.played = bytearray()
        self.opened: list[tuple[str, int, int]] = []

    def query_devices(self, kind: str) -> dict[str, float]:
        return {"default_samplerate": 48000.0}

    def _stream(self, kind: str, **options: Any) -> Any:
        if options["samplerate"] != 48000:
            raise self.PortAudioError("Invalid sample rate")
        self.opened.append((kind, options["samplerate"], options["blocksize"]))
        return _FakeStream(self, kind, options["callback"], options["blocksize"])

    def RawInputStream(self, **options: Any) -> Any:
        return self._stream("input", **options)

    def RawOutputStream(self, **options: Any) -> Any:
        return self._stream("output", **options)


class _FakeStream:
    def __init__(self, device: FakeSoundDevice, kind: str, callback: Any, block: int) -> None:
        self._device, self._kind, self._callback, self._block = device, kind, callback, block
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        size = self._block * 2
        offset = 0
        while not self._stop.is_set():
            if self._kind == "input":
                data = self._device.microphone[offset : offset + size]
                if len(data) < size:
                    return
                offset += size
                self._callback(data, self._block, None, None)
            else:
                out = bytearray(size)
                self._callback(out, self._block, None, None)
                self._device.played += out
            time.sleep(0.002)  # faster than real time: the test need not wait

    def __enter__(self) -> _FakeStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_microphone_at_the_devices_own_rate_is_resampled_to_16k(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device = FakeSoundDevice(microphone=tone(1.0, 48000, 440))
    monkeypatch.setitem(sys.modules, "sounddevice", device)
    got = bytearray()
    async for frame in microphone_frames():
        got += frame
        if len(got) >= 30000:  # ~0.94 s of the 1 s
            break
    assert device.opened == [("input", 48000, 960)]  # 16 kHz refused: 20 ms at 48 kHz
    assert tone_level(bytes(got), 16000, 440) == pytest.approx(8000, rel=0.05)


async def test_speaker_plays_the_buffer_and_falls_silent_on_interrupt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device = FakeSoundDevice(microphone=b"")
    monkeypatch.setitem(sys.modules, "sounddevice", device)
    answer = tone(0.5, 24000, 440)
    async with speaker() as buffer:
        assert buffer.rate == 48000  # 24 kHz refused: the answer is resampled for the card
        buffer.feed(answer)
        while buffer.played_seconds < 0.2:
            await asyncio.sleep(0.005)
        cut = buffer.interrupt()
        played = buffer.played_bytes
        await asyncio.sleep(0.05)
    assert cut.dropped_bytes > 0 and buffer.played_bytes == played  # nothing after
    audible = bytes(device.played).strip(b"\x00")  # the card played silence around it
    assert abs(len(audible) - played) <= 4  # exactly what counts as played (zero samples aside)
    assert tone_level(audible, 48000, 440) == pytest.approx(8000, rel=0.1)


def test_no_sounddevice_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(ConfigurationError) as raised:
        load_sounddevice(" (or use files)")
    assert (
        str(raised.value)
        == f"a sound device needs the audio extra: {install_command('audio')} (or use files)"
    )
