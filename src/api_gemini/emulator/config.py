"""Configuration and counters of the emulator."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .faults import FaultPlan

__all__ = ["EmulatorConfig", "EmulatorStats"]


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How the emulator listens and how fast and long it answers.

    Pacing: the first chunk of an answer is sent ``time_to_first_token`` seconds after
    the request; later chunks follow at ``tokens_per_second`` (0: as fast as possible).
    """

    host: str = "127.0.0.1"
    #: 0 picks a free port; read the chosen one from ``Emulator.port``.
    port: int = 0
    #: Only this key is accepted; None: any key. A wrong key is refused like the
    #: service does (HTTP 400 API_KEY_INVALID, Live 1008 "API key not valid...").
    api_key: str | None = None
    #: Both set: serve https/wss with this certificate chain and key (PEM paths).
    tls_cert: str | None = None
    tls_key: str | None = None
    time_to_first_token: float = 0.0
    tokens_per_second: float = 0.0
    tokens_per_chunk: int = 1
    #: Answer length when a request sets no ``maxOutputTokens``.
    default_max_output_tokens: int = 64
    #: Seconds a Live connection lives (the service: about 10 minutes); ``goAway`` comes
    #: ``go_away_notice`` s before the end (about 60 s), then the server closes with 1011
    #: "Deadline expired before operation could complete.". None: no limit.
    live_connection_lifetime: float | None = 600.0
    go_away_notice: float = 60.0
    #: Multiplies every service duration: connection lifetime and goAway notice, session
    #: limits (15 min audio, 2 min with video), handle validity (2 h), audio playback
    #: before turnComplete, ephemeral-token defaults. 0.01 runs a 10-minute connection
    #: in 6 s; 0 makes playback instant (and lifetimes immediate: pair it with
    #: ``live_connection_lifetime=None``).
    time_scale: float = 1.0
    #: The same, for the audio playback wait between ``generationComplete`` and
    #: ``turnComplete`` only; None follows ``time_scale``. 0: turnComplete at once (what
    #: the project's test fixtures use, so that answers do not take 1.3 s each).
    playback_time_scale: float | None = None
    #: A fault plan for every request (see :mod:`api_gemini.emulator.faults`), e.g.
    #: ``"close-1011-after-3"``; a request's own header or ``fault:`` marker wins.
    fault: str | None = None
    #: A request without any key (or ephemeral token) is refused as the service does
    #: (HTTP 403 PERMISSION_DENIED "Method doesn't allow unregistered callers...", Live
    #: close 1008 with the same reason). False switches authentication off altogether
    #: (an explicit opt-in, e.g. for a hand-written curl session); only with
    #: ``api_key=None``.
    require_key: bool = True

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        if self.api_key is not None and not self.require_key:
            raise ValueError("require_key=False (authentication off) needs api_key=None")
        if self.tokens_per_chunk < 1:
            raise ValueError("tokens_per_chunk must be >= 1")
        if self.tokens_per_second < 0 or self.time_to_first_token < 0:
            raise ValueError("pacing values must be >= 0")
        if self.default_max_output_tokens < 0:
            raise ValueError("default_max_output_tokens must be >= 0")
        if self.live_connection_lifetime is not None and self.live_connection_lifetime <= 0:
            raise ValueError("live_connection_lifetime must be > 0 (or None)")
        if self.go_away_notice < 0:
            raise ValueError("go_away_notice must be >= 0")
        if self.time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        if self.playback_time_scale is not None and self.playback_time_scale < 0:
            raise ValueError("playback_time_scale must be >= 0 (or None)")
        if self.fault is not None:
            FaultPlan.parse(self.fault)  # raises ValueError for a bad spec

    @property
    def playback_scale(self) -> float:
        """The factor of the playback wait (``playback_time_scale`` or ``time_scale``)."""
        if self.playback_time_scale is None:
            return self.time_scale
        return self.playback_time_scale

    @property
    def tls(self) -> bool:
        """True when the emulator serves https and wss."""
        return self.tls_cert is not None


@dataclass(slots=True)
class EmulatorStats:
    """Counters of what the emulator served; read them at any time, reset with ``reset()``."""

    http_requests: int = 0
    http_errors: int = 0
    sse_streams: int = 0
    http_chunks: int = 0
    ws_connections: int = 0
    ws_active: int = 0
    ws_setups: int = 0
    ws_messages_received: int = 0
    ws_messages_sent: int = 0
    live_turns: int = 0
    live_chunks: int = 0
    live_interruptions: int = 0
    tool_calls: int = 0
    tool_call_cancellations: int = 0
    resumptions: int = 0
    go_aways: int = 0
    #: Close codes the server sent, e.g. ``{1007: 2, 1011: 1}``.
    ws_close_codes: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """A snapshot of every counter as a plain dict."""
        return asdict(self)

    def reset(self) -> None:
        """Set every counter back to zero, except ``ws_active`` which tracks live sockets."""
        active = self.ws_active
        for name in self.__dataclass_fields__:
            setattr(self, name, {} if name == "ws_close_codes" else 0)
        self.ws_active = active
