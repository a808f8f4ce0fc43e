"""Per-chunk cost of a Live session's conversion step (``LiveSession._convert``).

    python benchmarks/decisions/bench_session_convert.py
    # the code before a change, for comparison:
    mkdir -p /tmp/old && git archive main src | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/src python benchmarks/decisions/bench_session_convert.py

One text chunk within a turn, already decoded by the connection's protocol: events and
the session rules, without a socket (the session's other members are stand-ins). Best
of 15 repeats of 100 000 calls; run it a few times on a quiet machine.
"""

from __future__ import annotations

import json
import timeit
import types

from api_gemini.websocket.protocol import LiveProtocol, SessionState
from api_gemini.websocket.rules import SessionRules
from api_gemini.websocket.session import LiveSession

CHUNK = json.dumps(
    {"serverContent": {"modelTurn": {"parts": [{"text": "hello there "}], "role": "model"}}}
).encode()


def main() -> None:
    """Print ns per ``LiveSession._convert`` of one text chunk."""
    protocol = LiveProtocol()
    protocol.state = SessionState.IN_TURN
    message = protocol.receive_message(CHUNK)
    session = types.SimpleNamespace(
        _conn=types.SimpleNamespace(protocol=protocol),
        _rules=SessionRules(),
        metrics=types.SimpleNamespace(chunks=0),
        _move=None,
    )
    convert = LiveSession._convert
    n = 100_000
    best = min(timeit.repeat(lambda: convert(session, message), number=n, repeat=15)) / n  # type: ignore[arg-type]
    print(f"LiveSession._convert, text chunk: {best * 1e9:.0f} ns")


if __name__ == "__main__":
    main()
