"""Logging helpers: the redaction filter, and the handler the command line installs.

api_gemini logs on ``logging.getLogger(__name__)`` loggers under ``api_gemini`` and is
silent by default (the package adds only a ``NullHandler`` at ``api_gemini``). The key
stays out of log lines by construction: it lives in a
:class:`~api_gemini.settings.SecretKey`, whose ``repr`` and ``str`` mask it, and only in
a request header, which no log call of ours formats. :class:`KeyRedactingFilter` is the
second line: attach it to a handler (the command line does) and what looks like a
credential is masked in every record that handler writes, whichever library logged it.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

__all__ = ["KeyRedactingFilter", "enable_cli_logging"]

_MASK = "***"
# What a credential looks like in a log line: a Google API key (AIza + 35 characters),
# an ephemeral token name, a key in a query string, a credential header's value.
_SECRET_PATTERNS = re.compile(
    r"AIza[0-9A-Za-z_\-]{35}"
    r"|(?<=auth_tokens/)[0-9A-Za-z_\-.]+"
    r"|(?<=[?&]key=)[^&\s'\"]+"
    r"|(?i:(?<=x-goog-api-key[\"']: [\"'])[^\"']+)"
    r"|(?i:(?<=x-goog-api-key: )\S+)"
    r"|(?i:(?<=authorization: )(?:token|bearer) \S+)"
    r"|(?i:(?<=authorization[\"']: [\"'])[^\"']+)"
)


class KeyRedactingFilter(logging.Filter):
    """Masks credentials in log records: Google API keys, ephemeral tokens, ``key=``
    query parameters, ``x-goog-api-key`` and ``Authorization`` header values, and any
    exact ``secrets`` given.

    Attach it to a handler (``handler.addFilter(KeyRedactingFilter())``): a handler's
    filters see the records of every logger that propagates to it, whereas a logger's
    filters see only that logger's own records. It never drops a record.
    """

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        # Short strings would mask innocent text: a real key is far longer.
        self._secrets = tuple(s for s in secrets if len(s) >= 8)

    def redact(self, text: str) -> str:
        """``text`` with every credential it holds masked."""
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return _SECRET_PATTERNS.sub(_MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record's message (arguments merged in) and its exception text."""
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def enable_cli_logging(
    verbosity: int, secrets: tuple[str, ...], stream: TextIO = sys.stderr
) -> None:
    """``-v``: api_gemini's INFO records on ``stream``; ``-vv``: DEBUG, including the
    WebSocket and HTTP libraries' own. Every line passes :class:`KeyRedactingFilter`."""
    if verbosity <= 0:
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler.addFilter(KeyRedactingFilter(secrets))
    level = logging.INFO if verbosity == 1 else logging.DEBUG
    names = ["api_gemini"] if verbosity == 1 else ["api_gemini", "websockets", "httpx2"]
    for name in names:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level)
