"""The one table of WebSocket close codes and what each means to a caller.

A leaf module (it imports nothing of the package), so that :mod:`api_gemini.errors`
(``DisconnectedError.retryable``), :mod:`api_gemini.settings` (``ReconnectPolicy``) and
the Live protocol (:func:`~api_gemini.websocket.protocol.error_for_close`) all read the
same table without ``import api_gemini`` importing the WebSocket layer.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

__all__ = ["CLOSE_CODES", "FATAL_CLOSE_CODES", "RETRYABLE_CLOSE_CODES", "CloseKind"]


class CloseKind(enum.Enum):
    """What a close code means to the caller."""

    NORMAL = "normal"
    FATAL = "fatal"  # the same call will fail again: bad argument, auth, policy
    RETRYABLE = "retryable"  # a new connection (resuming, if enabled) may work
    TOO_BIG = "too_big"
    PROTOCOL = "protocol"


#: The one table from close code to meaning; codes not listed are a non-retryable
#: :class:`~api_gemini.errors.DisconnectedError`.
CLOSE_CODES: Final[Mapping[int, tuple[CloseKind, str]]] = {
    1000: (CloseKind.NORMAL, "normal closure"),
    1001: (CloseKind.RETRYABLE, "going away"),
    1002: (CloseKind.PROTOCOL, "protocol error"),
    1003: (CloseKind.PROTOCOL, "unsupported data"),
    1005: (CloseKind.NORMAL, "no status code"),
    1006: (CloseKind.RETRYABLE, "connection dropped without a close frame"),
    1007: (CloseKind.FATAL, "invalid argument"),
    1008: (CloseKind.FATAL, "policy violation (API key, unknown or non-Live model)"),
    1009: (CloseKind.TOO_BIG, "message too big"),
    1011: (CloseKind.RETRYABLE, "server error"),
    1012: (CloseKind.RETRYABLE, "service restart"),
    1013: (CloseKind.RETRYABLE, "try again later"),
}

#: Codes a new connection may cure (1001, 1006, 1011, 1012, 1013).
RETRYABLE_CLOSE_CODES: Final = frozenset(
    code for code, (kind, _) in CLOSE_CODES.items() if kind is CloseKind.RETRYABLE
)

#: Codes that a new connection cannot cure (1007 invalid argument, 1008 policy: bad key,
#: unknown model): a :class:`~api_gemini.settings.ReconnectPolicy` never retries them.
FATAL_CLOSE_CODES: Final = frozenset(
    code for code, (kind, _) in CLOSE_CODES.items() if kind is CloseKind.FATAL
)
