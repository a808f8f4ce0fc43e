"""The Live API (``BidiGenerateContent``) side of the emulator: one WebSocket session.

Behaviour, following ``live-protocol.md``:

- Key check on the upgrade headers (``x-goog-api-key`` or ``?key=``; on the
  ``...Constrained`` endpoint ``Authorization: Token auth_tokens/...`` or
  ``?access_token=``). A failing key is accepted at HTTP level; the server closes with
  1008 when the first message arrives, as the real service does.
- The first message must be ``setup`` (else 1007). Unknown or non-Live model: 1008.
  Malformed setup, unknown top-level keys, bad base64, a second setup, a tool response
  with an unknown id: 1007 "Request contains an invalid argument.".
- ``sessionResumption: {"handle": H}`` with an unknown handle closes with 1007 (the
  handle is an argument of ``setup`` that does not resolve; the client should start a
  fresh session). Handles live in memory for the emulator's lifetime.
- Content arriving while an answer streams (``clientContent``, ``realtimeInput.text``,
  ``activityStart``, or non-silent audio: any non-zero PCM byte, a crude VAD) interrupts
  it: ``{"serverContent": {"interrupted": true}}``. While a tool call is pending, new
  content cancels it with ``toolCallCancellation``.
- Without ``generationConfig.responseModalities`` the answer is AUDIO, as on the real
  service: ask for ``["TEXT"]`` to get text parts.
- Audio turns end on ``activityEnd`` or ``audioStreamEnd``; their user text is
  ``"audio of N bytes"`` (also the ``inputTranscription`` when enabled).
- Server messages go out as JSON in binary frames, like production.
- Fault plans (:mod:`.faults`) from the upgrade header, a ``fault:`` marker in a turn's
  text, or the config make a turn misbehave; pings are answered here (not by aiohttp)
  so that a plan can delay or drop the pongs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import WSMsgType, web

from .catalog import find_model, supports
from .faults import GARBAGE, TRUNCATED, FaultPlan, find_marker, strip_marker
from .model import Answer, generate_answer, pcm_audio_for
from .pacing import Pacer
from .wire import b64decode_any, camel_key, decode_json, encode_json, to_camel

if TYPE_CHECKING:
    from .server import Emulator

__all__ = [
    "LIVE_METHODS",
    "LiveSession",
    "format_duration",
    "live_path",
    "new_handle",
]

#: The two Live endpoints, by method name.
LIVE_METHODS = ("BidiGenerateContent", "BidiGenerateContentConstrained")

INVALID_ARGUMENT = "Request contains an invalid argument."
API_KEY_INVALID = "API key not valid. Please pass a valid API key."
DEADLINE_EXPIRED = "Deadline expired before operation could complete."
SHUTTING_DOWN = "The service is shutting down."

# Pre-encoded server messages: most of a Live answer is these bytes.
_SETUP_COMPLETE = b'{"setupComplete":{}}'
_GENERATION_COMPLETE = b'{"serverContent":{"generationComplete":true}}'
_INTERRUPTED = b'{"serverContent":{"interrupted":true}}'
_TEXT_HEAD = b'{"serverContent":{"modelTurn":{"parts":[{"text":'
_TEXT_TAIL = b'}],"role":"model"}}}'
_AUDIO_HEAD = (
    b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
    b'{"mimeType":"audio/pcm;rate=24000","data":"'
)
_AUDIO_TAIL = b'"}}],"role":"model"}}}'
_OUT_TRANSCRIPT_HEAD = b'{"serverContent":{"outputTranscription":{"text":'
_OUT_TRANSCRIPT_TAIL = b"}}}"

_CLIENT_KEYS = frozenset({"setup", "clientContent", "realtimeInput", "toolResponse"})
_REALTIME_KEYS = frozenset(
    {"audio", "video", "text", "activityStart", "activityEnd", "audioStreamEnd", "mediaChunks"}
)
_MODALITIES = frozenset({"TEXT", "AUDIO"})
# A close reason must fit in a control frame (125 bytes, 2 of them the code).
_MAX_REASON = 123
# Close reasons the real service gives, for fault plans that close with a code.
_CLOSE_REASONS = {
    1000: "The operation was cancelled.",
    1007: INVALID_ARGUMENT,
    1008: "Policy violation.",
    1011: "Internal error encountered.",
}


def live_path(version: str, method: str = "BidiGenerateContent") -> str:
    """The URL path of a Live endpoint for an API version."""
    return f"/ws/google.ai.generativelanguage.{version}.GenerativeService.{method}"


def format_duration(seconds: float) -> str:
    """A proto-JSON Duration string: ``"1s"``, ``"0.500s"``."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.3f}s"


def _reason(text: str) -> bytes:
    raw = text.encode()
    if len(raw) <= _MAX_REASON:
        return raw
    return raw[:_MAX_REASON].decode("utf-8", "ignore").encode()


class _Invalid(Exception):
    """A client message the server rejects: close with ``code`` and ``reason``."""

    def __init__(self, reason: str = INVALID_ARGUMENT, code: int = 1007) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _check_contents(turns: Any) -> list[dict[str, Any]]:
    """Validate a list of Content (camelCase) and fill in the default role."""
    if not isinstance(turns, list):
        raise _Invalid()
    checked: list[dict[str, Any]] = []
    for turn in turns:
        if not isinstance(turn, dict):
            raise _Invalid()
        parts = turn.get("parts", [])
        role = turn.get("role") or "user"
        if not isinstance(parts, list) or not isinstance(role, str):
            raise _Invalid()
        for part in parts:
            if not isinstance(part, dict):
                raise _Invalid()
            if "text" in part and not isinstance(part["text"], str):
                raise _Invalid()
            blob = part.get("inlineData")
            if blob is not None:
                _decode_blob(blob)
        checked.append({**turn, "role": role, "parts": parts})
    return checked


def _decode_blob(blob: Any) -> tuple[str, bytes]:
    if not isinstance(blob, dict):
        raise _Invalid()
    data = blob.get("data", "")
    mime = blob.get("mimeType", "")
    if not isinstance(data, str) or not isinstance(mime, str):
        raise _Invalid()
    try:
        return mime, b64decode_any(data)
    except ValueError:
        raise _Invalid() from None


def _opt(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise _Invalid()
    return value


class LiveSession:
    """One Live WebSocket connection: setup, turns, tools, audio, resumption, lifetime."""

    def __init__(
        self,
        emulator: Emulator,
        request: web.Request,
        ws: web.WebSocketResponse,
        version: str,
        method: str,
        plan: FaultPlan | None = None,
    ) -> None:
        self._emu = emulator
        self._cfg = emulator.config
        self._stats = emulator.stats
        self._ws = ws
        self._version = version
        self._auth_error = self._check_auth(request, method)
        self._set_up = False
        self._closing = False
        self._closed = asyncio.Event()
        self.history: list[dict[str, Any]] = []
        self._model = ""
        self._max_tokens = self._cfg.default_max_output_tokens
        self._audio_out = False
        self._in_transcription = False
        self._out_transcription = False
        self._system_instruction: Any = None
        self._tools: Any = None
        self._resumable = False
        self._answer_task: asyncio.Task[None] | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._pending_calls: dict[str, str] = {}
        self._audio_bytes = 0
        self._turn_counter = 0
        #: The plan of every turn, from the upgrade header.
        self._plan = plan
        self._turn_plan: FaultPlan | None = None
        #: None: pongs at once; a number: pongs that many seconds late; inf: never.
        self._pong_delay: float | None = None
        self._late_pongs: set[asyncio.Task[None]] = set()

    # -- auth ---------------------------------------------------------------------

    def _check_auth(self, request: web.Request, method: str) -> str | None:
        """The 1008 reason when the credentials fail, else None."""
        expected = self._cfg.api_key
        if method == "BidiGenerateContentConstrained":
            auth = request.headers.get("Authorization", "")
            token = auth[len("Token ") :] if auth.startswith("Token ") else None
            token = token or request.query.get("access_token")
            if expected is None:
                return None
            # Ephemeral tokens are minted by the service; the emulator trusts their shape.
            if token is None or not token.startswith("auth_tokens/"):
                return "Ephemeral token not valid."
            return None
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if expected is None or key == expected:
            return None
        return API_KEY_INVALID

    # -- life cycle ---------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until either side closes it."""
        lifetime = self._cfg.live_connection_lifetime
        if lifetime is not None:
            self._timer_task = asyncio.create_task(self._lifetime(lifetime))
        try:
            async for msg in self._ws:
                if msg.type is WSMsgType.PING:
                    await self._on_ping(msg.data)
                elif msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    self._stats.ws_messages_received += 1
                    try:
                        await self._handle(msg.data)
                    except _Invalid as exc:
                        await self.close(exc.code, exc.reason)
                    if self._closing:
                        break
        finally:
            await self._cancel_answer()
            for pong in list(self._late_pongs):
                pong.cancel()
            if self._late_pongs:
                await asyncio.wait(self._late_pongs)
            timer = self._timer_task
            if timer is not None and not timer.done():
                if self._closing and not self._closed.is_set():
                    # The timer is closing the socket right now: let it finish.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(timer)
                else:
                    timer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await timer
            if self._closing:
                await self._closed.wait()

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` and ``reason`` (a proper close frame); idempotent."""
        if self._closing:
            return
        self._closing = True
        codes = self._stats.ws_close_codes
        codes[code] = codes.get(code, 0) + 1
        current = asyncio.current_task()
        if self._answer_task is not None and self._answer_task is not current:
            await self._cancel_answer()
        try:
            # drain=False: a client that stopped reading must not hold the close up;
            # the transport still flushes what it buffered before it shuts.
            await self._ws.close(code=code, message=_reason(reason), drain=False)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self._closed.set()

    async def send_go_away(self, time_left: float) -> None:
        """Tell the client the connection ends in ``time_left`` seconds."""
        self._stats.go_aways += 1
        await self._send(encode_json({"goAway": {"timeLeft": format_duration(time_left)}}))

    async def _lifetime(self, lifetime: float) -> None:
        notice = min(self._cfg.go_away_notice, lifetime)
        await asyncio.sleep(lifetime - notice)
        await self.send_go_away(notice)
        await asyncio.sleep(notice)
        await self.close(1011, DEADLINE_EXPIRED)

    async def _on_ping(self, data: bytes) -> None:
        delay = self._pong_delay
        if delay is None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._ws.pong(data)
        elif delay != float("inf"):
            task = asyncio.create_task(self._late_pong(data, delay))
            self._late_pongs.add(task)
            task.add_done_callback(self._late_pongs.discard)

    async def _late_pong(self, data: bytes, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self._ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._ws.pong(data)

    async def _send(self, data: bytes) -> None:
        if self._ws.closed:
            return
        try:
            await self._ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            return
        self._stats.ws_messages_sent += 1

    # -- dispatch -------------------------------------------------------------------

    async def _handle(self, data: str | bytes) -> None:
        try:
            message = decode_json(data)
        except msgspec.DecodeError:
            raise _Invalid() from None
        if not isinstance(message, dict) or len(message) != 1:
            raise _Invalid()
        ((raw_key, raw_body),) = message.items()
        key = camel_key(raw_key) if "_" in raw_key else raw_key
        if not self._set_up:
            if self._auth_error is not None:
                raise _Invalid(self._auth_error, 1008)
            if key != "setup":
                raise _Invalid()
            await self._setup(to_camel(raw_body))
            return
        if key not in _CLIENT_KEYS or key == "setup":
            raise _Invalid()
        body = to_camel(raw_body)
        if not isinstance(body, dict):
            raise _Invalid()
        if key == "clientContent":
            await self._client_content(body)
        elif key == "realtimeInput":
            await self._realtime_input(body)
        else:
            await self._tool_response(body)

    async def _setup(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise _Invalid()
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _Invalid()
        gen = _opt(body, "generationConfig", dict) or {}
        # The service answers in AUDIO unless asked otherwise (documented default).
        modalities = _opt(gen, "responseModalities", list) or ["AUDIO"]
        upper = [m.upper() if isinstance(m, str) else m for m in modalities]
        if len(upper) != 1 or upper[0] not in _MODALITIES:
            raise _Invalid()
        max_tokens = gen.get("maxOutputTokens")
        if max_tokens is not None and (
            not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0
        ):
            raise _Invalid()
        system = _opt(body, "systemInstruction", dict)
        if system is not None:
            _check_contents([system])
        tools = _opt(body, "tools", list)
        resumption = _opt(body, "sessionResumption", dict)
        handle = _opt(resumption, "handle", str) if resumption is not None else None
        in_tr = _opt(body, "inputAudioTranscription", dict)
        out_tr = _opt(body, "outputAudioTranscription", dict)

        name = model.removeprefix("models/")
        entry = find_model(name)
        if entry is None or not supports(entry, "bidiGenerateContent"):
            raise _Invalid(
                f"models/{name} is not found for API version {self._version}, "
                "or is not supported for bidiGenerateContent",
                1008,
            )
        if handle:
            stored = self._emu.resumption_handles.get(handle)
            if stored is None:
                raise _Invalid()
            self.history = list(stored)
            self._stats.resumptions += 1

        self._model = name
        self._audio_out = upper[0] == "AUDIO"
        if max_tokens is not None:
            self._max_tokens = max_tokens
        self._system_instruction = system
        self._tools = tools
        self._resumable = resumption is not None
        self._in_transcription = in_tr is not None
        self._out_transcription = out_tr is not None
        plan = self._plan or self._emu.default_fault
        if plan is not None and plan.at_setup and self._emu.playing(plan) is not None:
            await self._setup_fault(plan)
            return
        self._set_up = True
        self._stats.ws_setups += 1
        await self._send(_SETUP_COMPLETE)
        if self._resumable:
            await self._send_resumption_update()

    async def _setup_fault(self, plan: FaultPlan) -> None:
        """Misbehave instead of answering ``setup`` (an ``-at-setup`` plan)."""
        kind = plan.kind
        if kind == "close":
            code = plan.code or 1011
            raise _Invalid(_CLOSE_REASONS.get(code, "Injected fault."), code)
        if kind == "http":
            raise _Invalid(plan.http_message, 1011)
        if kind == "nopong":
            self._pong_delay = float("inf")
        elif kind == "slowpong":
            self._pong_delay = plan.delay
        elif kind == "malformed":
            await self._send(TRUNCATED)
        elif kind == "garbage":
            await self._send(GARBAGE)
        elif kind == "oversized":
            await self._send(b'{"setupComplete":{"sessionId":"' + b"x" * plan.size + b'"}}')
        elif kind == "goaway":
            await self.send_go_away(plan.delay)
        # stall and the rest: no setupComplete; the client's open_timeout decides. The
        # read loop goes on, so pings are answered (or not) and a close is seen.

    async def _send_resumption_update(self) -> None:
        handle = self._emu.store_resumption(self.history)
        await self._send(
            encode_json({"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})
        )

    # -- client messages ------------------------------------------------------------

    async def _client_content(self, body: dict[str, Any]) -> None:
        turns = [self._take_marker(t) for t in _check_contents(body.get("turns", []))]
        complete = _opt(body, "turnComplete", bool) or False
        await self._interrupt()
        self.history.extend(turns)
        if complete:
            self._start_answer()

    async def _realtime_input(self, body: dict[str, Any]) -> None:
        if not body or not body.keys() <= _REALTIME_KEYS:
            raise _Invalid()
        blobs: list[Any] = []
        if "mediaChunks" in body:
            chunks = body["mediaChunks"]
            if not isinstance(chunks, list):
                raise _Invalid()
            blobs.extend(chunks)
        if body.get("audio") is not None:
            blobs.append(body["audio"])
        if body.get("video") is not None:
            _decode_blob(body["video"])
        if body.get("activityStart") is not None:
            await self._interrupt()
            self._audio_bytes = 0
        for blob in blobs:
            mime, data = _decode_blob(blob)
            if mime.startswith("audio/") or not mime:
                # Crude VAD: all-zero PCM is silence and does not interrupt.
                if data.strip(b"\x00"):
                    await self._interrupt()
                self._audio_bytes += len(data)
        text = body.get("text")
        if text is not None:
            if not isinstance(text, str):
                raise _Invalid()
            await self._interrupt()
            turn = self._take_marker({"role": "user", "parts": [{"text": text}]})
            self.history.append(turn)
            self._start_answer()
        if body.get("activityEnd") is not None or (
            body.get("audioStreamEnd") and self._audio_bytes > 0
        ):
            await self._end_audio_turn()

    async def _end_audio_turn(self) -> None:
        text = f"audio of {self._audio_bytes} bytes"
        self._audio_bytes = 0
        if self._in_transcription:
            await self._send(encode_json({"serverContent": {"inputTranscription": {"text": text}}}))
        await self._interrupt()
        self.history.append({"role": "user", "parts": [{"text": text}]})
        self._start_answer()

    async def _tool_response(self, body: dict[str, Any]) -> None:
        responses = body.get("functionResponses")
        if not isinstance(responses, list) or not responses:
            raise _Invalid()
        parts: list[dict[str, Any]] = []
        for item in responses:
            if not isinstance(item, dict):
                raise _Invalid()
            call_id = item.get("id")
            if not isinstance(call_id, str) or call_id not in self._pending_calls:
                raise _Invalid()
            name = self._pending_calls.pop(call_id)
            response = item.get("response", {})
            if not isinstance(response, dict):
                raise _Invalid()
            parts.append(
                {
                    "functionResponse": {
                        "id": call_id,
                        "name": item.get("name") or name,
                        "response": response,
                    }
                }
            )
        self.history.append({"role": "user", "parts": parts})
        if not self._pending_calls:
            self._start_answer()

    def _take_marker(self, turn: dict[str, Any]) -> dict[str, Any]:
        """Remove a ``fault:SPEC`` marker from a user turn's text; remember its plan."""
        if turn.get("role") != "user":
            return turn
        parts: list[Any] = []
        for part in turn["parts"]:
            text = part.get("text") if isinstance(part, dict) else None
            if isinstance(text, str) and "fault:" in text:
                try:
                    plan = find_marker(text)
                except ValueError:
                    raise _Invalid() from None
                if plan is not None:
                    self._turn_plan = plan
                    part = {**part, "text": strip_marker(text)}
            parts.append(part)
        return {**turn, "parts": parts}

    # -- answers --------------------------------------------------------------------

    async def _interrupt(self) -> None:
        """Stop the answer in progress (and cancel pending tool calls) for new content."""
        if self._pending_calls:
            ids = list(self._pending_calls)
            self._pending_calls.clear()
            self._stats.tool_call_cancellations += 1
            await self._send(encode_json({"toolCallCancellation": {"ids": ids}}))
        task = self._answer_task
        if task is not None and not task.done():
            await self._cancel_answer()
            self._stats.live_interruptions += 1
            await self._send(_INTERRUPTED)

    async def _cancel_answer(self) -> None:
        task = self._answer_task
        self._answer_task = None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start_answer(self) -> None:
        self._turn_counter += 1
        # Precedence: the upgrade header, then this turn's marker, then the config.
        plan = self._plan or self._turn_plan or self._emu.default_fault
        if plan is not None and plan.at_setup and plan.first is not None:
            plan = None  # a first-K plan for setups only, whether spent or not
        self._turn_plan = None
        plan = self._emu.playing(plan)
        self._answer_task = asyncio.create_task(self._answer(self._turn_counter, plan))

    async def _send_chunk(self, chunk: str) -> None:
        if self._audio_out:
            audio = base64.b64encode(pcm_audio_for(chunk))
            await self._send(_AUDIO_HEAD + audio + _AUDIO_TAIL)
            if self._out_transcription:
                await self._send(_OUT_TRANSCRIPT_HEAD + encode_json(chunk) + _OUT_TRANSCRIPT_TAIL)
        else:
            await self._send(_TEXT_HEAD + encode_json(chunk) + _TEXT_TAIL)

    async def _faulty_answer(self, plan: FaultPlan, chunks: list[str], pacer: Pacer) -> bool:
        """Play ``plan`` over this answer; True when the answer should go on normally."""
        kind = plan.kind
        if kind == "slowpong":
            self._pong_delay = plan.delay
            await asyncio.sleep(3 * plan.delay)
            return True
        if kind in ("flood", "endless"):
            i = 0
            while kind == "endless" or i < plan.size:
                # _send awaits the transport's drain: a client that stops reading pushes
                # back here, and the flood waits.
                await self._send(_TEXT_HEAD + encode_json(f"{i},") + _TEXT_TAIL)
                i += 1
                if i % 64 == 0:
                    await asyncio.sleep(0)
                if self._ws.closed:
                    return False
            return True
        per_chunk = self._cfg.tokens_per_chunk
        for i, chunk in enumerate(chunks[: plan.after]):
            await pacer.wait(i * per_chunk)
            await self._send_chunk(chunk)
            self._stats.live_chunks += 1
        if kind == "close":
            code = plan.code or 1011
            await self.close(code, _CLOSE_REASONS.get(code, "Injected fault."))
        elif kind == "http":
            await self.close(1011, plan.http_message)
        elif kind == "goaway":
            await self.send_go_away(plan.delay)
            await asyncio.sleep(plan.delay)
            await self.close(1011, DEADLINE_EXPIRED)
        else:
            if kind == "nopong":
                self._pong_delay = float("inf")
            elif kind == "malformed":
                await self._send(TRUNCATED)
            elif kind == "garbage":
                await self._send(GARBAGE)
            elif kind == "oversized":
                filler = max(plan.size - len(_TEXT_HEAD) - len(_TEXT_TAIL) - 2, 0)
                await self._send(_TEXT_HEAD + b'"' + b"x" * filler + b'"' + _TEXT_TAIL)
            # stall, nopong, and after a bad message: stay silent until the client goes.
            await asyncio.Event().wait()
        return False

    async def _answer(self, turn: int, plan: FaultPlan | None = None) -> None:
        cfg = self._cfg
        answer = generate_answer(
            self._model,
            self.history,
            max_output_tokens=self._max_tokens,
            system_instruction=self._system_instruction,
            tools=self._tools,
            call_id_prefix=f"fc{turn}",
        )
        pacer = Pacer(cfg.time_to_first_token, cfg.tokens_per_second)
        if plan is not None:
            chunks = answer.chunks(cfg.tokens_per_chunk) if answer.function_call is None else []
            if not await self._faulty_answer(plan, chunks, pacer):
                return
            if plan.kind in ("flood", "endless"):
                await self._end_turn(answer)
                return
            pacer = Pacer(0.0, cfg.tokens_per_second)
        call = answer.function_call
        if call is not None:
            await pacer.wait(0)
            self.history.append({"role": "model", "parts": [{"functionCall": call.to_wire()}]})
            self._pending_calls[call.id] = call.name
            self._stats.tool_calls += 1
            await self._send(encode_json({"toolCall": {"functionCalls": [call.to_wire()]}}))
            return

        sent: list[str] = []
        tokens_before = 0
        per_chunk = cfg.tokens_per_chunk
        send = self._send
        try:
            for chunk in answer.chunks(per_chunk):
                await pacer.wait(tokens_before)
                tokens_before += per_chunk
                if self._audio_out:
                    audio = base64.b64encode(pcm_audio_for(chunk))
                    await send(_AUDIO_HEAD + audio + _AUDIO_TAIL)
                    if self._out_transcription:
                        await send(_OUT_TRANSCRIPT_HEAD + encode_json(chunk) + _OUT_TRANSCRIPT_TAIL)
                else:
                    await send(_TEXT_HEAD + encode_json(chunk) + _TEXT_TAIL)
                sent.append(chunk)
                self._stats.live_chunks += 1
        except asyncio.CancelledError:
            # An interrupted answer stays in the context as far as it was said.
            if sent:
                self.history.append({"role": "model", "parts": [{"text": "".join(sent)}]})
            raise
        await self._end_turn(answer)

    async def _end_turn(self, answer: Answer) -> None:
        send = self._send
        self.history.append({"role": "model", "parts": [{"text": answer.text}]})
        await send(_GENERATION_COMPLETE)
        prompt, response = answer.prompt_token_count, answer.token_count
        await send(
            encode_json(
                {
                    "serverContent": {"turnComplete": True},
                    "usageMetadata": {
                        "promptTokenCount": prompt,
                        "responseTokenCount": response,
                        "totalTokenCount": prompt + response,
                    },
                }
            )
        )
        self._stats.live_turns += 1
        if self._resumable:
            await self._send_resumption_update()


def new_handle() -> str:
    """A fresh, unguessable resumption handle."""
    return secrets.token_urlsafe(18)
