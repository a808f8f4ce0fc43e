"""The manners of the ``api-gemini`` command, kept apart from what it does.

One line per error (``error: Type: message (server URL) - hint``), never the key; usage
errors in one line with exit status 2; the prompt from stdin; a note on a terminal while
the first token is awaited; a quiet end when the reader of stdout goes away
(``| head``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import IO, NoReturn
from urllib.parse import urlsplit, urlunsplit

from .errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    GeminiError,
    KeepaliveTimeoutError,
    NotFoundError,
    RateLimitError,
    SetupRejectedError,
    StreamIdleTimeoutError,
    TransportError,
    WebSocketConnectionError,
)

__all__ = [
    "EXIT_BROKEN_PIPE",
    "MAX_STDIN_PROMPT",
    "CliParser",
    "UsageError",
    "WaitingNote",
    "describe_error",
    "display_url",
    "positive_int",
    "positive_seconds",
    "read_prompt",
    "silence_stdout",
    "waiting_note",
]

#: The exit status after stdout's reader went away: 128 + SIGPIPE, as a shell reports
#: a command that SIGPIPE ended (``git log | head`` gives the same).
EXIT_BROKEN_PIPE = 141
#: The largest prompt read from stdin (a pipe could otherwise fill memory).
MAX_STDIN_PROMPT = 4 * 1024 * 1024


class UsageError(Exception):
    """A command line the command refuses before contacting anything (exit status 2)."""


class CliParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one ``error:`` line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: PROG: MESSAGE (see PROG --help)`` on stderr and exit 2."""
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def read_prompt(arg: str | None, stdin: IO[str]) -> str:
    """The prompt: ``arg``, or stdin when ``arg`` is ``-`` or absent and stdin is piped.

    Raises:
        UsageError: no prompt anywhere, an empty one, or one over ``MAX_STDIN_PROMPT``.
    """
    if arg is None or arg == "-":
        if arg is None and stdin.isatty():
            raise UsageError("no prompt: give one, or '-' to read it from stdin")
        text = stdin.read(MAX_STDIN_PROMPT + 1)
        if len(text) > MAX_STDIN_PROMPT:
            raise UsageError(f"the prompt on stdin is over {MAX_STDIN_PROMPT} characters")
    else:
        text = arg
    if not text.strip():
        raise UsageError("the prompt is empty")
    return text.strip("\n") if arg in (None, "-") else text


def display_url(url: str) -> str:
    """``url`` without user info, query or fragment: fit for an error line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _hint(exc: GeminiError) -> str | None:
    """What to do next, for the errors whose cure is known."""
    # A refused setup says why in the close reason only (its message lists every cause).
    reason = (exc.reason if isinstance(exc, SetupRejectedError) else str(exc)).lower()
    status = exc.http_status if isinstance(exc, WebSocketConnectionError) else None
    if (
        isinstance(exc, AuthenticationError)
        or status in (401, 403)
        or (isinstance(exc, SetupRejectedError) and "api key" in reason)
    ):
        return "check the API key (GEMINI_API_KEY or GOOGLE_API_KEY)"
    if isinstance(exc, RateLimitError) or status == 429:
        retry_after = exc.retry_after if isinstance(exc, ApiError) else None
        if retry_after is not None:
            return f"rate limited: retry after {retry_after:g} s"
        return "rate limited: wait a little and retry"
    if (
        isinstance(exc, NotFoundError)
        or status == 404
        or (isinstance(exc, SetupRejectedError) and "not found" in reason)
        or (isinstance(exc, SetupRejectedError) and "not supported" in reason)
    ):
        return "run `api-gemini models` to list the model names"
    if _names_the_server(exc) and (
        "timed out" in reason or "timeout" in reason or isinstance(exc, TimeoutError)
    ):
        return "a slow server? raise --timeout"
    return None


def _names_the_server(exc: GeminiError) -> bool:
    return isinstance(
        exc,
        TransportError | WebSocketConnectionError | StreamIdleTimeoutError | KeepaliveTimeoutError,
    )


def describe_error(exc: GeminiError, server_url: str | None, secret: str | None = None) -> str:
    """One line for stderr: ``error: Type: message (URL) - hint``.

    The server's URL is named for connection failures; ``secret`` (the key in use) is
    masked should it ever appear, though no message of this library carries it.
    """
    message = " ".join(str(exc).split()) or "(no message)"
    line = f"error: {type(exc).__name__}: {message}"
    if isinstance(exc, ConfigurationError):
        line = f"error: {message}"
    if server_url and _names_the_server(exc) and "://" not in message:
        line += f" (server: {display_url(server_url)})"
    hint = _hint(exc)
    if hint:
        line += f" - {hint}"
    if secret:
        line = line.replace(secret, "***")
    return line


def silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so that the interpreter's final
    flush does not print a second ``BrokenPipeError`` on the way out."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class WaitingNote:
    """``LABEL... N.N s`` on a terminal's stderr until :meth:`arrived` is called."""

    def __init__(self, stream: IO[str], label: str) -> None:
        self._stream = stream
        self._label = label
        self._first = asyncio.Event()
        self._shown = False
        self._started = time.perf_counter()

    def arrived(self) -> None:
        """The first token is here: erase the note now, before it is printed."""
        if self._first.is_set():
            return
        self._first.set()
        if self._shown:
            self._shown = False
            self._stream.write("\r\033[K")
            self._stream.flush()

    async def run(self, delay: float, every: float) -> None:
        """Show the note after ``delay`` and refresh it every ``every`` seconds."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._first.wait(), delay)
            return
        while not self._first.is_set():
            self._shown = True
            elapsed = time.perf_counter() - self._started
            self._stream.write(f"\r\033[K{self._label}... {elapsed:.1f} s")
            self._stream.flush()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._first.wait(), every)


@contextlib.asynccontextmanager
async def waiting_note(
    stream: IO[str], label: str, *, delay: float = 0.3, every: float = 0.1
) -> AsyncIterator[WaitingNote]:
    """While the block waits for the first token, show ``LABEL... N.N s`` on ``stream``
    if it is a terminal; call ``note.arrived()`` before printing the first token (it
    erases the note). Nothing is written to a stream that is not a terminal."""
    note = WaitingNote(stream, label)
    if not stream.isatty():
        note.arrived()
        yield note
        return
    task = asyncio.create_task(note.run(delay, every))
    try:
        yield note
    finally:
        note.arrived()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
