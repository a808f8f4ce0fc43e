"""api_gemini: a fast, dependable client for the Gemini API, centred on streaming.

``AsyncClient`` and ``Client`` are the entry points; ``api_gemini.types`` holds the wire
types and ``api_gemini.errors`` every exception. The WebSocket transport
(the ``websocket`` extra) and the emulator (the ``emulator`` extra) are imported only
when used. The package is installed from its repository (``pip install -e
'.[websocket,emulator]'`` in a clone): see the README.

Logging: loggers under ``api_gemini`` (see ``docs/topics/logging.md``), silent unless
you configure logging; never the key.
"""

from __future__ import annotations

import logging as _logging_module

from . import errors, types
from ._logging import KeyRedactingFilter
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
    "KeyRedactingFilter",
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

# Silent by default, as a library should be: without this, WARNING records would reach
# stderr through logging's last-resort handler in an app that configured nothing.
_logging_module.getLogger(__name__).addHandler(_logging_module.NullHandler())
