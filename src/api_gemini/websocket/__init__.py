"""The Live API (``BidiGenerateContent``) over WebSocket: streams, sessions, events.

Needs the ``websocket`` extra (``pip install -e '.[websocket]'`` in a clone); ``import
api_gemini`` does not import this package, the model methods do when first called.

- :func:`open_stream` / :class:`Stream`: one request's answer as
  :class:`~api_gemini.types.GenerateContentResponse` chunks, with pause, resume, cancel.
- :func:`connect_live` / :class:`LiveSession`: a bidirectional session yielding typed
  events (:class:`ModelTurn`, :class:`TurnComplete`, :class:`ToolCall`, ...).
- :class:`Reconnected`: the event of a session that moved to a new connection
  (:meth:`LiveSession.reconnect`, or a :class:`~api_gemini.settings.ReconnectPolicy`).
- :class:`LivePool` / :class:`PoolMetrics`: warm, never-reused connections.
- :data:`WebSocketConnector` / :func:`open_websocket`: the transport seam
  (``WebSocketSettings(connector=...)``); a connector returns a
  :class:`~api_gemini.websocket.wire.Wire`.

Layers, each importing only the ones below it: :mod:`.live_types` (wire types),
:mod:`.protocol` (sans-I/O: encode, decode, one connection's state machine, close
codes), :mod:`.rules` (sans-I/O session rules), :mod:`.events`, :mod:`.wire` (what a
WebSocket must do: frames pushed to a sink), :mod:`.transport` (the seam that opens a
WebSocket; websockets' :class:`~.transport.WebSocketsWire`), :mod:`.connection` (one
WebSocket, every wait bounded), :mod:`.buffer` (the bounded buffer), :mod:`.receiver`
(receiving, pause, cancel), :mod:`.stream`, :mod:`.reconnect`, :mod:`.session`,
:mod:`.pool`, :mod:`.sync_live` (the synchronous twins).
"""

from __future__ import annotations

from . import events
from .connection import ConnectionHealth, LiveConnection
from .events import *  # noqa: F403  (every LiveEvent, as events.__all__ lists them)
from .live_types import (
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
from .pool import DISCARD_REASONS, LivePool, PoolMetrics
from .protocol import LiveProtocol, SessionState
from .receiver import StreamMetrics, StreamState
from .session import LiveSession, connect_live, live_setup
from .stream import Stream, open_stream, stream_setup
from .transport import Endpoint, WebSocketConnector, live_endpoint, open_websocket

__all__ = [
    "DISCARD_REASONS",
    "AudioTranscriptionConfig",
    "AutomaticActivityDetection",
    "ConnectionHealth",
    "ContextWindowCompressionConfig",
    "Endpoint",
    "HistoryConfig",
    "LiveConnectConfig",
    "LiveConnection",
    "LivePool",
    "LiveProtocol",
    "LiveSession",
    "PoolMetrics",
    "ProactivityConfig",
    "RealtimeInputConfig",
    "SessionResumptionConfig",
    "SessionState",
    "SlidingWindow",
    "Stream",
    "StreamMetrics",
    "StreamState",
    "WebSocketConnector",
    "connect_live",
    "live_endpoint",
    "live_setup",
    "open_stream",
    "open_websocket",
    "stream_setup",
]
__all__ += events.__all__
