"""HTTP calls the way Python users expect: opt-in retries, a per-call timeout, and your
own httpx2 client.

Run it against the emulator (the ``fault:`` markers make it misbehave on purpose)::

    python -m api_gemini.emulator --port 8123 &
    GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/http_habits.py
"""

from __future__ import annotations

import asyncio
import logging

import httpx2

from api_gemini import AsyncClient, RetryPolicy
from api_gemini.errors import RequestTimeoutError


async def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    # One line per retry (the key is never in it).
    logging.getLogger("api_gemini.http.retry").setLevel(logging.INFO)

    # Retries are opt-in. With a policy, errors with retryable=True (429, 5xx, a
    # connection that failed or broke, a timeout, a stream cut before its first chunk)
    # are sent again after a jittered exponential backoff, or after the server's
    # retry_after when that is longer; the rest (400, 401, 404, ...) are raised at once.
    policy = RetryPolicy(max_attempts=4, initial_backoff=0.2, max_backoff=5.0)
    async with AsyncClient(retry=policy) as client:
        model = client.models.by_name("gemini-2.5-flash")
        # The emulator answers the first two of these with 503, then serves it.
        answer = await model.generate_content("fault:first-2-http-503 echo: third time lucky")
        print(answer.text)

    # A per-call timeout: seconds for each wait of this call (connect, read, write,
    # pool), as httpx takes it; the client's Timeouts for every other call.
    async with AsyncClient() as client:
        model = client.models.by_name("gemini-2.5-flash")
        try:
            await model.generate_content("fault:stall never answered", timeout=0.5)
        except RequestTimeoutError as exc:
            print(f"RequestTimeoutError: {exc}")

    # Your own httpx2 client, for proxies, custom TLS, mounts or limits. You own it:
    # api_gemini sends its URL, headers and key with every request, never follows a
    # redirect, and leaves your client open when it closes.
    async with (
        httpx2.AsyncClient(limits=httpx2.Limits(max_connections=4)) as http,
        AsyncClient(http_client=http) as client,
    ):
        answer = await client.models.by_name("gemini-2.5-flash").generate_content("echo: mine")
        print(answer.text)


if __name__ == "__main__":
    asyncio.run(main())
