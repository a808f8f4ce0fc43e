"""api_gemini: a fast, dependable client for the Gemini API, centred on streaming.

``AsyncClient`` and ``Client`` are the entry points; ``api_gemini.types`` holds the wire
types and ``api_gemini.errors`` every exception. The WebSocket transport
(the ``websocket`` extra) and the emulator (the ``emulator`` extra) are imported only
when used. The package is installed from its repository (``pip install -e
'.[websocket,emulator]'`` in a clone): see the README.
"""

from __future__ import annotations

from . import errors, types
from ._version import __version__
from .client import AsyncClient, Client
from .errors import GeminiError
from .settings import (
    ClientSettings,
    PoolSettings,
    ReconnectPolicy,
    RetryPolicy,
    SecretKey,
    Timeouts,
    WebSocketSettings,
)

__all__ = [
    "AsyncClient",
    "Client",
    "ClientSettings",
    "GeminiError",
    "PoolSettings",
    "ReconnectPolicy",
    "RetryPolicy",
    "SecretKey",
    "Timeouts",
    "WebSocketSettings",
    "__version__",
    "errors",
    "types",
]
