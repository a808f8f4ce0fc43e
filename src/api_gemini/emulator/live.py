"""The Live API (``BidiGenerateContent``) side of the emulator: one WebSocket session.

Every behaviour, with its source and the test that checks it, is in
``docs/emulator-fidelity.md``. In short:

- Credentials on the upgrade (``x-goog-api-key`` / ``?key=``; on
  ``BidiGenerateContentConstrained`` of ``v1alpha`` an ephemeral token, see
  :mod:`.tokens`); a failing credential closes 1008 at the first message.
- Every client message is checked against the wire schema (:mod:`.schema`): an unknown
  field closes 1007 ``Invalid JSON payload received. Unknown name "x" at 'setup':
  Cannot find field.``. The setup is checked against the model's rules
  (:mod:`.live_setup`, :mod:`.catalog`).
- Spoken turns (:mod:`.live_turns`): server-side activity detection on the audio's
  energy (:mod:`.vad`), or ``activityStart``/``activityEnd`` when it is disabled.
- Answers are audio (24 kHz PCM) with their output transcription; ``generationComplete``
  comes when the last chunk is sent, ``turnComplete`` after the audio's playback time.
  An interrupted answer ends with ``interrupted`` then ``turnComplete``.
- Lifetime (:mod:`.live_lifecycle`): connection lifetime and ``goAway``, session limits,
  resumption handles; all durations scale with ``EmulatorConfig.time_scale``.
- Fault plans (:mod:`.faults`, :mod:`.live_faults`); pings are answered here (not by
  aiohttp) so that a plan can delay or drop the pongs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import WSMsgType, web

from .faults import FaultPlan
from .live_faults import play_setup_fault
from .live_lifecycle import Lifecycle, format_duration
from .live_setup import LiveRefusal, SessionSettings, parse_setup
from .live_turns import TurnEngine
from .model import pcm_audio_for
from .schema import SchemaError, parse
from .tokens import TOKEN_REASONS, EphemeralToken
from .wire import decode_json, encode_json

if TYPE_CHECKING:
    from .server import Emulator

__all__ = ["LIVE_METHODS", "LiveSession", "format_duration", "live_path"]

#: The two Live endpoints, by method name.
LIVE_METHODS = ("BidiGenerateContent", "BidiGenerateContentConstrained")

_log = logging.getLogger(__name__)

API_KEY_INVALID = "API key not valid. Please pass a valid API key."
UNREGISTERED_CALLER = (
    "Method doesn't allow unregistered callers (callers without established identity)."
    " Please use API Key or other form of API consumer identity to call this API."
)
SHUTTING_DOWN = "The service is shutting down."

_SETUP_COMPLETE = b'{"setupComplete":{}}'
_AUDIO_HEAD = (
    b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
    b'{"mimeType":"audio/pcm;rate=24000","data":"'
)
_AUDIO_TAIL = b'"}}],"role":"model"}}}'
# A close reason must fit in a control frame (125 bytes, 2 of them the code).
_MAX_REASON = 123


def live_path(version: str, method: str = "BidiGenerateContent") -> str:
    """The URL path of a Live endpoint for an API version."""
    return f"/ws/google.ai.generativelanguage.{version}.GenerativeService.{method}"


def _reason(text: str) -> bytes:
    raw = text.encode()
    if len(raw) <= _MAX_REASON:
        return raw
    return raw[:_MAX_REASON].decode("utf-8", "ignore").encode()


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
        self.emulator = emulator
        self.config = emulator.config
        self.stats = emulator.stats
        self._ws = ws
        self.version = version
        self._token: EphemeralToken | None = None
        self._auth_error = self._check_auth(request, method, version)
        self._set_up = False
        self._closing = False
        self._closed = asyncio.Event()
        self.settings: SessionSettings | None = None
        #: Index of the last client message taken in (setup is 0).
        self.message_index = -1
        #: The plan of every turn, from the upgrade header.
        self.plan = plan
        self.turns = TurnEngine(self)
        self.lifecycle = Lifecycle(self)
        #: None: pongs at once; a number: pongs that many seconds late; inf: never.
        self.pong_delay: float | None = None
        self._late_pongs: set[asyncio.Task[None]] = set()

    # -- auth ---------------------------------------------------------------------

    def _check_auth(self, request: web.Request, method: str, version: str) -> str | None:
        """The 1008 reason when the credentials fail, else None."""
        if method == "BidiGenerateContentConstrained":
            auth = request.headers.get("Authorization", "")
            token = auth[len("Token ") :] if auth.startswith("Token ") else None
            token = token or request.query.get("access_token")
            if token is not None and token.startswith("auth_tokens/"):
                if version != "v1alpha":
                    return TOKEN_REASONS["version"]
                self._token = self.emulator.tokens.get(token)
                return None if self._token is not None else TOKEN_REASONS["unknown"]
            key = request.headers.get("x-goog-api-key") or request.query.get("key")
            if not self.config.require_key:
                return None
            if key and self.config.api_key in (None, key):
                return None
            return TOKEN_REASONS["unknown"]
        if not self.config.require_key:
            return None  # authentication off (an explicit opt-in)
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        expected = self.config.api_key
        if key and expected in (None, key):
            return None
        if not key:
            # No key (an ephemeral token on the unconstrained endpoint counts as none):
            # https://github.com/google-gemini/cookbook/issues/821 quotes this reason.
            return UNREGISTERED_CALLER
        return API_KEY_INVALID

    # -- life cycle ---------------------------------------------------------------

    @property
    def ws_closed(self) -> bool:
        """True once the socket is closed (or closing)."""
        return self._ws.closed

    async def run(self) -> None:
        """Serve the connection until either side closes it."""
        self.lifecycle.start_connection()
        try:
            async for msg in self._ws:
                if msg.type is WSMsgType.PING:
                    await self._on_ping(msg.data)
                elif msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    self.stats.ws_messages_received += 1
                    try:
                        await self._handle(msg.data)
                    except LiveRefusal as exc:
                        await self.close(exc.code, exc.reason)
                    except Exception:
                        # A bug of the emulator: say so like the service would (1011),
                        # and leave the traceback in the log.
                        _log.exception("Live session failed on a client message")
                        await self.close(1011, "Internal error encountered.")
                    if self._closing:
                        break
        finally:
            await self.turns.stop()
            for pong in list(self._late_pongs):
                pong.cancel()
            if self._late_pongs:
                await asyncio.wait(self._late_pongs)
            await self.lifecycle.stop()
            if self._closing:
                await self._closed.wait()

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` and ``reason`` (a proper close frame); idempotent."""
        if self._closing:
            return
        self._closing = True
        codes = self.stats.ws_close_codes
        codes[code] = codes.get(code, 0) + 1
        await self.turns.stop()
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
        self.stats.go_aways += 1
        await self.send(encode_json({"goAway": {"timeLeft": format_duration(time_left)}}))

    async def _on_ping(self, data: bytes) -> None:
        delay = self.pong_delay
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

    async def send(self, data: bytes) -> None:
        """Send one server message (JSON bytes in a binary frame, like production)."""
        if self._ws.closed:
            return
        try:
            await self._ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            return
        self.stats.ws_messages_sent += 1

    async def send_content(self, content: dict[str, Any]) -> None:
        """Send ``{"serverContent": content}``."""
        await self.send(encode_json({"serverContent": content}))

    async def send_chunk(self, chunk: str, *, last: bool) -> int:
        """One answer chunk: its audio, then its output transcription when asked for.

        Returns the number of audio bytes sent (for the playback time).
        """
        pcm = pcm_audio_for(chunk)
        audio = _AUDIO_HEAD + base64.b64encode(pcm) + _AUDIO_TAIL
        settings = self.settings
        if settings is None or not settings.output_transcription:
            await self.send(audio)
        else:
            transcription: dict[str, Any] = {"text": chunk}
            if last:
                transcription["finished"] = True
            if settings.rules.combined_events:
                # One event with both parts (3.1 Flash Live, per its model page).
                model_turn = {
                    "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": pcm}}],
                    "role": "model",
                }
                content = {"modelTurn": model_turn, "outputTranscription": transcription}
                await self.send_content(content)
            else:
                await self.send(audio)
                await self.send_content({"outputTranscription": transcription})
        self.stats.live_chunks += 1
        return len(pcm)

    # -- dispatch -------------------------------------------------------------------

    async def _handle(self, data: str | bytes) -> None:
        try:
            raw = decode_json(data)
        except msgspec.DecodeError:
            raise LiveRefusal("Invalid JSON payload received. Unexpected token.") from None
        if not isinstance(raw, dict):
            raise LiveRefusal("Invalid JSON payload received. Expected an object.")
        try:
            message = parse("LiveClientMessage", raw, api_version=self.version)
        except SchemaError as exc:
            raise LiveRefusal(exc.message) from None
        if len(message) != 1:
            raise LiveRefusal(
                "A client message must set exactly one of setup, clientContent, "
                "realtimeInput, toolResponse, contextUpdate."
            )
        ((key, body),) = message.items()
        self.message_index += 1
        if not self._set_up:
            if self._auth_error is not None:
                raise LiveRefusal(self._auth_error, 1008)
            if key != "setup":
                raise LiveRefusal(f"The first message must be setup, not {key}.")
            await self._setup(body)
            return
        if self._token is not None:
            reason = self._token.refusal(new_session=False, resuming=False)
            if reason is not None:
                raise LiveRefusal(reason, 1008)
        if key == "setup":
            raise LiveRefusal("setup must be the first and only setup message.")
        if key == "clientContent":
            await self.turns.client_content(body)
        elif key == "realtimeInput":
            await self.turns.realtime_input(body)
        elif key == "toolResponse":
            await self.turns.tool_response(body)
        else:
            self.turns.context_update(body)

    async def _setup(self, body: dict[str, Any]) -> None:
        token = self._token
        resuming = bool((body.get("sessionResumption") or {}).get("handle"))
        if token is not None:
            reason = token.refusal(new_session=True, resuming=resuming)
            if reason is not None:
                raise LiveRefusal(reason, 1008)
            body = token.effective_setup(body)
        settings = parse_setup(body, self.version)
        record = None
        if settings.resume_handle:
            record = self.lifecycle.resume(settings.resume_handle, settings.model)
        if token is not None and not resuming:
            token.uses_left -= 1
        self.settings = settings
        self.turns.configure(settings, record.history if record is not None else [])
        self.lifecycle.start_session(settings, record)
        plan = self.plan or self.emulator.default_fault
        if plan is not None and plan.at_setup and self.emulator.playing(plan) is not None:
            await play_setup_fault(self, plan)
            return
        self._set_up = True
        self.stats.ws_setups += 1
        await self.send(_SETUP_COMPLETE)
        if settings.resumption:
            await self.lifecycle.send_resumption_update()
