"""Former home of the decoded server events: they now live in :mod:`.events`.

Kept so that ``from api_gemini.websocket.server_events import ...`` still works.
"""

from __future__ import annotations

from .events import (
    GenerationComplete,
    GoAway,
    Grounding,
    InputTranscription,
    InteractionStatus,
    InterimInputTranscription,
    Interrupted,
    LiveEvent,
    ModelTurn,
    OutputTranscription,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UnknownMessage,
    UsageUpdate,
    VoiceActivity,
    WaitingForInput,
    usage_to_http,
)

__all__ = [
    "GenerationComplete",
    "GoAway",
    "Grounding",
    "InputTranscription",
    "InteractionStatus",
    "InterimInputTranscription",
    "Interrupted",
    "LiveEvent",
    "ModelTurn",
    "OutputTranscription",
    "SessionResumptionUpdate",
    "SetupComplete",
    "ToolCall",
    "ToolCallCancellation",
    "TurnComplete",
    "UnknownMessage",
    "UsageUpdate",
    "VoiceActivity",
    "WaitingForInput",
    "usage_to_http",
]
