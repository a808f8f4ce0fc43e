"""Small helpers shared by the WebSocket test files."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: Upper bound on waiting for a background event; the tests themselves take milliseconds.
WAIT = 5.0


async def eventually(check: Callable[[], bool], timeout: float = WAIT) -> None:
    """For the server's side, which the client cannot await: poll it briefly."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)


def our_tasks() -> set[asyncio.Task[object]]:
    """The library's own tasks (all are named ``api-gemini ...``) still alive."""
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("api-gemini")}
