"""The attempts of one HTTP call under a :class:`~api_gemini.settings.RetryPolicy`.

Each retry is logged at INFO on the ``api_gemini.http.retry`` logger: the call (method
and path, never the key: it is only ever in a header), the delay, the attempt, and the
error (whose text the transport has already scrubbed of the key).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..errors import GeminiError
from ..settings import RetryPolicy

__all__ = ["Attempts"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Attempts:
    """Counts the attempts of one call and decides, after a failure, whether and when
    to try again. Without a policy, never."""

    __slots__ = ("_policy", "_what", "made")

    def __init__(self, policy: RetryPolicy | None, what: str) -> None:
        self._policy = policy
        self._what = what
        #: Attempts started so far.
        self.made = 0

    def delay_after(self, error: GeminiError) -> float | None:
        """Seconds to wait before the next attempt after ``error``, or ``None`` to give
        up (no policy, not retryable, attempts used up, a ``retry_after`` too long);
        logs the retry it allows, and notes the attempts on an error given up on."""
        policy = self._policy
        if policy is None:
            return None
        if not policy.retries(error, self.made):
            if self.made > 1:
                error.add_note(f"(after {self.made} attempts)")
            return None
        draw = random.random()  # noqa: S311 (jitter, not a secret)
        delay = policy.delay(self.made, draw, getattr(error, "retry_after", None))
        logger.info(
            "retrying %s in %.2f s (attempt %d of %d) after %s: %s",
            self._what,
            delay,
            self.made + 1,
            policy.max_attempts,
            type(error).__name__,
            error,
        )
        return delay

    async def run_async(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """``await attempt()`` until it succeeds or :meth:`delay_after` gives up."""
        while True:
            self.made += 1
            try:
                return await attempt()
            except GeminiError as exc:
                delay = self.delay_after(exc)
                if delay is None:
                    raise
            # Outside the except block: the wait must not chain the old error.
            await asyncio.sleep(delay)

    def run_sync(self, attempt: Callable[[], T]) -> T:
        """The synchronous twin of :meth:`run_async`."""
        while True:
            self.made += 1
            try:
                return attempt()
            except GeminiError as exc:
                delay = self.delay_after(exc)
                if delay is None:
                    raise
            time.sleep(delay)
