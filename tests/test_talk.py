"""``api-gemini talk`` driven with WAV files through a real emulator.

Speech is a loud tone (RMS far above every detector's threshold), silence is zeros: see
the emulator's ``vad`` module for the levels. Each test sends its input in real time,
as a microphone would, so each takes a few seconds of wall time; no assertion depends
on how fast the machine is, only on the order of events, which audio time fixes.
"""

from __future__ import annotations

import io
import math
import os
import signal
import struct
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api_gemini import audio
from api_gemini.audio import PlaybackBuffer, read_wav, write_wav
from api_gemini.cli import _parser, main
from api_gemini.emulator import Emulator, EmulatorConfig
from api_gemini.errors import DisconnectedError
from api_gemini.talk import TALK_MODEL, TalkReport, talk

ROOT = Path(__file__).resolve().parent.parent
MODEL = TALK_MODEL
RATE = 16000
# Answers of 3 s of audio, produced 3x faster than they play, as a real model does.
PACE: dict[str, Any] = {
    "time_to_first_token": 0.1,
    "tokens_per_second": 150.0,
    "tokens_per_chunk": 5,
    "default_max_output_tokens": 150,
}


def speech(seconds: float) -> bytes:
    """A loud 300 Hz tone: "speech" to every energy detector."""
    count = int(seconds * RATE)
    return struct.pack(
        f"<{count}h", *(int(8000 * math.sin(2 * math.pi * 300 * i / RATE)) for i in range(count))
    )


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(port=0, **PACE)) as emu:
        yield emu


class PlaybackLog:
    """What reached the playback buffer, in order: ("feed", pcm) and ("interrupt", cut)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entries: list[tuple[str, Any]] = []
        feed, interrupt = PlaybackBuffer.feed, PlaybackBuffer.interrupt

        def logged_feed(buffer: PlaybackBuffer, pcm: bytes) -> None:
            self.entries.append(("feed", pcm))
            feed(buffer, pcm)

        def logged_interrupt(buffer: PlaybackBuffer) -> audio.Interruption:
            cut = interrupt(buffer)
            self.entries.append(("interrupt", cut))
            return cut

        monkeypatch.setattr(PlaybackBuffer, "feed", logged_feed)
        monkeypatch.setattr(PlaybackBuffer, "interrupt", logged_interrupt)

    def expected_output(self) -> bytes:
        """The audio a listener heard: each answer up to where it was interrupted."""
        heard = bytearray()
        answer = bytearray()
        for kind, value in self.entries:
            if kind == "feed":
                answer += value
            else:
                played = round(value.played_seconds * 48000)
                assert played + value.dropped_bytes == len(answer)
                heard += answer[:played]
                answer.clear()
        return bytes(heard + answer)


async def run(
    tmp_path: Path, emu: Emulator, pcm: bytes, *options: str
) -> tuple[TalkReport, str, bytes]:
    source, sink = tmp_path / "in.wav", tmp_path / "out.wav"
    write_wav(source, pcm, RATE)
    args = _parser().parse_args(
        ["talk", "--base-url", emu.base_url, "--model", MODEL, "--linger", "1.0",
         "--input", str(source), "--output", str(sink), *options]
    )  # fmt: skip
    out = io.StringIO()
    report = await talk(args, out)
    return report, out.getvalue(), read_wav(sink).pcm


# --------------------------------------------------------------------------- server VAD


async def test_speech_then_silence_gets_an_answer_without_an_end_of_turn_message(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PlaybackLog(monkeypatch)
    report, transcript, played = await run(tmp_path, emulator, speech(0.6) + silence(3.0))
    assert report.answers == 1 and not report.interruptions
    # talk sends audioStreamEnd only when the input is over, and never activityEnd (the
    # emulator refuses it while it detects activity): the server's detector ended the
    # turn on the silence, and the answer came while silence was still being sent.
    assert report.first_audio_at_input is not None
    assert report.first_audio_at_input < report.input_seconds - 1.0
    assert transcript.startswith("you: audio of 6") and "\ngemini: " in transcript
    assert played == log.expected_output() and len(played) == 3 * 48000


async def test_a_44_1_khz_stereo_file_is_heard_as_speech(
    tmp_path: Path, emulator: Emulator
) -> None:
    # What a recorder makes: 44.1 kHz, two channels; talk converts it to 16 kHz mono.
    count = int(0.6 * 44100)
    tone = [int(8000 * math.sin(2 * math.pi * 300 * i / 44100)) for i in range(count)]
    frames = [v for s in tone for v in (s, s)] + [0] * (2 * 2 * 44100)
    source, sink = tmp_path / "stereo.wav", tmp_path / "out.wav"
    with wave.open(str(source), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(44100)
        writer.writeframes(struct.pack(f"<{len(frames)}h", *frames))
    args = _parser().parse_args(
        ["talk", "--base-url", emulator.base_url, "--model", MODEL, "--linger", "1.0",
         "--input", str(source), "--output", str(sink)]
    )  # fmt: skip
    out = io.StringIO()
    report = await talk(args, out)
    assert report.answers == 1, out.getvalue()
    assert out.getvalue().startswith("you: audio of 6")  # about 600 ms of speech heard


async def test_speech_during_the_answer_interrupts_it_and_the_file_holds_what_was_played(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PlaybackLog(monkeypatch)
    pcm = speech(0.5) + silence(1.5) + speech(0.5) + silence(4.0)
    report, transcript, played = await run(tmp_path, emulator, pcm)
    assert len(report.interruptions) == 1, transcript
    cut = report.interruptions[0]
    assert 0 < cut.played_seconds < 3.0 and cut.dropped_bytes > 0
    assert "[interrupted:" in transcript and transcript.count("you: audio of") == 2
    assert report.answers == 1  # the second; the first was interrupted
    # The first answer up to the interruption, then the whole second answer.
    assert played == log.expected_output()
    assert len(played) == round(cut.played_seconds * 48000) + 3 * 48000


# --------------------------------------------------------------------------- client VAD


async def test_client_vad_speech_then_silence_gets_an_answer(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PlaybackLog(monkeypatch)
    report, transcript, played = await run(
        tmp_path, emulator, speech(0.6) + silence(3.0), "--client-vad"
    )
    assert report.answers == 1 and not report.interruptions
    # The answer came while the "microphone" still sent silence: activityEnd did it.
    assert report.first_audio_at_input is not None
    assert report.first_audio_at_input < report.input_seconds - 1.0
    assert transcript.startswith("you: audio of") and "\ngemini: " in transcript
    assert played == log.expected_output() and len(played) == 3 * 48000  # all 3 s played


async def test_client_vad_input_that_ends_mid_speech_still_ends_the_turn(
    tmp_path: Path, emulator: Emulator
) -> None:
    # No silence at the end: the "microphone" goes off while speaking. With our own
    # detection that is activityEnd (audioStreamEnd is for the server's detection only).
    report, transcript, played = await run(tmp_path, emulator, speech(0.6), "--client-vad")
    assert report.answers == 1, transcript
    assert len(played) == 3 * 48000


async def test_client_vad_barge_in_cuts_the_answer_where_it_was_heard(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PlaybackLog(monkeypatch)
    # Speak, wait for the answer, speak over it 1 s into it, then listen to the end.
    pcm = speech(0.5) + silence(1.5) + speech(0.5) + silence(4.0)
    report, transcript, played = await run(tmp_path, emulator, pcm, "--client-vad")
    assert len(report.interruptions) == 1
    cut = report.interruptions[0]
    assert 0 < cut.played_seconds < 3.0 and cut.dropped_bytes > 0
    assert cut.heard and cut.unheard  # part of the transcript was heard, part not
    assert "[interrupted:" in transcript
    assert report.answers == 1  # the second answer; the first was cut
    # The file holds the first answer up to the barge-in, then the whole second one.
    assert played == log.expected_output()
    assert len(played) == round(cut.played_seconds * 48000) + 3 * 48000


@pytest.mark.parametrize("detection", [["--client-vad"], []], ids=["client-vad", "server-vad"])
async def test_talk_survives_go_away_by_resuming(tmp_path: Path, detection: list[str]) -> None:
    # Connections of 6 s (goAway 1 s before the end), answers of 0.5 s: the session moves
    # between two turns, and the second question is answered on the new connection.
    pace = {**PACE, "default_max_output_tokens": 25}
    config = EmulatorConfig(port=0, live_connection_lifetime=6.0, go_away_notice=1.0, **pace)
    async with Emulator(config) as emu:
        pcm = speech(0.4) + silence(6.1) + speech(0.4) + silence(2.0)
        report, transcript, _ = await run(tmp_path, emu, pcm, *detection)
    assert report.reconnects == 1 and report.dropped_input_seconds == 0
    assert report.answers == 2, transcript  # one before the move, one after
    assert transcript.count("you: audio of") == 2


async def test_a_session_that_ends_stops_talk_at_once_with_its_error(tmp_path: Path) -> None:
    # 1008 is never retried: the first answer's connection dies, and talk must not go on
    # sending the rest of a 20 s input to nobody.
    config = EmulatorConfig(port=0, fault="close-1008-after-1", **PACE)
    async with Emulator(config) as emu:
        report = TalkReport()
        args = _parser().parse_args(["talk", "--base-url", emu.base_url, "--model", MODEL])
        source, sink = tmp_path / "in.wav", tmp_path / "out.wav"
        write_wav(source, speech(0.5) + silence(19.5), RATE)
        args.input, args.output, args.client_vad = str(source), str(sink), True
        with pytest.raises(DisconnectedError):
            await talk(args, io.StringIO(), report)
    assert report.input_seconds < 10


# --------------------------------------------------------------------------- the sound stack


def _talk_without_device(
    tmp_path: Path, fake_module: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    paths = [str(ROOT / "src")]
    if fake_module is not None:
        (tmp_path / "sounddevice.py").write_text(fake_module)
        paths.insert(0, str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    code = "import sys; from api_gemini.cli import main; sys.exit(main(sys.argv[1:]))"
    if fake_module is None:  # as if the audio extra were not installed
        code = "import sys; sys.modules['sounddevice'] = None; " + code
    return subprocess.run(
        [sys.executable, "-c", code, "talk", "--emulator"],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip


def test_without_the_audio_extra_talk_says_what_to_install(tmp_path: Path) -> None:
    done = _talk_without_device(tmp_path, None)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "pip install -e" in done.stderr and "[audio]" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_portaudio_talk_says_so_in_one_line(tmp_path: Path) -> None:
    done = _talk_without_device(tmp_path, "raise OSError('PortAudio library not found')\n")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "PortAudio" in done.stderr, done.stderr


def test_ctrl_c_leaves_cleanly_and_finishes_the_output_file(tmp_path: Path) -> None:
    source, sink = tmp_path / "in.wav", tmp_path / "out.wav"
    write_wav(source, (speech(0.4) + silence(1.0)) * 20, RATE)  # 28 s: Ctrl-C comes first
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_gemini.cli", "talk", "--emulator", "--client-vad",
         "--model", MODEL, "--input", str(source), "--output", str(sink)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    # Wait for an answer to be under way, then press Ctrl-C.
    line = proc.stdout.readline()
    assert line.startswith("you: "), line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "(bye)" in err
    assert read_wav(sink).rate == 24000  # the header was finished: a valid file


def test_the_talk_command_is_registered() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["talk", "--help"])
    assert exited.value.code == 0
