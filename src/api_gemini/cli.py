"""The ``api-gemini`` command.

::

    api-gemini stream "Why is the sky blue?"            # over WebSocket (Live API)
    api-gemini stream --transport sse "..."             # over HTTP SSE
    api-gemini stream --emulator "..."                  # against a local emulator, offline
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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from .client import AsyncClient, Client
from .errors import ConfigurationError, GeminiError
from .settings import ReconnectPolicy
from .types import (
    Content,
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationConfig,
    Part,
)

if TYPE_CHECKING:
    from .emulator import Emulator
    from .sync_live import SyncLiveSession

__all__ = ["StreamStats", "main"]

DEFAULT_MODEL = "gemini-3.8-live"
DEFAULT_HTTP_MODEL = "gemini-2.5-flash"

_NO_SERVICE_HINT = (
    "No API key and no base URL.\n"
    "  - To use the Gemini API: export GEMINI_API_KEY=your-key\n"
    "  - To work offline: run `api-gemini emulator --port 8123` in another terminal and\n"
    "    export GEMINI_BASE_URL=http://127.0.0.1:8123, or add --emulator to this command."
)

# The pace of `--emulator`: slow enough to watch tokens arrive, close to a real model.
_EMULATOR_PACE: dict[str, Any] = {
    "time_to_first_token": 0.15,
    "tokens_per_second": 40.0,
    "tokens_per_chunk": 2,
}

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
    model = client.models().by_name(args.model)
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
            from .emulator import Emulator, EmulatorConfig

            emulator = await stack.enter_async_context(
                Emulator(EmulatorConfig(port=0, **_EMULATOR_PACE))
            )
            base_url = emulator.base_url
        client = await stack.enter_async_context(AsyncClient(base_url=base_url))
        stats = StreamStats()
        async for chunk in _chunks(client, args, stats):
            if stats.first_chunk is None:
                stats.first_chunk = time.perf_counter()
            stats.chunks += 1
            if chunk.usage_metadata is not None:
                stats.tokens = chunk.usage_metadata.candidates_token_count
            text = chunk.text
            if text:
                out.write(text)
                out.flush()
        stats.ended = time.perf_counter()
        out.write("\n")
        if args.stats:
            print(stats.table(args.transport), file=sys.stderr)
    return 0


async def _models(args: argparse.Namespace, out: TextIO) -> int:
    async with AsyncClient(base_url=args.base_url) as client:
        for info in await client.models().list():
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
        return await Emulator(EmulatorConfig(port=0, **_EMULATOR_PACE)).start()

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

    While armed, SIGINT does not raise: it asks the server to stop (an empty
    ``clientContent`` is new input, which interrupts the model) and the answer loop
    stops printing. The send happens on a short-lived thread because a signal handler
    runs inside the main thread's wait and must not block it. A second Ctrl-C while the
    interruption is pending raises ``KeyboardInterrupt``, so a server that never
    answers cannot trap the user.
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
        # A session that just ended refuses the send; the answer loop reports why.
        with contextlib.suppress(GeminiError):
            self._session.send_content([], turn_complete=False)

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


def _answer(
    session: SyncLiveSession, text: str, out: TextIO, skip_stale_end: bool
) -> tuple[bool, _TurnStats]:
    """Send one user turn and print the answer as it arrives.

    Returns whether the answer was interrupted (by Ctrl-C), and its figures.
    ``skip_stale_end``: the previous answer was interrupted, so a ``TurnComplete``
    arriving before anything of this answer belongs to it and is skipped.
    """
    from .websocket import Interrupted, ModelTurn, Reconnected, TurnComplete, UsageUpdate

    canceller = _AnswerCanceller(session)
    stats = _TurnStats()
    out.write(CHAT_ANSWER)
    out.flush()
    interrupted = False
    notes: list[str] = []
    with canceller.armed():
        session.send_text(text)
        for event in session:
            if isinstance(event, ModelTurn):
                skip_stale_end = False
                if stats.first_chunk is None:
                    stats.first_chunk = time.perf_counter()
                stats.chunks += 1
                if not canceller.requested:
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
            base_url = stack.enter_context(_emulator_in_thread())
        client = stack.enter_context(Client(base_url=base_url))
        session = stack.enter_context(
            client.models()
            .by_name(args.model)
            .connect(_chat_config(args), reconnect=ReconnectPolicy())
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
            interrupted, stats = _answer(session, text, out, skip_stale_end)
            skip_stale_end = interrupted
            if args.stats:
                print(stats.line(), file=sys.stderr)
        out.flush()
    return 0


# --------------------------------------------------------------------------- main


def _add_service_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default=None, help="server root (else GEMINI_BASE_URL)")
    parser.add_argument(
        "--emulator", action="store_true", help="start a local emulator and talk to it"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="api-gemini", description="Stream from the Gemini API, or run a local emulator."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    stream = sub.add_parser("stream", help="stream one answer as it is generated")
    stream.add_argument("prompt")
    stream.add_argument("--model", default=None, help="model name (default depends on transport)")
    stream.add_argument("--transport", choices=("ws", "sse"), default="ws")
    stream.add_argument("--system", default=None, help="a system instruction")
    stream.add_argument("--max-tokens", type=int, default=None, help="maxOutputTokens")
    stream.add_argument("--stats", action="store_true", help="print timing figures to stderr")
    _add_service_options(stream)

    chat = sub.add_parser(
        "chat",
        help="an interactive Live session that keeps the conversation",
        description=f"An interactive Live API session. {_CHAT_HELP}",
    )
    chat.add_argument("--model", default=DEFAULT_MODEL, help=f"a Live model ({DEFAULT_MODEL})")
    chat.add_argument("--system", default=None, help="a system instruction")
    chat.add_argument("--max-tokens", type=int, default=None, help="maxOutputTokens per answer")
    chat.add_argument("--stats", action="store_true", help="print figures after each answer")
    _add_service_options(chat)

    from .talk import add_talk_parser  # a spoken conversation (api_gemini.talk)

    add_talk_parser(sub, _add_service_options)

    models = sub.add_parser("models", help="list the models of the catalog")
    models.add_argument("--base-url", default=None)

    emulator = sub.add_parser(
        "emulator",
        help="run the local emulator (same as python -m api_gemini.emulator)",
        add_help=False,
    )
    emulator.add_argument("emulator_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        # Handed over whole: argparse's REMAINDER would not pass on leading options
        # such as --port to the emulator's own parser.
        from .emulator.__main__ import main as emulator_main

        return emulator_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "stream" and args.model is None:
        args.model = DEFAULT_MODEL if args.transport == "ws" else DEFAULT_HTTP_MODEL
    if (
        not getattr(args, "emulator", False)
        and not args.base_url
        and not os.environ.get("GEMINI_BASE_URL")
        and not (os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"))
    ):
        print(_NO_SERVICE_HINT, file=sys.stderr)
        return 2
    try:
        if args.command == "chat":
            return _chat(args, sys.stdout)
        if args.command == "talk":
            from .talk import run_talk

            return run_talk(args)
        runner = _stream if args.command == "stream" else _models
        return asyncio.run(runner(args, sys.stdout))
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except GeminiError as exc:
        print(f"\nerror: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
