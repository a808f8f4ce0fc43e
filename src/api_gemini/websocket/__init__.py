"""The Live API (``BidiGenerateContent``) over WebSocket: streams, sessions, events.

Needs the ``websocket`` extra (``pip install 'api-gemini[websocket]'``); ``import
api_gemini`` does not import this package, the model methods do when first called.

- :func:`open_stream` / :class:`Stream`: one request's answer as
  :class:`~api_gemini.types.GenerateContentResponse` chunks, with pause, resume, cancel.
- :func:`connect_live` / :class:`LiveSession`: a bidirectional session yielding typed
  events (:class:`ModelTurn`, :class:`TurnComplete`, :class:`ToolCall`, ...).
- :mod:`.protocol`: the sans-I/O protocol; :mod:`.connection`: one WebSocket.
"""

from __future__ import annotations

from ..live_types import (
    AudioTranscriptionConfig,
    AutomaticActivityDetection,
    ContextWindowCompressionConfig,
    LiveConnectConfig,
    RealtimeInputConfig,
    SessionResumptionConfig,
    SlidingWindow,
)
from .connection import ConnectionHealth, Endpoint, LiveConnection, live_endpoint
from .protocol import (
    GenerationComplete,
    GoAway,
    InputTranscription,
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
)
from .streaming import (
    LiveSession,
    Stream,
    StreamMetrics,
    StreamState,
    connect_live,
    open_stream,
)

__all__ = [
    "AudioTranscriptionConfig",
    "AutomaticActivityDetection",
    "ConnectionHealth",
    "ContextWindowCompressionConfig",
    "Endpoint",
    "GenerationComplete",
    "GoAway",
    "InputTranscription",
    "Interrupted",
    "LiveConnectConfig",
    "LiveConnection",
    "LiveEvent",
    "LiveProtocol",
    "LiveSession",
    "ModelTurn",
    "OutputTranscription",
    "RealtimeInputConfig",
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
    "connect_live",
    "live_endpoint",
    "open_stream",
]
