"""``api-gemini talk``: a spoken conversation with a Live model in a terminal.

::

    api-gemini talk                                   # microphone in, speaker out
    api-gemini talk --emulator                        # against a local emulator
    api-gemini talk --input q.wav --output a.wav      # headless: files in and out

Microphone audio goes up as 20 ms frames of 16 kHz PCM, the model's 24 kHz answer is
played as it arrives, and both sides' transcriptions are printed as they come. The
server's voice activity detection decides when the user has finished (no key to press);
``--client-vad`` turns it off and marks speech with a local energy detector instead
(``activityStart`` / ``activityEnd``).

Barge-in: when the user speaks over the answer, the server sends ``interrupted``; the
queued audio is dropped at once (:class:`~api_gemini.audio.PlaybackBuffer`), and the
line says how much of the answer was heard. With ``--client-vad`` playback stops as
soon as the local detector hears speech, without waiting for the server.

``--output FILE.wav`` receives exactly the audio that was played, through a simulated
sound card that plays in real time (:func:`~api_gemini.audio.play_in_real_time`): an
interrupted answer is cut where the listener stopped hearing it. ``--input FILE.wav`` is
sent in real time too (any rate and channel count, converted to 16 kHz mono), then the
microphone is "switched off" (``audioStreamEnd``) and the command waits ``--linger``
seconds of quiet before it leaves.

The session asks for resumption handles and reconnects by itself on ``goAway`` or a
dropped connection (a note on stderr says so). Ctrl-C leaves cleanly: the session is
closed with a handshake and the output file is finished. A sound device needs the
``audio`` extra (``pip install -e '.[audio]'`` in a clone); without it the command
says so in one line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from .audio import (
    INPUT_RATE,
    EnergyVAD,
    Interruption,
    PlaybackBuffer,
    VadEvent,
    load_sounddevice,
    microphone_frames,
    speaker,
    wav_frames,
    wav_speaker,
)
from .client import AsyncClient
from .errors import SessionStateError
from .settings import ReconnectPolicy

if TYPE_CHECKING:
    from .websocket import LiveSession

__all__ = ["TALK_MODEL", "TalkReport", "add_talk_parser", "run_talk", "talk"]

#: The default model of ``talk``: today's stable Live audio model.
TALK_MODEL = "gemini-3.8-live"
#: Added to the one-line hint when the sound stack is missing.
FILES_HINT = " (or give --input/--output FILE.wav)"
#: The pace of ``--emulator``: audio faster than real time, as a real model speaks.
EMULATOR_PACE: dict[str, Any] = {
    "time_to_first_token": 0.3,
    "tokens_per_second": 150.0,  # 150 x 20 ms of audio a second: 3x real time
    "tokens_per_chunk": 5,  # 100 ms of audio per message
    "default_max_output_tokens": 150,  # 3 s answers
}
#: Microphone frames: 20 ms, a common capture block (docs/howto/audio.md: 20 to 100 ms).
FRAME_MS = 20.0
#: Microphone frames that may wait for a reconnect (5 s of them); more are dropped and
#: counted (``TalkReport.dropped_input_seconds``, ``--stats``).
MAX_WAITING_FRAMES = 250
#: Speaker blocks: 10 ms, so that after an interruption at most 10 ms already handed to
#: the card still play (the barge-in target is one 20 ms frame; see performance.md).
PLAYBACK_BLOCK_MS = 10.0


@dataclass
class TalkReport:
    """What a ``talk`` run did, for tests and ``--stats``.

    Attributes:
        input_seconds: audio sent.
        answers: answers that finished (``TurnComplete`` not after an interruption).
        interruptions: each barge-in, with what the listener heard.
        reconnects: times the session moved to a new connection.
        dropped_input_seconds: microphone audio dropped while the network could not
            take it (a long reconnect).
        first_audio_at_input: seconds of input already sent when the first answer
            audio arrived (``None``: no answer).
        played_seconds: answer audio played.
    """

    input_seconds: float = 0.0
    answers: int = 0
    interruptions: list[Interruption] = field(default_factory=list)
    reconnects: int = 0
    dropped_input_seconds: float = 0.0
    first_audio_at_input: float | None = None
    played_seconds: float = 0.0

    def drop_input(self, seconds: float) -> None:
        """Count microphone audio that was dropped."""
        self.dropped_input_seconds += seconds


class _Transcript:
    """Prints both sides' transcriptions as they arrive, one line per speaker turn."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._speaker: str | None = None

    def say(self, speaker: str, text: str) -> None:
        if not text:
            return
        if speaker != self._speaker:
            if self._speaker is not None:
                self._out.write("\n")
            self._out.write(f"{speaker}: ")
            self._speaker = speaker
        self._out.write(text)
        self._out.flush()

    def end(self, note: str = "") -> None:
        if self._speaker is not None or note:
            self._out.write(f"{note}\n" if self._speaker is not None else f"gemini: {note}\n")
            self._out.flush()
        self._speaker = None


# --------------------------------------------------------------------------- the session


def talk_config(args: argparse.Namespace) -> dict[str, Any]:
    """The Live config of ``talk``: audio out, both transcriptions, resumable."""
    config: dict[str, Any] = {
        "responseModalities": ["AUDIO"],
        "inputAudioTranscription": True,
        "outputAudioTranscription": True,
        "sessionResumption": {},
    }
    if args.system:
        config["systemInstruction"] = args.system
    if args.client_vad:
        config["realtimeInputConfig"] = {"automaticActivityDetection": {"disabled": True}}
    return config


class _Conversation:
    """The two directions of one ``talk`` session and the state they share."""

    def __init__(
        self, session: LiveSession, buffer: PlaybackBuffer, out: TextIO, report: TalkReport
    ):
        self.session = session
        self.buffer = buffer
        self.transcript = _Transcript(out)
        self.report = report
        self.answering = False  # an answer has started and not ended
        self.discarding = False  # a local barge-in: drop the old answer's late audio
        self.last_event = time.monotonic()

    async def send(self, source: AsyncIterator[bytes], vad: EnergyVAD | None) -> None:
        """Send the microphone (or file) up; with ``vad``, mark speech ourselves."""
        session, report = self.session, self.report
        async for frame in source:
            report.input_seconds += len(frame) / (2 * INPUT_RATE)
            if vad is None:
                await self._send_audio(frame)
                continue
            event = vad.process(frame)
            if event is VadEvent.START:
                if self.answering or self.buffer.queued_bytes:
                    self._barge_in(self.buffer.interrupt())  # stop now, not a round trip later
                    self.discarding = self.answering
                await session.send_activity_start()
                for early in vad.prefix:
                    await self._send_audio(early)
            elif vad.speaking:
                await self._send_audio(frame)
            elif event is VadEvent.END:
                await self._send_audio(frame)
                await session.send_activity_end()
        # The microphone is off. audioStreamEnd is only for the server's detection
        # (google-genai's docstring of audio_stream_end); ours closes open speech.
        if vad is None:
            await session.send_audio_stream_end()
        elif vad.speaking:
            await session.send_activity_end()

    async def _send_audio(self, frame: bytes) -> None:
        try:
            await self.session.send_audio(frame, INPUT_RATE)
        except SessionStateError:
            if self.session.reconnect_policy is None:
                raise
            # Too many sends wait for a reconnect: this frame is dropped, and counted.
            self.report.drop_input(len(frame) / (2 * INPUT_RATE))

    def _barge_in(self, cut: Interruption) -> None:
        self.report.interruptions.append(cut)
        self.transcript.end(f" [interrupted: {cut.played_seconds:.1f} s heard]")

    async def receive(self) -> None:
        """Play the answers and print both transcripts until the session ends."""
        from .websocket import (
            GoAway,
            InputTranscription,
            Interrupted,
            ModelTurn,
            OutputTranscription,
            Reconnected,
            ToolCall,
            TurnComplete,
        )

        buffer, transcript, report = self.buffer, self.transcript, self.report
        async for event in self.session:
            self.last_event = time.monotonic()
            if isinstance(event, ModelTurn):
                audio = event.audio
                if audio and not self.discarding:
                    if report.first_audio_at_input is None:
                        report.first_audio_at_input = report.input_seconds
                    self.answering = True
                    buffer.feed(audio)
            elif isinstance(event, OutputTranscription):
                if not self.discarding:
                    self.answering = True
                    buffer.note_text(event.text)
                    transcript.say("gemini", event.text)
            elif isinstance(event, InputTranscription):
                transcript.say("you", event.text)
            elif isinstance(event, Interrupted):
                if not self.discarding:  # a local barge-in already stopped playback
                    self._barge_in(buffer.interrupt())
                self.discarding = self.answering = False
            elif isinstance(event, TurnComplete):
                if self.answering:
                    report.answers += 1
                    transcript.end()
                buffer.end_answer()
                self.discarding = self.answering = False
            elif isinstance(event, Reconnected):
                report.reconnects += 1
                print("(reconnected: the conversation goes on)", file=sys.stderr)
                if event.turn_lost:  # that answer will not complete: its audio may play out
                    transcript.end(" [cut short by the reconnect]")
                    buffer.end_answer()
                    self.discarding = self.answering = False
            elif isinstance(event, GoAway):
                print("(the server asked to move: resuming on a new connection)", file=sys.stderr)
            elif isinstance(event, ToolCall):
                print("(the model called a tool; talk offers none)", file=sys.stderr)

    async def settle(self, quiet: float) -> None:
        """Wait until no answer runs, playback is done and ``quiet`` s passed silently."""
        began = time.monotonic()
        while True:
            idle = time.monotonic() - max(self.last_event, began)
            if not self.answering and not self.buffer.queued_bytes and idle >= quiet:
                return
            await asyncio.sleep(0.05)


async def talk(
    args: argparse.Namespace, out: TextIO, report: TalkReport | None = None
) -> TalkReport:
    """Run one conversation as ``args`` says; returns what happened."""
    report = report if report is not None else TalkReport()
    if not (args.input and args.output):
        load_sounddevice(FILES_HINT)  # before connecting: one line if it is missing
    async with contextlib.AsyncExitStack() as stack:
        base_url = args.base_url
        if args.emulator:
            from .emulator import Emulator, EmulatorConfig

            emulator = Emulator(EmulatorConfig(port=0, require_key=False, **EMULATOR_PACE))
            base_url = (await stack.enter_async_context(emulator)).base_url
        client = await stack.enter_async_context(AsyncClient(base_url=base_url))
        model = client.models.by_name(args.model)
        session = await stack.enter_async_context(
            await model.connect(
                talk_config(args), reconnect=ReconnectPolicy(max_pending_sends=MAX_WAITING_FRAMES)
            )
        )
        if args.output:
            buffer = await stack.enter_async_context(wav_speaker(args.output, PLAYBACK_BLOCK_MS))
        else:
            buffer = await stack.enter_async_context(speaker(PLAYBACK_BLOCK_MS))
        source = (
            wav_frames(args.input, FRAME_MS)
            if args.input
            else microphone_frames(FRAME_MS, on_drop=report.drop_input)
        )
        print(
            f"talking to {args.model}"
            + (" (Ctrl-C leaves)" if not args.input else f" with {args.input}"),
            file=sys.stderr,
        )
        conversation = _Conversation(session, buffer, out, report)
        vad = EnergyVAD() if args.client_vad else None
        receiver = asyncio.create_task(conversation.receive())
        sender = asyncio.create_task(conversation.send(source, vad))
        settler: asyncio.Task[None] | None = None
        try:
            # The session may end first (an error, or the server closed it): then stop
            # sending at once rather than talk to nobody.
            await asyncio.wait([sender, receiver], return_when=asyncio.FIRST_COMPLETED)
            if not receiver.done():
                sender.result()  # the input ended (or sending failed: raise)
                settler = asyncio.create_task(conversation.settle(args.linger))
                await asyncio.wait([settler, receiver], return_when=asyncio.FIRST_COMPLETED)
            if receiver.done():
                receiver.result()  # the session ended: raise its error, if any
        finally:
            tasks = [task for task in (sender, settler, receiver) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            for task in tasks:  # their errors were raised above when they mattered
                if not task.cancelled():
                    task.exception()
            report.played_seconds = buffer.played_seconds
    return report


def run_talk(args: argparse.Namespace) -> int:
    """The ``talk`` command's entry point (errors are reported by ``cli.main``)."""
    try:
        report = asyncio.run(talk(args, sys.stdout))
    except KeyboardInterrupt:
        print("\n(bye)", file=sys.stderr)
        return 0
    if args.stats:
        print(
            f"(sent {report.input_seconds:.1f} s, played {report.played_seconds:.1f} s, "
            f"{report.answers} answers, {len(report.interruptions)} interruptions, "
            f"{report.reconnects} reconnects, "
            f"{report.dropped_input_seconds:.1f} s of input dropped)",
            file=sys.stderr,
        )
    return 0


def add_talk_parser(
    sub: Any, add_service_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register ``talk`` on the ``api-gemini`` subcommands."""
    parser = sub.add_parser(
        "talk",
        help="a spoken conversation (microphone and speaker, or WAV files)",
        description=(__doc__ or "").split("\n\n")[0],
    )
    parser.add_argument("--model", default=TALK_MODEL, help=f"a Live audio model ({TALK_MODEL})")
    parser.add_argument("--input", metavar="FILE.wav", help="speak this file instead of the mic")
    parser.add_argument("--output", metavar="FILE.wav", help="play into this file instead")
    parser.add_argument("--system", default=None, help="a system instruction")
    parser.add_argument(
        "--client-vad",
        action="store_true",
        help="detect speech here (activityStart/End) instead of on the server",
    )
    parser.add_argument(
        "--linger", type=float, default=3.0, help="seconds of quiet to wait after --input ends"
    )
    parser.add_argument("--stats", action="store_true", help="print a summary at the end")
    add_service_options(parser)
