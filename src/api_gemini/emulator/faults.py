"""Fault plans: make the emulator misbehave on purpose, per request or for every request.

A plan is a short spec string. Choose it, first match wins:

1. the request header ``x-emulator-fault: SPEC`` (HTTP requests and the Live upgrade;
   with a client: ``AsyncClient(headers={"x-emulator-fault": "close-1011-after-3"})``);
2. a marker ``fault:SPEC`` anywhere in the last user text (it is removed before the
   answer is made, so ``"fault:stall-after-2 echo: a b c"`` answers ``a b c``; in a Live
   session it applies to that turn);
3. ``EmulatorConfig(fault=SPEC)`` / ``python -m api_gemini.emulator --fault SPEC``:
   every request.

Specs (``N``: chunks sent normally before the fault, default 0). Instead of
``-after-N``, ``-at-setup`` plays the fault on a Live connection *before*
``setupComplete`` (``close-1011-at-setup``, ``stall-at-setup``, ``malformed-at-setup``,
...); over HTTP it means ``-after-0``.

==============================  ===================================================
``close-CODE[-after-N]``        Live: close with CODE (1000, 1007, 1008, 1011, ...).
                                HTTP: drop the TCP connection (no status, or a cut
                                chunked body); CODE is ignored.
``goaway[-MS][-after-N]``       Live: ``goAway`` with ``timeLeft`` MS (default 100),
                                then close 1011 when it runs out. HTTP: no effect.
``stall[-after-N]``             send nothing more; keep the connection open (Live
                                pings are still answered).
``nopong[-after-N]``            Live: stop answering pings and send nothing more (a
                                dead peer). HTTP: like ``stall``.
``slowpong-MS``                 Live: answer each ping MS late; the answer starts
                                3*MS late, then streams normally. HTTP: no effect.
``malformed[-after-N]``         a truncated JSON message (Live frame, SSE event, or
                                unary body).
``oversized[-BYTES][-after-N]`` one message of BYTES (default 1 MiB) of valid JSON.
``flood[-COUNT]``               COUNT (default 10000) one-token chunks as fast as
                                possible (texts ``"0,"``, ``"1,"``, ...), then a normal
                                end. Unary: no effect.
``endless``                     one-token chunks forever, until the client goes.
``garbage[-after-N]``           bytes that are neither UTF-8 nor JSON (SSE: an event
                                whose data is garbage).
``http-STATUS[-retry-S]``       HTTP: answer STATUS (429, 500, 503, ...) with Google's
                                error JSON; ``retry-S`` adds ``Retry-After: S`` and a
                                ``RetryInfo`` detail. Live upgrade: refuse with STATUS.
                                Live turn: close 1011 with the matching message.
``first-K-SPEC``                play SPEC on the first K requests that carry this
                                exact spec, then serve normally: "fail the first K
                                requests, then succeed", to test retry and reconnect
                                logic (``first-2-http-503``: two 503s, then an answer).
==============================  ===================================================

``first-K-SPEC`` counts per emulator and per spec text (``emulator.fault_counts``), each
time the inner fault would play: an HTTP request, a Live upgrade (``http-STATUS``), a
Live ``setup`` (``-at-setup`` plans) or a Live turn. A retried request carries the same
header or prompt, so it counts as the next one. ``emulator.reset_fault_counts()``
starts the counts again.

Numbers are plain decimal digits (``S`` may have up to three decimals). A spec comes
from a header or a prompt, so sizes are capped at 64 MiB, counts at 1,000,000 and
delays at 600 s; anything else is refused with a ``ValueError`` (an HTTP 400, a refused
Live upgrade, or exit status 2 on the command line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from .wire import WireError

__all__ = [
    "FAULT_HEADER",
    "FAULT_KINDS",
    "FaultPlan",
    "find_marker",
    "strip_marker",
]

#: The request header that selects a plan.
FAULT_HEADER = "x-emulator-fault"

#: Every plan kind.
FAULT_KINDS = (
    "close",
    "goaway",
    "stall",
    "nopong",
    "slowpong",
    "malformed",
    "oversized",
    "flood",
    "endless",
    "garbage",
    "http",
)

_MARKER = re.compile(r"fault:([a-z]+(?:-[0-9a-z.]+)*)\s*")
_DEFAULT_OVERSIZED = 1024 * 1024
_DEFAULT_FLOOD = 10_000
_DEFAULT_NOTICE_MS = 100.0
# Caps: a spec comes from a request header or a prompt, so it must not be able to make
# the emulator build a 10 GB message or sleep for a day.
MAX_FAULT_BYTES = 64 * 1024 * 1024
MAX_FAULT_COUNT = 1_000_000
MAX_FAULT_DELAY_MS = 600_000
_INT = re.compile(r"[0-9]{1,10}")
_SECONDS = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,3})?")

#: Messages of the HTTP statuses a plan may ask for (as the service words them).
HTTP_MESSAGES = {
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """One parsed fault spec; build it with :meth:`parse`."""

    kind: str
    #: Chunks sent normally before the fault.
    after: int = 0
    #: Live close code (``close``) or HTTP status (``http``).
    code: int | None = None
    #: ``slowpong``: pong delay; ``goaway``: the notice, in seconds.
    delay: float = 0.0
    #: ``oversized``: message bytes; ``flood``: chunk count.
    size: int = 0
    #: ``http``: the retry hint in seconds, if any.
    retry_after: float | None = None
    #: The spec it was parsed from.
    spec: str = ""
    #: Live: play the fault instead of ``setupComplete``.
    at_setup: bool = False
    #: ``first-K-SPEC``: play only on the first K requests carrying this spec; None:
    #: on every one.
    first: int | None = None

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """Parse a spec like ``"close-1011-after-3"``.

        Raises:
            ValueError: the spec is not one of the documented forms.
        """
        text = spec.strip().lower()
        words = text.split("-")
        if words[0] == "first":
            # A wrapper: "first-K-" then any other spec.
            if len(words) < 3 or not _INT.fullmatch(words[1]):
                raise ValueError(f"bad fault spec {spec!r}: expected first-K-SPEC")
            first = int(words[1])
            if first > MAX_FAULT_COUNT:
                raise ValueError(f"bad fault spec {spec!r}: {first} is over {MAX_FAULT_COUNT}")
            inner = cls.parse("-".join(words[2:]))
            if inner.first is not None:
                raise ValueError(f"bad fault spec {spec!r}: first-K- only once")
            return replace(inner, first=first, spec=text)
        kind = words[0]
        rest = words[1:]
        after = 0
        retry: float | None = None
        at_setup = len(rest) >= 2 and rest[-2:] == ["at", "setup"]
        if at_setup:
            rest = rest[:-2]
        try:
            # ASCII digits only: no float() (``inf``, ``1e10``, ``nan``) and no int()
            # extras (``1_0``, non-ASCII digits).
            if len(rest) >= 2 and rest[-2] == "after":
                after = _integer(rest[-1])
                rest = rest[:-2]
            if kind == "http" and len(rest) >= 3 and rest[-2] == "retry":
                if not _SECONDS.fullmatch(rest[-1]):
                    raise ValueError(rest[-1])
                retry = float(rest[-1])
                rest = rest[:-2]
            numbers = [_integer(w) for w in rest]
        except ValueError:
            raise ValueError(f"bad fault spec {spec!r}: see api_gemini.emulator.faults") from None
        if kind not in FAULT_KINDS or after < 0 or any(n < 0 for n in numbers):
            raise ValueError(f"bad fault spec {spec!r}: see api_gemini.emulator.faults")

        def one(default: float | None, limit: int | None = None, unit: str = "") -> float:
            if len(numbers) > 1 or (not numbers and default is None):
                raise ValueError(f"bad fault spec {spec!r}: see api_gemini.emulator.faults")
            value = numbers[0] if numbers else float(default or 0)
            if limit is not None and value > limit:
                raise ValueError(f"bad fault spec {spec!r}: {value:g} {unit} is over {limit}")
            return value

        if retry is not None and retry > MAX_FAULT_DELAY_MS / 1000:
            raise ValueError(
                f"bad fault spec {spec!r}: retry is over {MAX_FAULT_DELAY_MS // 1000} s"
            )

        plan: FaultPlan
        if kind == "close":
            code = int(one(None))
            if not 1000 <= code <= 4999:
                raise ValueError(f"bad close code in fault spec {spec!r}")
            plan = cls(kind, after, code=code)
        elif kind == "goaway":
            plan = cls(kind, after, delay=one(_DEFAULT_NOTICE_MS, MAX_FAULT_DELAY_MS, "ms") / 1000)
        elif kind == "slowpong":
            plan = cls(kind, after, delay=one(None, MAX_FAULT_DELAY_MS, "ms") / 1000)
        elif kind == "oversized":
            plan = cls(kind, after, size=int(one(_DEFAULT_OVERSIZED, MAX_FAULT_BYTES, "bytes")))
        elif kind == "flood":
            plan = cls(kind, after, size=int(one(_DEFAULT_FLOOD, MAX_FAULT_COUNT, "chunks")))
        elif kind == "http":
            status = int(one(None))
            if not 400 <= status <= 599:
                raise ValueError(f"bad HTTP status in fault spec {spec!r}")
            plan = cls(kind, after, code=status, retry_after=retry)
        else:
            if numbers:
                raise ValueError(f"bad fault spec {spec!r}: {kind} takes no number")
            plan = cls(kind, after)
        return _with_spec(plan, text, at_setup)

    @property
    def http_message(self) -> str:
        """The error message of an ``http`` plan."""
        return HTTP_MESSAGES.get(self.code or 500, "Injected fault.")

    def http_error(self) -> WireError:
        """The error an ``http`` plan answers with (status, message, retry hints)."""
        return WireError(
            self.code or 500,
            self.http_message,
            details=self.http_details(),
            headers=self.http_headers(),
        )

    def http_details(self) -> list[dict[str, Any]] | None:
        """Error details of an ``http`` plan: a ``RetryInfo`` when it has a retry hint."""
        if self.retry_after is None:
            return None
        return [
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{self.retry_after:g}s",
            }
        ]

    def http_headers(self) -> dict[str, str]:
        """Headers of an ``http`` plan: ``Retry-After`` when it has a retry hint."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": f"{self.retry_after:g}"}


def _integer(word: str) -> int:
    if not _INT.fullmatch(word):
        raise ValueError(word)
    return int(word)


def _with_spec(plan: FaultPlan, spec: str, at_setup: bool) -> FaultPlan:
    return FaultPlan(
        plan.kind, plan.after, plan.code, plan.delay, plan.size, plan.retry_after, spec, at_setup
    )


def find_marker(text: str) -> FaultPlan | None:
    """The plan of a ``fault:SPEC`` marker in ``text``; None without one.

    Raises:
        ValueError: a marker whose spec is malformed.
    """
    match = _MARKER.search(text)
    return FaultPlan.parse(match.group(1)) if match else None


def strip_marker(text: str) -> str:
    """``text`` without its ``fault:SPEC`` marker."""
    return _MARKER.sub("", text, count=1)


#: Bytes that are not UTF-8 and not JSON: what a broken proxy might inject.
GARBAGE = b"\xff\xfe\x00\x9c garbage \xc3\x28 \x00\x01\x02"
#: A JSON message cut in the middle.
TRUNCATED = b'{"serverContent":{"modelTurn":{"parts":[{"text":"cut in the mid'
TRUNCATED_CHUNK = b'{"candidates":[{"content":{"parts":[{"text":"cut in the mid'
