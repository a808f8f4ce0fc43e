"""The Live API (``BidiGenerateContent``) over WebSocket: streams, sessions, events.

Needs the ``websocket`` extra (``pip install 'api-gemini[websocket]'``); ``import
api_gemini`` does not import this package, the model methods do when first called.

- :func:`open_stream` / :class:`Stream`: one request's answer as
  :class:`~api_gemini.types.GenerateContentResponse` chunks, with pause, resume, cancel.
- :func:`connect_live` / :class:`LiveSession`: a bidirectional session yielding typed
  events (:class:`ModelTurn`, :class:`TurnComplete`, :class:`ToolCall`, ...).
- :class:`Reconnected`: the event of a session that moved to a new connection
  (:meth:`LiveSession.reconnect`, or a :class:`~api_gemini.settings.ReconnectPolicy`).
- :class:`LivePool` / :class:`PoolMetrics`: warm, never-reused connections.
- :mod:`.protocol`: the sans-I/O protocol; :mod:`.connection`: one WebSocket.
"""

from __future__ import annotations

from ..live_types import (
    AudioTranscriptionConfig,
    AutomaticActivityDetection,
    ContextWindowCompressionConfig,
    HistoryConfig,
    LiveConnectConfig,
    ProactivityConfig,
    RealtimeInputConfig,
    SessionResumptionConfig,
    SlidingWindow,
)
from .connection import ConnectionHealth, Endpoint, LiveConnection, live_endpoint
from .pool import DISCARD_REASONS, LivePool, PoolMetrics
from .protocol import (
    GenerationComplete,
    GoAway,
    Grounding,
    InputTranscription,
    InteractionStatus,
    InterimInputTranscription,
    Interrupted,
    LiveEvent,
    LiveProtocol,
    ModelTurn,
    OutputTranscription,
    SessionResumptionUpdate,
    SessionState,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UnknownMessage,
    UsageUpdate,
    VoiceActivity,
    WaitingForInput,
)
from .streaming import (
    LiveSession,
    Reconnected,
    Stream,
    StreamMetrics,
    StreamState,
    connect_live,
    live_setup,
    open_stream,
    stream_setup,
)

__all__ = [
    "DISCARD_REASONS",
    "AudioTranscriptionConfig",
    "AutomaticActivityDetection",
    "ConnectionHealth",
    "ContextWindowCompressionConfig",
    "Endpoint",
    "GenerationComplete",
    "GoAway",
    "Grounding",
    "HistoryConfig",
    "InputTranscription",
    "InteractionStatus",
    "InterimInputTranscription",
    "Interrupted",
    "LiveConnectConfig",
    "LiveConnection",
    "LiveEvent",
    "LivePool",
    "LiveProtocol",
    "LiveSession",
    "ModelTurn",
    "OutputTranscription",
    "PoolMetrics",
    "ProactivityConfig",
    "RealtimeInputConfig",
    "Reconnected",
    "SessionResumptionConfig",
    "SessionResumptionUpdate",
    "SessionState",
    "SetupComplete",
    "SlidingWindow",
    "Stream",
    "StreamMetrics",
    "StreamState",
    "ToolCall",
    "ToolCallCancellation",
    "TurnComplete",
    "UnknownMessage",
    "UsageUpdate",
    "VoiceActivity",
    "WaitingForInput",
    "connect_live",
    "live_endpoint",
    "live_setup",
    "open_stream",
    "stream_setup",
]
