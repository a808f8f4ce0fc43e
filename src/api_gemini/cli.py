"""The ``api-gemini`` command.

::

    api-gemini stream "Why is the sky blue?"            # over WebSocket (Live API)
    api-gemini stream --transport sse "..."             # over HTTP SSE
    api-gemini stream --emulator "..."                  # against a local emulator, offline
    api-gemini models                                   # the model catalog
    api-gemini emulator --port 8123                     # run the emulator

The key comes from ``GEMINI_API_KEY``; ``GEMINI_BASE_URL`` (or ``--base-url``) points
the command at another server, such as the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from .client import AsyncClient
from .errors import ConfigurationError, GeminiError
from .types import (
    Content,
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationConfig,
    Part,
)

__all__ = ["main"]

DEFAULT_MODEL = "gemini-live-2.5-flash-preview"
DEFAULT_HTTP_MODEL = "gemini-2.5-flash"

_NO_SERVICE_HINT = (
    "No API key and no base URL.\n"
    "  - To use the Gemini API: export GEMINI_API_KEY=your-key\n"
    "  - To work offline: run `api-gemini emulator --port 8123` in another terminal and\n"
    "    export GEMINI_BASE_URL=http://127.0.0.1:8123, or add --emulator to this command."
)


@dataclass
class StreamStats:
    """What ``--stats`` prints, measured by the command itself for every transport."""

    started: float = field(default_factory=time.perf_counter)
    first_chunk: float | None = None
    ended: float | None = None
    chunks: int = 0
    tokens: int | None = None

    def table(self, transport: str) -> str:
        """A small aligned table."""
        ended = self.ended or time.perf_counter()
        rows = [("transport", transport), ("chunks", str(self.chunks))]
        if self.first_chunk is not None:
            ttfc_ms = (self.first_chunk - self.started) * 1e3
            rows.append(("time to first chunk", f"{ttfc_ms:.1f} ms"))
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
    client: AsyncClient, args: argparse.Namespace
) -> AsyncIterator[GenerateContentResponse]:
    model = client.models().by_name(args.model)
    request = _build_request(args)
    if args.transport == "sse":
        async with await model.stream_generate_content(request) as sse:
            async for chunk in sse:
                yield chunk
    else:
        stream = await model.stream_generate_content_websocket(request)
        async with stream:
            async for chunk in stream:
                yield chunk


async def _stream(args: argparse.Namespace, out: TextIO) -> int:
    base_url = args.base_url
    async with contextlib.AsyncExitStack() as stack:
        if args.emulator:
            from .emulator import Emulator, EmulatorConfig

            emulator = await stack.enter_async_context(
                Emulator(
                    EmulatorConfig(
                        port=0,
                        time_to_first_token=0.15,
                        tokens_per_second=40.0,
                        tokens_per_chunk=2,
                    )
                )
            )
            base_url = emulator.base_url
        client = await stack.enter_async_context(AsyncClient(base_url=base_url))
        stats = StreamStats()
        async for chunk in _chunks(client, args):
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
    stream.add_argument("--base-url", default=None, help="server root (else GEMINI_BASE_URL)")
    stream.add_argument(
        "--emulator", action="store_true", help="start a local emulator and stream from it"
    )

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
    args = _parser().parse_args(argv)
    if args.command == "emulator":
        from .emulator.__main__ import main as emulator_main

        return emulator_main(list(args.emulator_args))
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
    runner = _stream if args.command == "stream" else _models
    try:
        return asyncio.run(runner(args, sys.stdout))
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except GeminiError as exc:
        print(f"\nerror: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
