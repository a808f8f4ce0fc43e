"""Pacing of answers: time to first token, then a steady token rate."""

from __future__ import annotations

import asyncio

__all__ = ["Pacer"]

# With no pacing the writer never has to wait; yield to the loop every so many chunks
# anyway so that one huge answer cannot starve the other connections.
_YIELD_EVERY = 64


class Pacer:
    """Sleeps until each chunk is due, on a schedule fixed at creation (no drift).

    Chunk ``i`` is due at ``start + ttft + tokens_before_i / tokens_per_second``.
    """

    __slots__ = ("_count", "_loop", "_start", "_tps", "_ttft")

    def __init__(self, ttft: float, tokens_per_second: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._ttft = ttft
        self._tps = tokens_per_second
        self._count = 0

    @property
    def paced(self) -> bool:
        """True when chunks are spread over time at all."""
        return self._ttft > 0 or self._tps > 0

    def due(self, tokens_before: int) -> float:
        """The loop time at which a chunk preceded by ``tokens_before`` tokens is due."""
        delay = self._ttft
        if self._tps > 0:
            delay += tokens_before / self._tps
        return self._start + delay

    async def wait(self, tokens_before: int) -> None:
        """Wait until a chunk preceded by ``tokens_before`` tokens is due."""
        self._count += 1
        delay = self.due(tokens_before) - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif self._count % _YIELD_EVERY == 0:
            await asyncio.sleep(0)
