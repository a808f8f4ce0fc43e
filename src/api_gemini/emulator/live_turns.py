"""Turns of a Live session: user input in, model answers out, interruptions, tools.

User turns
    ``clientContent`` (appended to the context; ``turnComplete: true`` interrupts a
    running answer and starts one), ``realtimeInput.text`` (activity: it interrupts
    unless ``NO_INTERRUPTION``), and speech. With automatic activity detection on (the
    default), :mod:`.vad` finds speech in the audio; ``activityStart``/``activityEnd``
    are then refused (1007). With ``disabled: true`` the client marks turns with them.
    A spoken turn is "understood" as the text ``"audio of N ms"`` (N: the turn's audio
    by ``turnCoverage``; ``" and K video frames"`` when its video counts), which is also
    its ``inputTranscription`` (``finished: true``); ``interimInputTranscription``
    follows the speech every 100 ms of audio.

Answers
    Audio chunks (24 kHz PCM) with ``outputTranscription`` (the last with ``finished``),
    then ``generationComplete``, then, once the audio's playback time has passed (its
    duration times ``time_scale``, counted from the first chunk), ``turnComplete`` with
    ``usageMetadata`` and ``interactionStatus`` (IDLE, or IN_PROGRESS while a
    NON_BLOCKING call runs). Barge-in: ``toolCallCancellation`` for pending BLOCKING
    calls, ``interrupted``, then ``turnComplete`` (google-genai's docstring of
    ``LiveServerContent.generation_complete``).

Tools
    A prompt naming a declared function gets a ``toolCall``. BLOCKING: the turn waits
    for the response. NON_BLOCKING: the model goes on ("Calling NAME."), and the
    response's ``scheduling`` decides: INTERRUPT interrupts and answers (the 3.8 page's
    word "INTERRUPTED" is not an enum name: the parser refuses it), WHEN_IDLE
    (default) answers after the current answer,
    SILENT only adds to the context. ``willContinue: true`` keeps the call open.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from .faults import find_marker, strip_marker
from .live_faults import play_answer_fault
from .live_setup import LiveRefusal, SessionSettings, non_blocking_functions
from .model import FunctionCallAnswer, generate_answer
from .pacing import Pacer
from .vad import VadSettings, VoiceActivityDetector, pcm_rate
from .wire import b64decode_any, encode_json

if TYPE_CHECKING:
    from .faults import FaultPlan
    from .live import LiveSession

__all__ = ["TurnEngine", "spoken_text"]

#: Audio out: 16-bit mono PCM at 24 kHz; model.pcm_audio_for makes 960 bytes a token.
OUTPUT_BYTES_PER_SECOND = 48_000
_INTERIM_EVERY_MS = 100
_VAD_ON = "activityStart/activityEnd are not allowed while automatic activity detection is on."


def spoken_text(audio_ms: int, video_frames: int = 0) -> str:
    """What the emulator "hears" in a spoken turn."""
    text = f"audio of {audio_ms} ms"
    if video_frames:
        text += f" and {video_frames} video frames"
    return text


class TurnEngine:
    """The conversation of one Live session."""

    def __init__(self, session: LiveSession) -> None:
        self._session = session
        self._cfg = session.config
        self._stats = session.stats
        self.history: list[dict[str, Any]] = []
        self._settings: SessionSettings | None = None
        self._vad = VoiceActivityDetector(VadSettings())
        self._task: asyncio.Task[None] | None = None
        #: A model turn has begun and its turnComplete is not sent yet.
        self._turn_open = False
        self._answer_waiting = False
        #: Pending calls: id -> (name, non_blocking).
        self._pending: dict[str, tuple[str, bool]] = {}
        self._counter = 0
        self._turn_plan: FaultPlan | None = None
        self._system: Any = None
        self._tools: list[Any] = []
        # Spoken-turn accounting (ms of audio).
        self._all_ms = 0.0
        self._activity_ms = 0.0
        self._manual_activity = False
        self._video_frames = 0
        self._interim_at = 0

    def configure(self, settings: SessionSettings, history: list[dict[str, Any]]) -> None:
        """Apply the setup (and a resumed context)."""
        self._settings = settings
        self.history = list(history)
        self._vad = VoiceActivityDetector(settings.vad)
        self._system = settings.system_instruction
        self._tools = settings.tools

    @property
    def busy(self) -> bool:
        """True while the model generates or a tool call is pending (not resumable)."""
        return self._turn_open or bool(self._pending)

    async def stop(self) -> None:
        """Cancel the answer in progress (the connection is going)."""
        task, self._task = self._task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- client messages ----------------------------------------------------------

    async def client_content(self, body: dict[str, Any]) -> None:
        """``clientContent``: add turns; ``turnComplete`` interrupts and answers."""
        turns = body.get("turns") or []
        for i, turn in enumerate(turns):
            _check_content(turn, f"client_content.turns[{i}]")
        complete = bool(body.get("turnComplete"))
        if complete:
            await self.interrupt()
        self.history.extend(
            self._take_marker({**t, "role": t.get("role") or "user"}) for t in turns
        )
        if complete:
            await self._start_answer()

    async def realtime_input(self, body: dict[str, Any]) -> None:
        """``realtimeInput``: audio, video, text and activity signals."""
        settings = self._settings
        assert settings is not None
        vad_on = not settings.vad.disabled
        if ("activityStart" in body or "activityEnd" in body) and vad_on:
            raise LiveRefusal(_VAD_ON)
        if "activityStart" in body:
            self._manual_activity = True
            self._activity_ms = 0.0
            await self._activity_started()
        blobs = list(body.get("mediaChunks") or [])
        if "audio" in body:
            blobs.append(body["audio"])
        if "video" in body:
            blobs.append(
                {**body["video"], "mimeType": body["video"].get("mimeType") or "image/jpeg"}
            )
        for blob in blobs:
            mime = blob.get("mimeType") or ""
            data = b64decode_any(blob.get("data") or "")
            if mime.startswith("audio/") or not mime:
                await self._audio(data, pcm_rate(mime), vad_on)
            else:
                self._video_frames += 1
                self._session.lifecycle.note_video()
        text = body.get("text")
        if text is not None:
            if not text.strip():
                raise LiveRefusal("realtime_input.text must not be empty.")
            await self._activity_started()
            self.history.append(self._take_marker({"role": "user", "parts": [{"text": text}]}))
            await self._answer_or_wait()
        if body.get("audioStreamEnd") and vad_on:
            event = self._vad.force_end()
            if event is not None:
                await self._activity_ended(self._vad.speech_ms)
        if "activityEnd" in body and self._manual_activity:
            self._manual_activity = False
            await self._activity_ended(int(self._activity_ms))

    async def _audio(self, data: bytes, rate: int, vad_on: bool) -> None:
        ms = len(data) / 2 / rate * 1000
        self._all_ms += ms
        if not vad_on:
            if self._manual_activity:
                self._activity_ms += ms
            return
        for event in self._vad.feed(data, rate):
            if event.kind == "start":
                self._interim_at = 0
                await self._activity_started()
            else:
                await self._activity_ended(self._vad.speech_ms)
        if (
            self._vad.in_speech
            and self._settings is not None
            and self._settings.input_transcription
        ):
            heard = self._vad.speech_ms
            if heard - self._interim_at >= _INTERIM_EVERY_MS:
                self._interim_at = heard
                await self._session.send_content(
                    {"interimInputTranscription": {"text": spoken_text(heard)}}
                )

    async def _activity_started(self) -> None:
        settings = self._settings
        if settings is not None and settings.activity_interrupts:
            await self.interrupt()

    async def _activity_ended(self, activity_ms: int) -> None:
        settings = self._settings
        assert settings is not None
        coverage = settings.turn_coverage
        if coverage == "TURN_INCLUDES_ALL_INPUT":
            text = spoken_text(int(self._all_ms), self._video_frames)
        elif coverage == "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO":
            text = spoken_text(activity_ms, self._video_frames)
        else:
            text = spoken_text(activity_ms)
        self._all_ms = 0.0
        self._video_frames = 0
        if settings.input_transcription:
            await self._session.send_content(
                {"inputTranscription": {"text": text, "finished": True}}
            )
        self.history.append({"role": "user", "parts": [{"text": text}]})
        await self._answer_or_wait()

    async def tool_response(self, body: dict[str, Any]) -> None:
        """``toolResponse``: answers to pending calls, honoured by ``scheduling``."""
        responses = body.get("functionResponses") or []
        if not responses:
            raise LiveRefusal("tool_response.function_responses must not be empty.")
        parts: list[dict[str, Any]] = []
        blocking_answered = False
        interrupt = when_idle = False
        for i, item in enumerate(responses):
            call_id = item.get("id")
            if not call_id or call_id not in self._pending:
                where = f"tool_response.function_responses[{i}].id"
                raise LiveRefusal(f"{where} {call_id!r} matches no pending function call.")
            name, non_blocking = self._pending[call_id]
            response = item.get("response") or {}
            if not item.get("willContinue"):
                del self._pending[call_id]
            if not non_blocking:
                blocking_answered = True
            else:
                scheduling = item.get("scheduling") or "WHEN_IDLE"
                if not response and not item.get("willContinue"):
                    continue  # an empty final response only ends the call
                interrupt |= scheduling == "INTERRUPT"
                when_idle |= scheduling in ("WHEN_IDLE", "SCHEDULING_UNSPECIFIED")
            parts.append(
                {
                    "functionResponse": {
                        "id": call_id,
                        "name": item.get("name") or name,
                        "response": response,
                    }
                }
            )
        if parts:
            self.history.append({"role": "user", "parts": parts})
        if blocking_answered and not any(not nb for _, nb in self._pending.values()):
            await self._start_answer(continuing=True)
        elif interrupt:
            await self.interrupt(answer_follows=True)
            await self._start_answer()
        elif when_idle:
            await self._answer_or_wait()
        elif not self._turn_open and not self._pending:
            # The background work ended without an answer (SILENT, or an empty final
            # response): say the session is idle again. The exact message is not
            # documented; google-genai's receive() waits for interactionStatus IDLE,
            # which is "always sent alongside turn_complete".
            await self._send_turn_complete(None)

    def context_update(self, body: dict[str, Any]) -> None:
        """``contextUpdate``: replace the system instruction and/or the tools.

        From google-genai's ``LiveClientContextUpdate``: only the fields set change;
        ``tools`` present (even empty) replaces the tools.
        """
        if "systemInstruction" in body:
            _check_content(body["systemInstruction"], "context_update.system_instruction")
            self._system = body["systemInstruction"]
        if "tools" in body:
            self._tools = body["tools"].get("tools") or []
            if self._settings is not None:
                self._settings.non_blocking = non_blocking_functions(
                    self._tools, self._settings.rules
                )

    def _take_marker(self, turn: dict[str, Any]) -> dict[str, Any]:
        """Remove a ``fault:SPEC`` marker from a user turn's text; remember its plan."""
        if turn.get("role") != "user":
            return turn
        parts: list[Any] = []
        for part in turn.get("parts") or []:
            text = part.get("text")
            if isinstance(text, str) and "fault:" in text:
                try:
                    plan = find_marker(text)
                except ValueError as exc:
                    raise LiveRefusal(str(exc)) from None
                if plan is not None:
                    self._turn_plan = plan
                    part = {**part, "text": strip_marker(text)}
            parts.append(part)
        return {**turn, "parts": parts}

    # -- answers ------------------------------------------------------------------

    async def interrupt(self, *, answer_follows: bool = False) -> None:
        """Barge-in: cancel BLOCKING calls, stop the answer, ``interrupted``, ``turnComplete``.

        ``answer_follows``: the server answers at once (an INTERRUPT function response),
        so the cut turn's ``interactionStatus`` is IN_PROGRESS.
        """
        blocking = [cid for cid, (_, nb) in self._pending.items() if not nb]
        if blocking:
            for cid in blocking:
                del self._pending[cid]
            self._stats.tool_call_cancellations += 1
            await self._session.send(encode_json({"toolCallCancellation": {"ids": blocking}}))
        if not self._turn_open:
            return
        await self.stop()
        self._turn_open = False
        self._answer_waiting = False
        self._stats.live_interruptions += 1
        await self._session.send_content({"interrupted": True})
        await self._send_turn_complete(None, more=answer_follows)

    async def _answer_or_wait(self) -> None:
        if self._turn_open:
            self._answer_waiting = True  # NO_INTERRUPTION / WHEN_IDLE: after this answer
        else:
            await self._start_answer()

    async def _start_answer(self, *, continuing: bool = False) -> None:
        self._counter += 1
        # Precedence: the upgrade header, then this turn's marker, then the config.
        emulator = self._session.emulator
        plan = self._session.plan or self._turn_plan or emulator.default_fault
        if plan is not None and plan.at_setup and plan.first is not None:
            plan = None  # a first-K plan for setups only, whether spent or not
        self._turn_plan = None
        plan = emulator.playing(plan)
        opening = not self._turn_open
        self._turn_open = True
        if opening and not continuing:
            await self._session.lifecycle.send_resumption_update()
        self._task = asyncio.create_task(self._answer(self._counter, plan))

    async def _answer(self, turn: int, plan: FaultPlan | None) -> None:
        settings = self._settings
        assert settings is not None
        cfg = self._cfg
        max_tokens = settings.max_output_tokens
        answer = generate_answer(
            settings.model,
            self.history,
            max_output_tokens=cfg.default_max_output_tokens if max_tokens is None else max_tokens,
            system_instruction=self._system,
            tools=self._tools,
            call_id_prefix=f"fc{turn}",
        )
        pacer = Pacer(cfg.time_to_first_token, cfg.tokens_per_second)
        chunks = answer.chunks(cfg.tokens_per_chunk)
        if plan is not None:
            faulted = chunks if answer.function_call is None else []
            if not await play_answer_fault(self._session, plan, faulted, pacer):
                return
            if plan.kind in ("flood", "endless"):
                chunks = []  # the flood was the answer
            pacer = Pacer(0.0, cfg.tokens_per_second)
        call = answer.function_call
        text = answer.text
        if call is not None:
            await pacer.wait(0)
            non_blocking = settings.non_blocking.get(call.name, False)
            await self._send_call(call, non_blocking)
            if not non_blocking:
                return  # the turn waits for the tool response
            text = f"Calling {call.name}. "
            chunks = [text]
            pacer = Pacer(0.0, cfg.tokens_per_second)
        sent: list[str] = []
        loop = asyncio.get_running_loop()
        started = loop.time()
        audio_bytes = 0
        per_chunk = cfg.tokens_per_chunk
        try:
            for i, chunk in enumerate(chunks):
                await pacer.wait(i * per_chunk)
                if i == 0:
                    started = loop.time()
                audio_bytes += await self._session.send_chunk(chunk, last=i == len(chunks) - 1)
                sent.append(chunk)
        except asyncio.CancelledError:
            # An interrupted answer stays in the context as far as it was said.
            if sent:
                self.history.append({"role": "model", "parts": [{"text": "".join(sent)}]})
            raise
        self.history.append({"role": "model", "parts": [{"text": text}]})
        await self._session.send_content({"generationComplete": True})
        playback = audio_bytes / OUTPUT_BYTES_PER_SECOND * cfg.playback_scale
        await asyncio.sleep(max(0.0, started + playback - loop.time()))
        self._turn_open = False
        self._stats.live_turns += 1
        await self._send_turn_complete(answer)
        if self._answer_waiting:
            self._answer_waiting = False
            await self._start_answer()

    async def _send_call(self, call: FunctionCallAnswer, non_blocking: bool) -> None:
        self.history.append({"role": "model", "parts": [{"functionCall": call.to_wire()}]})
        self._pending[call.id] = (call.name, non_blocking)
        self._stats.tool_calls += 1
        await self._session.send(encode_json({"toolCall": {"functionCalls": [call.to_wire()]}}))

    async def _send_turn_complete(self, answer: Any, *, more: bool = False) -> None:
        # IN_PROGRESS while background work goes on: a NON_BLOCKING call running, or an
        # answer queued to follow (google-genai's receive() reads until IDLE).
        busy = more or self._answer_waiting or bool(self._pending)
        status = "IN_PROGRESS" if busy else "IDLE"
        message: dict[str, Any] = {
            "serverContent": {"turnComplete": True, "interactionStatus": status}
        }
        if answer is not None:
            prompt, response = answer.prompt_token_count, answer.token_count
            message["usageMetadata"] = {
                "promptTokenCount": prompt,
                "responseTokenCount": response,
                "totalTokenCount": prompt + response,
            }
        await self._session.send(encode_json(message))
        await self._session.lifecycle.send_resumption_update()


def _check_content(content: dict[str, Any], where: str) -> None:
    """Refuse what the service refuses in a Content: empty text, a bad role."""
    role = content.get("role")
    if role is not None and role not in ("user", "model"):
        raise LiveRefusal(f"{where}.role must be 'user' or 'model', not {role!r}.")
    for j, part in enumerate(content.get("parts") or []):
        if "text" in part and not part["text"]:
            raise LiveRefusal(f"{where}.parts[{j}].text must not be empty.")
