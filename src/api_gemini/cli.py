"""The ``api-gemini`` command.

::

    api-gemini stream "Why is the sky blue?"            # over WebSocket (Live API)
    api-gemini stream --transport sse "..."             # over HTTP SSE
    api-gemini stream --emulator "..."                  # against a local emulator, offline
    echo "..." | api-gemini stream -                    # the prompt from stdin
    api-gemini stream --stats --json "..."              # figures as JSON on stderr
    api-gemini chat                                     # an interactive Live session
    api-gemini talk                                     # a spoken one (see api_gemini.talk)
    api-gemini models                                   # the model catalog
    api-gemini emulator --port 8123                     # run the emulator

The key comes from ``GEMINI_API_KEY``; ``GEMINI_BASE_URL`` (or ``--base-url``) points
the command at another server, such as the emulator.

``chat`` keeps one Live session for the whole conversation, so the model sees the
history. Tokens are printed as they arrive. Ctrl-C during an answer cancels that answer
(the session sends an empty ``clientContent``, which the Live API treats as new input
and so interrupts the model) and the conversation goes on; a second Ctrl-C while the
cancellation is pending leaves the program. ``/exit``, ``/quit`` or Ctrl-D at the prompt
leave with a close handshake. The session asks for resumption handles and reconnects by
itself on a ``goAway`` or a dropped connection (a note on stderr says so), so a long
chat outlives the service's ~10-minute connection cap.

Manners: one ``error: Type: message`` line per failure (the server's URL for connection
failures, a hint for a refused key, an unknown model or a rate limit; never the key),
exit status 0 on success, 1 for an API or connection error, 2 for a usage error
(refused before anything is sent), 130 on Ctrl-C, 141 when stdout's reader goes away
(``| head``) ; ``--timeout`` bounds every wait for the server; while the first token is
awaited, a note on stderr when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from . import _cli_support as manners
from ._cli_support import CliParser, UsageError, positive_int, positive_seconds
from ._install import install_command
from ._logging import enable_cli_logging
from ._version import __version__
from .client import AsyncClient, Client
from .errors import ConfigurationError, GeminiError
from .settings import DEFAULT_BASE_URL, ReconnectPolicy, Timeouts, WebSocketSettings
from .types import (
    Content,
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationConfig,
    Part,
)

if TYPE_CHECKING:
    from .emulator import Emulator
    from .websocket.sync_live import SyncLiveSession

__all__ = ["StreamStats", "main"]

DEFAULT_MODEL = "gemini-3.8-live"
DEFAULT_HTTP_MODEL = "gemini-2.5-flash"

_NO_SERVICE_HINT = (
    "No API key and no base URL.\n"
    "  - To use the Gemini API: export GEMINI_API_KEY=your-key\n"
    "  - To work offline: run `api-gemini emulator --port 8123` in another terminal and\n"
    "    export GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key (the emulator,\n"
    "    like the service, refuses a request without a key), or add --emulator to this\n"
    "    command."
)

# The pace of `--emulator`: slow enough to watch tokens arrive, close to a real model.
# (That emulator is built with require_key=False: the command is both client and server,
# and needs no key of the user's.)
_EMULATOR_PACE: dict[str, Any] = {
    "time_to_first_token": 0.15,
    "tokens_per_second": 40.0,
    "tokens_per_chunk": 2,
}

# By name: run as `python -m api_gemini.cli`, __name__ would be "__main__".
logger = logging.getLogger("api_gemini.cli")

#: ``--timeout`` when not given: the longest wait for the server, in seconds.
DEFAULT_TIMEOUT = 60.0

CHAT_PROMPT = "you> "
CHAT_ANSWER = "gemini> "
CHAT_CANCELLED = " [cancelled]"
_CHAT_HELP = "Type a message; /exit or Ctrl-D leaves; Ctrl-C cancels an answer."


@dataclass
class StreamStats:
    """What ``--stats`` prints, measured by the command itself for every transport."""

    started: float = field(default_factory=time.perf_counter)
    connected: float | None = None
    first_chunk: float | None = None
    ended: float | None = None
    chunks: int = 0
    tokens: int | None = None

    def table(self, transport: str) -> str:
        """A small aligned table."""
        ended = self.ended or time.perf_counter()
        rows = [("transport", transport)]
        if self.connected is not None:
            # ws: TCP + TLS + upgrade + setup + request sent; sse: until the headers.
            rows.append(("connect time", f"{(self.connected - self.started) * 1e3:.1f} ms"))
        if self.first_chunk is not None:
            ttfc_ms = (self.first_chunk - self.started) * 1e3
            rows.append(("time to first chunk", f"{ttfc_ms:.1f} ms"))
        rows.append(("chunks", str(self.chunks)))
        rows.append(("total time", f"{(ended - self.started) * 1e3:.1f} ms"))
        if self.tokens is not None:
            rows.append(("tokens", str(self.tokens)))
            if self.first_chunk is not None and ended > self.first_chunk:
                rate = self.tokens / (ended - self.first_chunk)
                rows.append(("tokens per second", f"{rate:.1f}"))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)

    def as_dict(self, transport: str, model: str) -> dict[str, Any]:
        """The same figures for ``--json``: times in milliseconds, None when unknown."""
        ended = self.ended or time.perf_counter()

        def ms(at: float | None) -> float | None:
            return None if at is None else round((at - self.started) * 1e3, 1)

        rate = None
        if self.tokens is not None and self.first_chunk is not None and ended > self.first_chunk:
            rate = round(self.tokens / (ended - self.first_chunk), 1)
        return {
            "transport": transport,
            "model": model,
            "connect_ms": ms(self.connected),
            "time_to_first_chunk_ms": ms(self.first_chunk),
            "chunks": self.chunks,
            "total_ms": ms(ended),
            "tokens": self.tokens,
            "tokens_per_second": rate,
        }


def _client_options(args: argparse.Namespace) -> dict[str, Any]:
    """Client settings from ``--timeout``: it bounds every wait for the server."""
    seconds = args.timeout
    return {
        "timeouts": Timeouts(connect=seconds, read=seconds, write=seconds, pool=seconds),
        "websocket": WebSocketSettings(open_timeout=seconds, stream_idle_timeout=seconds),
    }


def _need_emulator_extra() -> None:
    """Raise a one-line ConfigurationError naming the install command if the emulator's
    extra (aiohttp) is missing."""
    try:
        import aiohttp  # noqa: F401  (only checks that the extra is installed)
    except ImportError:
        raise ConfigurationError(
            f"the emulator needs the 'emulator' extra: {install_command('emulator')}"
        ) from None


def _build_request(args: argparse.Namespace) -> GenerateContentRequest:
    return GenerateContentRequest(
        contents=[Content.user_text(args.prompt)],
        system_instruction=Content(parts=[Part(text=args.system)]) if args.system else None,
        generation_config=GenerationConfig(max_output_tokens=args.max_tokens)
        if args.max_tokens
        else None,
    )


async def _chunks(
    client: AsyncClient, args: argparse.Namespace, stats: StreamStats
) -> AsyncIterator[GenerateContentResponse]:
    model = client.models.by_name(args.model)
    request = _build_request(args)
    if args.transport == "sse":
        async with await model.stream_generate_content(request) as sse:
            stats.connected = time.perf_counter()
            async for chunk in sse:
                yield chunk
    else:
        stream = await model.stream_generate_content_websocket(request)
        stats.connected = time.perf_counter()
        async with stream:
            async for chunk in stream:
                yield chunk


async def _stream(args: argparse.Namespace, out: TextIO) -> int:
    base_url = args.base_url
    async with contextlib.AsyncExitStack() as stack:
        if args.emulator:
            _need_emulator_extra()
            from .emulator import Emulator, EmulatorConfig

            emulator = await stack.enter_async_context(
                Emulator(EmulatorConfig(port=0, require_key=False, **_EMULATOR_PACE))
            )
            base_url = args.server_url = emulator.base_url
            logger.info("started an emulator at %s", base_url)
        client = await stack.enter_async_context(
            AsyncClient(base_url=base_url, **_client_options(args))
        )
        stats = StreamStats()
        note = await stack.enter_async_context(
            manners.waiting_note(sys.stderr, f"waiting for {args.model}")
        )
        line_open = False
        try:
            async for chunk in _chunks(client, args, stats):
                if stats.first_chunk is None:
                    stats.first_chunk = time.perf_counter()
                    note.arrived()
                stats.chunks += 1
                if chunk.usage_metadata is not None:
                    stats.tokens = chunk.usage_metadata.candidates_token_count
                text = chunk.text
                if text:
                    line_open = True
                    out.write(text)
                    out.flush()
        except GeminiError:
            if line_open:  # end the answer's line, so the error line stands alone
                out.write("\n")
                out.flush()
            raise
        stats.ended = time.perf_counter()
        out.write("\n")
        out.flush()
        if args.json:
            print(json.dumps(stats.as_dict(args.transport, args.model)), file=sys.stderr)
        elif args.stats:
            print(stats.table(args.transport), file=sys.stderr)
    return 0


async def _models(args: argparse.Namespace, out: TextIO) -> int:
    async with AsyncClient(base_url=args.base_url, **_client_options(args)) as client:
        for info in await client.models.list():
            methods = ", ".join(info.supported_generation_methods)
            out.write(f"{info.name.removeprefix('models/'):40} {methods}\n")
    return 0


# --------------------------------------------------------------------------- chat


@contextlib.contextmanager
def _emulator_in_thread() -> Iterator[str]:
    """A local emulator on its own event loop thread (chat is synchronous); yields its
    base URL and stops it on exit."""
    from ._portal import LoopPortal
    from .emulator import Emulator, EmulatorConfig

    async def start() -> Emulator:
        return await Emulator(EmulatorConfig(port=0, require_key=False, **_EMULATOR_PACE)).start()

    portal = LoopPortal(name="api-gemini-emulator")
    try:
        emulator = portal.run(start())
        try:
            yield emulator.base_url
        finally:
            portal.run(emulator.stop())
    finally:
        portal.close()


class _AnswerCanceller:
    """Turns Ctrl-C during an answer into an interruption of that answer.

    While armed, SIGINT does not raise: it stops the answer and the answer loop stops
    printing. The Live API has no "stop" message, and on today's models new input
    interrupts only to start another answer (``clientContent`` without ``turnComplete``
    waits for more), so the session moves to a new connection resumed with its newest
    handle (:meth:`reconnect`): the server drops the answer with the old connection, and
    the conversation goes on without it. That happens on a short-lived thread because a
    signal handler runs inside the main thread's wait and must not block it. A second
    Ctrl-C while the interruption is pending raises ``KeyboardInterrupt``, so a server
    that never answers cannot trap the user.
    """

    def __init__(self, session: SyncLiveSession) -> None:
        self._session = session
        self.requested = False
        self._sender: threading.Thread | None = None

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._sender = threading.Thread(
            target=self._interrupt, name="api-gemini-chat-cancel", daemon=True
        )
        self._sender.start()

    def _interrupt(self) -> None:
        # A session that just ended refuses; the answer loop reports why.
        with contextlib.suppress(GeminiError):
            self._session.reconnect()

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """Handle SIGINT as a cancellation while the block runs."""
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            if self._sender is not None:
                self._sender.join(timeout=5)


@dataclass
class _TurnStats:
    """Per-answer figures for ``chat --stats``."""

    sent: float = field(default_factory=time.perf_counter)
    first_chunk: float | None = None
    ended: float | None = None
    chunks: int = 0
    tokens: int | None = None

    def line(self) -> str:
        """One line: time to first chunk, chunks, tokens per second."""
        ended = self.ended or time.perf_counter()
        parts = []
        if self.first_chunk is not None:
            parts.append(f"time to first chunk {(self.first_chunk - self.sent) * 1e3:.1f} ms")
        parts.append(f"chunks {self.chunks}")
        if self.tokens is not None and self.first_chunk is not None and self.chunks > 1:
            parts.append(f"{self.tokens / (ended - self.first_chunk):.1f} tokens/s")
        return "(" + ", ".join(parts) + ")"

    def as_dict(self, model: str) -> dict[str, Any]:
        """The same figures for ``--json``: times in milliseconds, None when unknown."""
        ended = self.ended or time.perf_counter()
        first = self.first_chunk
        rate = None
        if self.tokens is not None and first is not None and self.chunks > 1 and ended > first:
            rate = round(self.tokens / (ended - first), 1)
        return {
            "model": model,
            "time_to_first_chunk_ms": None
            if first is None
            else round((first - self.sent) * 1e3, 1),
            "chunks": self.chunks,
            "total_ms": round((ended - self.sent) * 1e3, 1),
            "tokens": self.tokens,
            "tokens_per_second": rate,
        }


def _answer(
    session: SyncLiveSession, text: str, out: TextIO, skip_stale_end: bool
) -> tuple[bool, _TurnStats]:
    """Send one user turn and print the answer as it arrives.

    Returns whether the answer was interrupted (by Ctrl-C), and its figures.
    ``skip_stale_end``: the previous answer was interrupted, so a ``TurnComplete``
    arriving before anything of this answer belongs to it and is skipped.
    """
    from .websocket import (
        Interrupted,
        ModelTurn,
        OutputTranscription,
        Reconnected,
        TurnComplete,
        UsageUpdate,
    )

    canceller = _AnswerCanceller(session)
    stats = _TurnStats()
    out.write(CHAT_ANSWER)
    out.flush()
    interrupted = False
    notes: list[str] = []
    with canceller.armed():
        session.send_text(text)
        for event in session:
            if isinstance(event, ModelTurn | OutputTranscription):
                # AUDIO answers (today's Live models): the text is the transcription.
                skip_stale_end = False
                if stats.first_chunk is None:
                    stats.first_chunk = time.perf_counter()
                stats.chunks += isinstance(event, ModelTurn)
                if not canceller.requested and event.text:
                    out.write(event.text)
                    out.flush()
            elif isinstance(event, UsageUpdate):
                stats.tokens = event.usage.response_token_count
            elif isinstance(event, Interrupted):
                interrupted = True
                break
            elif isinstance(event, TurnComplete):
                if skip_stale_end:
                    skip_stale_end = False
                    continue
                break
            elif isinstance(event, Reconnected):
                # The session moved to a new connection (a goAway, or a drop). Between
                # turns nothing is lost; in the middle of one, that answer is.
                if canceller.requested:
                    break  # the cancellation itself (see _AnswerCanceller)
                notes.append("(reconnected: the conversation goes on on a new connection)")
                if event.turn_lost:
                    notes.append("(that answer was cut short by the reconnect: ask again)")
                    break
    stats.ended = time.perf_counter()
    if canceller.requested:
        out.write(CHAT_CANCELLED)
    out.write("\n")
    out.flush()
    for note in notes:
        print(note, file=sys.stderr)
    return interrupted, stats


def _chat_config(args: argparse.Namespace) -> dict[str, Any]:
    # Resumption handles let the conversation outlive a connection (the service ends
    # each one after about 10 minutes, with a goAway first).
    config: dict[str, Any] = {"sessionResumption": {}}
    if args.system:
        config["systemInstruction"] = args.system
    if args.max_tokens:
        config["generationConfig"] = {"maxOutputTokens": args.max_tokens}
    return config


def _chat(args: argparse.Namespace, out: TextIO, read_line: Callable[[str], str] = input) -> int:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    with contextlib.ExitStack() as stack:
        base_url = args.base_url
        if args.emulator:
            _need_emulator_extra()
            base_url = args.server_url = stack.enter_context(_emulator_in_thread())
        client = stack.enter_context(Client(base_url=base_url, **_client_options(args)))
        session = stack.enter_context(
            client.models.by_name(args.model).connect(
                _chat_config(args), reconnect=ReconnectPolicy()
            )
        )
        print(f"chat with {args.model}. {_CHAT_HELP}", file=sys.stderr)
        skip_stale_end = False
        while True:
            try:
                line = read_line(CHAT_PROMPT)
            except EOFError:
                out.write("\n")
                break
            except KeyboardInterrupt:
                out.write(f"\n({_CHAT_HELP})\n")
                continue
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text.startswith("/"):
                out.write(f"unknown command {text.split()[0]!r}. {_CHAT_HELP}\n")
                continue
            try:
                interrupted, stats = _answer(session, text, out, skip_stale_end)
            except GeminiError:
                out.write("\n")  # end the answer's line, so the error line stands alone
                out.flush()
                raise
            skip_stale_end = interrupted
            if args.json:
                print(json.dumps(stats.as_dict(args.model)), file=sys.stderr)
            elif args.stats:
                print(stats.line(), file=sys.stderr)
        out.flush()
    return 0


# --------------------------------------------------------------------------- main


def _add_service_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default=None, help="server root (else GEMINI_BASE_URL)")
    parser.add_argument(
        "--emulator", action="store_true", help="start a local emulator and talk to it"
    )
    _add_timeout(parser)
    _add_verbose(parser)


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log to stderr: -v what api_gemini does, -vv also the network libraries "
        "(the key is never shown)",
    )


def _add_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"longest wait for the server: to connect, and for each piece of an answer "
        f"(default {DEFAULT_TIMEOUT:g})",
    )


def _add_stats_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--stats", action="store_true", help=f"print {what} to stderr")
    parser.add_argument(
        "--json",
        action="store_true",
        help="the --stats figures as one JSON object per line on stderr (implies --stats)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="api-gemini", description="Stream from the Gemini API, or run a local emulator."
    )
    parser.add_argument("--version", action="version", version=f"api-gemini {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CliParser)

    stream = sub.add_parser("stream", help="stream one answer as it is generated")
    stream.add_argument(
        "prompt", nargs="?", help="the prompt; '-' (or nothing, with a pipe) reads stdin"
    )
    stream.add_argument("--model", default=None, help="model name (default depends on transport)")
    stream.add_argument("--transport", choices=("ws", "sse"), default="ws")
    stream.add_argument("--system", default=None, help="a system instruction")
    stream.add_argument(
        "--max-tokens", type=positive_int, default=None, metavar="N", help="maxOutputTokens"
    )
    _add_stats_options(stream, "timing figures")
    _add_service_options(stream)

    chat = sub.add_parser(
        "chat",
        help="an interactive Live session that keeps the conversation",
        description=f"An interactive Live API session. {_CHAT_HELP}",
    )
    chat.add_argument("--model", default=DEFAULT_MODEL, help=f"a Live model ({DEFAULT_MODEL})")
    chat.add_argument("--system", default=None, help="a system instruction")
    chat.add_argument(
        "--max-tokens",
        type=positive_int,
        default=None,
        metavar="N",
        help="maxOutputTokens per answer",
    )
    _add_stats_options(chat, "figures after each answer")
    _add_service_options(chat)

    from .talk import add_talk_parser  # a spoken conversation (api_gemini.talk)

    add_talk_parser(sub, _add_service_options)

    models = sub.add_parser("models", help="list the models of the catalog")
    models.add_argument("--base-url", default=None, help="server root (else GEMINI_BASE_URL)")
    _add_timeout(models)
    _add_verbose(models)

    emulator = sub.add_parser(
        "emulator",
        help="run the local emulator (same as python -m api_gemini.emulator)",
        add_help=False,
    )
    emulator.add_argument("emulator_args", nargs=argparse.REMAINDER)
    return parser


def _emulator_command(argv: list[str]) -> int:
    """``api-gemini emulator ...``: the emulator's own command, under this name."""
    try:
        from .emulator.__main__ import build_parser, config_from_args, serve
        from .emulator._running import run_command
    except ImportError:
        print(
            f"error: the emulator needs the 'emulator' extra: {install_command('emulator')}",
            file=sys.stderr,
        )
        return 2
    parser = build_parser(prog="api-gemini emulator")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr (-vv: every request)"
    )
    args = parser.parse_args(argv)
    enable_cli_logging(args.verbose, ())
    return run_command(lambda: serve(config_from_args(args)))


def _key_in_use() -> str | None:
    key = os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
    # Masking a very short key would mangle the line more than it protects.
    return key if key and len(key) >= 8 else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader of stdout went away (``| head -c 30``): stop quietly, as Unix
        # tools do, with the status a shell gives a command SIGPIPE ended.
        manners.silence_stdout()
        return manners.EXIT_BROKEN_PIPE


def _main(argv: list[str]) -> int:
    if argv[:1] == ["emulator"]:
        # Handed over whole: argparse's REMAINDER would not pass on leading options
        # such as --port to the emulator's own parser.
        return _emulator_command(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "stream" and args.model is None:
        args.model = DEFAULT_MODEL if args.transport == "ws" else DEFAULT_HTTP_MODEL
    try:
        if args.command == "stream":
            args.prompt = manners.read_prompt(args.prompt, sys.stdin)
    except UsageError as exc:
        print(f"error: api-gemini {args.command}: {exc}", file=sys.stderr)
        return 2
    if (
        not getattr(args, "emulator", False)
        and not args.base_url
        and not os.environ.get("GEMINI_BASE_URL")
        and not (os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"))
    ):
        print(_NO_SERVICE_HINT, file=sys.stderr)
        return 2
    args.server_url = args.base_url or os.environ.get("GEMINI_BASE_URL") or DEFAULT_BASE_URL
    enable_cli_logging(args.verbose, tuple(filter(None, (_key_in_use(),))))
    if not getattr(args, "emulator", False):
        logger.info("%s: server %s", args.command, manners.display_url(args.server_url))
    try:
        if args.command == "chat":
            return _chat(args, sys.stdout)
        if args.command == "talk":
            from .talk import run_talk

            return run_talk(args)
        runner = _stream if args.command == "stream" else _models
        return asyncio.run(runner(args, sys.stdout))
    except GeminiError as exc:
        print(manners.describe_error(exc, args.server_url, _key_in_use()), file=sys.stderr)
        return 2 if isinstance(exc, ConfigurationError) else 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
