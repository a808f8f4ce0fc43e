"""Per-frame decode cost of the Live protocol (issue 10: keeping the frame for ``.raw``).

    python benchmarks/decisions/bench_live_decode.py
    # the code before issue 10, for comparison:
    mkdir -p /tmp/old && git archive e66df47 src | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/src python benchmarks/decisions/bench_live_decode.py

Best of 25 repeats of 50 000 calls each; run it a few times on a quiet machine.
``LiveProtocol.receive`` is the stateful path of one frame within a turn (decode, state
checks, events): the goAway row shows its duration parsed once per frame (issue 13).
"""

from __future__ import annotations

import base64
import functools
import json
import timeit

from api_gemini.websocket.decoding import decode_events, decode_server_message
from api_gemini.websocket.protocol import LiveProtocol, SessionState


def _frame(content: dict[str, object]) -> bytes:
    return json.dumps({"serverContent": content}).encode()


FRAMES = {
    "text chunk": _frame({"modelTurn": {"parts": [{"text": "hello there "}], "role": "model"}}),
    "audio chunk 1920 B": _frame(
        {
            "modelTurn": {
                "parts": [
                    {
                        "inlineData": {
                            "mimeType": "audio/pcm;rate=24000",
                            "data": base64.b64encode(bytes(1920)).decode(),
                        }
                    }
                ],
                "role": "model",
            }
        }
    ),
    "transcription": _frame({"outputTranscription": {"text": "hello there "}}),
    "goAway": json.dumps({"goAway": {"timeLeft": "12.5s"}}).encode(),
}


def _in_turn() -> LiveProtocol:
    protocol = LiveProtocol()
    protocol.state = SessionState.IN_TURN
    return protocol


def main() -> None:
    """Print ns per call of ``decode_events``, ``decode_server_message`` and
    ``LiveProtocol.receive`` (within a turn) per frame."""
    n = 50_000
    for name, frame in FRAMES.items():
        events = min(timeit.repeat(functools.partial(decode_events, frame), number=n, repeat=25))
        message = min(
            timeit.repeat(functools.partial(decode_server_message, frame), number=n, repeat=25)
        )
        stateful = min(
            timeit.repeat(functools.partial(_in_turn().receive, frame), number=n, repeat=25)
        )
        events, message, stateful = events / n, message / n, stateful / n
        print(
            f"{name:20s} decode_events {events * 1e9:7.0f} ns   "
            f"decode_server_message {message * 1e9:7.0f} ns   "
            f"LiveProtocol.receive {stateful * 1e9:7.0f} ns"
        )


if __name__ == "__main__":
    main()
