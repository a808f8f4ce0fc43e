"""How long Live connections, sessions and resumption handles live.

Source: https://ai.google.dev/gemini-api/docs/live-session (session management):

- a connection lives about 10 minutes (``live_connection_lifetime``, 600 s); ``goAway``
  comes ``go_away_notice`` (60 s) before the end, then the server closes with 1011
  "Deadline expired before operation could complete.";
- a session (which may span connections through resumption) is limited to 15 minutes
  audio-only and 2 minutes once video was sent, unless ``contextWindowCompression`` is
  set (then unlimited). What the service sends at the limit is not published: the
  emulator closes 1011 with the same deadline reason;
- ``sessionResumptionUpdate``: ``resumable: false`` with no handle while the model
  generates or a tool call is pending, else a fresh ``newHandle``; a handle stays valid
  2 hours after the session (its connection) ends. No ``lastConsumedClientMessageIndex``:
  it comes only with ``transparent`` resumption, which is Vertex AI's (the emulator
  refuses ``transparent: true``, see ``live_setup``).

Every duration is in service seconds and multiplied by ``EmulatorConfig.time_scale``
(0.01 makes the 10-minute lifetime 6 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .live_faults import DEADLINE_EXPIRED
from .live_setup import LiveRefusal, SessionSettings
from .wire import encode_json

if TYPE_CHECKING:
    from .live import LiveSession

__all__ = [
    "AUDIO_SESSION_LIMIT",
    "HANDLE_VALIDITY",
    "VIDEO_SESSION_LIMIT",
    "HandleRecord",
    "Lifecycle",
    "format_duration",
]

AUDIO_SESSION_LIMIT = 15 * 60.0
VIDEO_SESSION_LIMIT = 2 * 60.0
HANDLE_VALIDITY = 2 * 3600.0
BAD_HANDLE = "Session resumption handle is not valid or has expired."
_MAX_HANDLES = 10_000


def format_duration(seconds: float) -> str:
    """A proto-JSON Duration string: ``"1s"``, ``"0.500s"``."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.3f}s"


@dataclass(slots=True)
class HandleRecord:
    """What a resumption handle restores."""

    model: str
    history: list[dict[str, Any]]
    #: Loop time the session began (its first connection's setup).
    session_start: float
    has_video: bool
    #: Loop time the connection that issued the handle ended (None: still open).
    ended_at: float | None = None
    issued_by: int = field(default=0)


class Lifecycle:
    """Timers and resumption state of one connection."""

    def __init__(self, session: LiveSession) -> None:
        self._session = session
        self._emu = session.emulator
        self._cfg = session.config
        self._scale = self._cfg.time_scale
        self._loop = asyncio.get_running_loop()
        self._connection_timer: asyncio.Task[None] | None = None
        self._session_timer: asyncio.Task[None] | None = None
        self._session_start = 0.0
        self._has_video = False
        self._compression = False
        self._issued: list[HandleRecord] = []
        self._closer: asyncio.Task[Any] | None = None

    # -- connection ---------------------------------------------------------------

    def start_connection(self) -> None:
        """Arm the connection lifetime (goAway, then 1011)."""
        lifetime = self._cfg.live_connection_lifetime
        if lifetime is not None:
            self._connection_timer = asyncio.create_task(self._connection_lifetime(lifetime))

    async def _connection_lifetime(self, lifetime: float) -> None:
        notice = min(self._cfg.go_away_notice, lifetime) * self._scale
        await asyncio.sleep(lifetime * self._scale - notice)
        await self._session.send_go_away(notice)
        await asyncio.sleep(notice)
        await self._expire()

    async def _expire(self) -> None:
        # Remember which timer is closing, so that stop() lets it finish the close.
        self._closer = asyncio.current_task()
        await self._session.close(1011, DEADLINE_EXPIRED)

    # -- session ------------------------------------------------------------------

    def start_session(self, settings: SessionSettings, record: HandleRecord | None) -> None:
        """Start (or continue, when resuming) the session's clock."""
        self._compression = settings.compression
        if record is not None:
            self._session_start = record.session_start
            self._has_video = record.has_video
        else:
            self._session_start = self._loop.time()
        self._arm_session_limit()

    def note_video(self) -> None:
        """Video was sent: the 2-minute limit applies from now on."""
        if not self._has_video:
            self._has_video = True
            self._arm_session_limit()

    def _arm_session_limit(self) -> None:
        if self._session_timer is not None:
            self._session_timer.cancel()
            self._session_timer = None
        if self._compression:
            return
        limit = VIDEO_SESSION_LIMIT if self._has_video else AUDIO_SESSION_LIMIT
        deadline = self._session_start + limit * self._scale
        self._session_timer = asyncio.create_task(self._session_limit(deadline))

    async def _session_limit(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - self._loop.time()))
        await self._expire()

    # -- resumption ---------------------------------------------------------------

    def resume(self, handle: str, model: str) -> HandleRecord:
        """The record of ``handle``.

        Raises:
            LiveRefusal: 1007 for an unknown or expired handle, or another model's.
        """
        record = self._emu.resumption_handles.get(handle)
        if record is None or record.model != model:
            raise LiveRefusal(BAD_HANDLE)
        ended = record.ended_at
        if ended is not None and self._loop.time() - ended > HANDLE_VALIDITY * self._scale:
            raise LiveRefusal(BAD_HANDLE)
        self._session.stats.resumptions += 1
        return record

    async def send_resumption_update(self) -> None:
        """``sessionResumptionUpdate``: a new handle, or ``resumable: false`` when busy."""
        session = self._session
        settings = session.settings
        if settings is None or not settings.resumption:
            return
        update: dict[str, Any]
        if session.turns.busy:
            update = {"resumable": False}
        else:
            record = HandleRecord(
                model=settings.model,
                history=list(session.turns.history),
                session_start=self._session_start,
                has_video=self._has_video,
            )
            handle = secrets.token_urlsafe(18)
            handles = self._emu.resumption_handles
            handles[handle] = record
            while len(handles) > _MAX_HANDLES:
                handles.popitem(last=False)
            self._issued.append(record)
            update = {"newHandle": handle, "resumable": True}
        await session.send(encode_json({"sessionResumptionUpdate": update}))

    # -- end ------------------------------------------------------------------------

    async def stop(self) -> None:
        """Cancel the timers (letting one that is closing the socket finish)."""
        now = self._loop.time()
        for record in self._issued:
            if record.ended_at is None:
                record.ended_at = now
        current = asyncio.current_task()
        timers = [t for t in (self._connection_timer, self._session_timer) if t is not None]
        for timer in timers:
            if timer.done() or timer is current:
                continue
            if timer is self._closer:
                with contextlib.suppress(Exception):
                    await asyncio.shield(timer)
            if not timer.done():
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer
