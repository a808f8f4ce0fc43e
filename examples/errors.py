"""Every failure is a typed exception from api_gemini.errors, carrying what you need.

    GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/errors.py

The emulator misbehaves on request: a ``fault:SPEC`` marker in the prompt (or the
``x-emulator-fault`` header) makes it close, stall, refuse or send garbage.
"""

import asyncio

from api_gemini import AsyncClient
from api_gemini.errors import (
    DisconnectedError,
    GeminiError,
    NotFoundError,
    RateLimitError,
    SetupRejectedError,
)

LIVE = "gemini-3.8-live"


async def main() -> None:
    async with AsyncClient() as client:
        # HTTP: the server's JSON error becomes one class per status.
        try:
            await client.models.get("no-such-model")
        except NotFoundError as exc:
            print(f"NotFoundError: status {exc.status}, {exc.status_name}")

        # A 429 with a Retry-After: the error says how long to wait. Nothing retries
        # on its own; the decision stays with you.
        flash = client.models.by_name("gemini-2.5-flash")
        try:
            await flash.generate_content("fault:http-429-retry-2 hello")
        except RateLimitError as exc:
            print(f"RateLimitError: retry after {exc.retry_after} s, retryable={exc.retryable}")

        # Live: a model that does not serve the Live API is refused at setup (1008).
        not_live = client.models.by_name("gemini-2.5-pro")
        try:
            await not_live.stream_generate_content_websocket("hi")
        except SetupRejectedError as exc:
            print(f"SetupRejectedError: close code {exc.close_code}, {exc.reason!r}")

        # Live: the server closes mid-answer (1011 after 3 pieces, each an audio chunk and
        # its transcription chunk). The chunks before the failure are delivered first;
        # then the error says how many there were.
        live = client.models.by_name(LIVE)
        stream = await live.stream_generate_content_websocket(
            "fault:close-1011-after-3 Tell me a story"
        )
        received = 0
        try:
            async with stream:
                async for _ in stream:
                    received += 1
        except DisconnectedError as exc:
            print(
                f"DisconnectedError: close code {exc.close_code} after "
                f"{exc.chunks_received} chunks (we got {received}), retryable={exc.retryable}"
            )

        # One base class catches everything this library raises.
        try:
            await client.models.by_name("bad/name").generate_content("hi")
        except GeminiError as exc:
            print(f"{type(exc).__name__}: {exc}")


asyncio.run(main())
