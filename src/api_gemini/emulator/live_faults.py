"""Fault plans played on a Live session (see :mod:`.faults` for the specs)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .faults import GARBAGE, TRUNCATED, FaultPlan
from .live_setup import LiveRefusal
from .pacing import Pacer
from .wire import encode_json

if TYPE_CHECKING:
    from .live import LiveSession

__all__ = ["CLOSE_REASONS", "DEADLINE_EXPIRED", "play_answer_fault", "play_setup_fault"]

DEADLINE_EXPIRED = "Deadline expired before operation could complete."
#: Close reasons the real service gives, for fault plans that close with a code.
CLOSE_REASONS = {
    1000: "The operation was cancelled.",
    1007: "Request contains an invalid argument.",
    1008: "Policy violation.",
    1011: "Internal error encountered.",
}
TEXT_HEAD = b'{"serverContent":{"modelTurn":{"parts":[{"text":'
TEXT_TAIL = b'}],"role":"model"}}}'


async def play_setup_fault(session: LiveSession, plan: FaultPlan) -> None:
    """Misbehave instead of answering ``setup`` (an ``-at-setup`` plan)."""
    kind = plan.kind
    if kind == "close":
        code = plan.code or 1011
        raise LiveRefusal(CLOSE_REASONS.get(code, "Injected fault."), code)
    if kind == "http":
        raise LiveRefusal(plan.http_message, 1011)
    if kind == "nopong":
        session.pong_delay = float("inf")
    elif kind == "slowpong":
        session.pong_delay = plan.delay
    elif kind == "malformed":
        await session.send(TRUNCATED)
    elif kind == "garbage":
        await session.send(GARBAGE)
    elif kind == "oversized":
        await session.send(b'{"setupComplete":{"sessionId":"' + b"x" * plan.size + b'"}}')
    elif kind == "goaway":
        await session.send_go_away(plan.delay)
    # stall and the rest: no setupComplete; the client's open_timeout decides. The
    # read loop goes on, so pings are answered (or not) and a close is seen.


async def play_answer_fault(
    session: LiveSession, plan: FaultPlan, chunks: list[str], pacer: Pacer
) -> bool:
    """Play ``plan`` over an answer; True when the answer should go on normally."""
    kind = plan.kind
    if kind == "slowpong":
        session.pong_delay = plan.delay
        await asyncio.sleep(3 * plan.delay)
        return True
    if kind in ("flood", "endless"):
        i = 0
        while kind == "endless" or i < plan.size:
            # send() awaits the transport's drain: a client that stops reading pushes
            # back here, and the flood waits.
            await session.send(TEXT_HEAD + encode_json(f"{i},") + TEXT_TAIL)
            i += 1
            if i % 64 == 0:
                await asyncio.sleep(0)
            if session.ws_closed:
                return False
        return True
    per_chunk = session.config.tokens_per_chunk
    for i, chunk in enumerate(chunks[: plan.after]):
        await pacer.wait(i * per_chunk)
        await session.send_chunk(chunk, last=False)
    if kind == "close":
        code = plan.code or 1011
        await session.close(code, CLOSE_REASONS.get(code, "Injected fault."))
    elif kind == "http":
        await session.close(1011, plan.http_message)
    elif kind == "goaway":
        await session.send_go_away(plan.delay)
        await asyncio.sleep(plan.delay)
        await session.close(1011, DEADLINE_EXPIRED)
    else:
        if kind == "nopong":
            session.pong_delay = float("inf")
        elif kind == "malformed":
            await session.send(TRUNCATED)
        elif kind == "garbage":
            await session.send(GARBAGE)
        elif kind == "oversized":
            filler = max(plan.size - len(TEXT_HEAD) - len(TEXT_TAIL) - 2, 0)
            await session.send(TEXT_HEAD + b'"' + b"x" * filler + b'"' + TEXT_TAIL)
        # stall, nopong, and after a bad message: stay silent until the client goes.
        await asyncio.Event().wait()
    return False
