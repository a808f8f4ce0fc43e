"""Property-based tests (hypothesis) on the two decoders a hostile server feeds: the Live
protocol and SSE. Whatever arrives, the result is events or a typed error, never
another exception.

Already covered elsewhere, not repeated: any short bytes and any JSON into the Live
decoder (``test_ws_protocol.py``), any short bytes into the SSE decoder and chunking
invariance for clean lines (``test_sse_decoder.py``). Added here: valid messages with
one field given a wrong type or its bytes mutated, the whole Live state machine over a
sequence of such frames, any close code and reason, deep nesting, SSE through the
transport's chunk decoding, chunking invariance for *any* bytes, and the SSE memory
bounds.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api_gemini.emulator.faults import FaultPlan
from api_gemini.errors import ApiError, GeminiError, MessageParseError, ResponseParseError
from api_gemini.http.sse import ServerSentEvent, SSEDecoder
from api_gemini.http.transport import _chunk_from_event, _feed_decoder
from api_gemini.types import GenerateContentResponse
from api_gemini.websocket.decoding import decode_events
from api_gemini.websocket.events import LiveEvent
from api_gemini.websocket.live_types import LiveSetup
from api_gemini.websocket.protocol import LiveProtocol

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: One valid example of every server message kind (camelCase, as on the wire).
VALID_MESSAGES: list[dict[str, Any]] = [
    {"setupComplete": {"sessionId": "s1"}},
    {"serverContent": {"modelTurn": {"parts": [{"text": "hi"}], "role": "model"}}},
    {
        "serverContent": {
            "modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm", "data": "AAA="}}]}
        }
    },
    {"serverContent": {"generationComplete": True}},
    {
        "serverContent": {"turnComplete": True},
        "usageMetadata": {"promptTokenCount": 1, "responseTokenCount": 2, "totalTokenCount": 3},
    },
    {"serverContent": {"interrupted": True}},
    {"serverContent": {"inputTranscription": {"text": "a"}, "outputTranscription": {"text": "b"}}},
    {"toolCall": {"functionCalls": [{"id": "c1", "name": "f", "args": {"x": 1}}]}},
    {"toolCallCancellation": {"ids": ["c1", "c2"]}},
    {"goAway": {"timeLeft": "1.5s"}},
    {"sessionResumptionUpdate": {"newHandle": "h", "resumable": True}},
]

any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a JSON value."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copied = copy.deepcopy(value)
    node = copied
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return copied


@st.composite
def mistyped_message(draw: st.DrawFn) -> Any:
    """A valid server message with one node (maybe the root) replaced by any JSON."""
    message = draw(st.sampled_from(VALID_MESSAGES))
    path = draw(st.sampled_from(_paths(message)))
    return _replace(message, path, draw(any_json))


@st.composite
def mutated_frame(draw: st.DrawFn) -> bytes:
    """The bytes of a valid message with a few bytes flipped, inserted or cut."""
    data = bytearray(json.dumps(draw(st.sampled_from(VALID_MESSAGES))).encode())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=3))
        elif op == "delete" and data:
            del data[at]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


def _events_or_parse_error(frame: bytes | str) -> None:
    try:
        events = decode_events(frame)
    except MessageParseError:
        return
    assert all(isinstance(e, LiveEvent) for e in events)


# --------------------------------------------------------------------------- Live


@FAST
@given(mistyped_message(), st.booleans())
def test_live_messages_with_a_mistyped_field(message: Any, as_text: bool) -> None:
    frame = json.dumps(message)
    _events_or_parse_error(frame if as_text else frame.encode())


@FAST
@given(mutated_frame())
def test_live_frames_with_mutated_bytes(frame: bytes) -> None:
    _events_or_parse_error(frame)


@FAST
@given(st.integers(1, 3000), st.sampled_from(["[", '{"a":', '{"serverContent":{"modelTurn":']))
def test_live_deep_nesting(depth: int, opener: str) -> None:
    _events_or_parse_error((opener * depth).encode())


@FAST
@given(st.lists(st.one_of(mistyped_message().map(json.dumps), mutated_frame()), max_size=12))
def test_the_live_state_machine_over_any_frames(frames: list[str | bytes]) -> None:
    """A set-up session fed any frames: each one is events or a typed Live error."""
    proto = LiveProtocol()
    proto.send_setup(LiveSetup(model="models/m"))
    proto.receive_message(b'{"setupComplete":{}}')
    for frame in frames:
        try:
            proto.receive_message(frame)
        except GeminiError:
            continue


@FAST
@given(
    st.integers(0, 70000) | st.none(),
    st.text(max_size=130),
    st.booleans(),
    st.sampled_from(["setup", "ready", "turn"]),
)
def test_any_close_code_and_reason_maps_to_a_typed_error_or_none(
    code: int | None, reason: str, by_us: bool, phase: str
) -> None:
    proto = LiveProtocol()
    proto.send_setup(LiveSetup(model="models/m"))
    if phase != "setup":
        proto.receive_message(b'{"setupComplete":{}}')
    if phase == "turn":
        proto.send_client_content([], turn_complete=True)
    error = proto.connection_closed(code, reason, sent_by_us=by_us)
    assert error is None or isinstance(error, GeminiError)
    if error is not None:
        assert str(error)  # a message a person can read


# --------------------------------------------------------------------------- SSE


def _through_transport(data: bytes, chunk_size: int, limit: int | None = None) -> int:
    """Decode like the transport does; returns how many chunks came out."""
    decoder = SSEDecoder() if limit is None else SSEDecoder(limit, limit)
    count = 0
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    for piece in [*pieces, None]:
        for event in _feed_decoder(decoder, piece):
            assert isinstance(_chunk_from_event(event), GenerateContentResponse)
            count += 1
    return count


sse_line = st.one_of(
    st.sampled_from(VALID_MESSAGES).map(lambda m: b"data: " + json.dumps(m).encode()),
    mistyped_message().map(lambda m: b"data: " + json.dumps(m).encode()),
    st.builds(
        lambda m: b'data: {"candidates":[{"content":{"parts":[{"text":' + m + b"}]}}]}",
        st.binary(max_size=6),
    ),
    st.sampled_from([b"", b": comment", b"event: x", b"id: 1", b"retry: 5", b'data: {"error": 1}']),
    st.binary(max_size=20),
)


@FAST
@given(
    st.lists(sse_line, max_size=10), st.sampled_from([b"\n", b"\r\n", b"\r"]), st.integers(1, 40)
)
def test_sse_through_the_transport_gives_chunks_or_typed_errors(
    lines: list[bytes], eol: bytes, chunk_size: int
) -> None:
    stream = eol.join(lines) + eol
    with contextlib.suppress(ResponseParseError, ApiError):
        _through_transport(stream, chunk_size)


@FAST
@given(st.binary(max_size=400), st.integers(1, 30), st.integers(16, 64))
def test_sse_any_bytes_under_small_limits(data: bytes, chunk_size: int, limit: int) -> None:
    """Events or ValueError (the transport's ResponseParseError); the carried-over
    buffer never exceeds its limit."""
    decoder = SSEDecoder(max_line_bytes=limit, max_event_bytes=limit)
    try:
        for i in range(0, len(data), chunk_size):
            for event in decoder.feed(data[i : i + chunk_size]):
                assert isinstance(event, ServerSentEvent)
                assert len(event.data.encode()) <= limit * 3  # replacement chars grow it
            assert len(decoder._buffer) <= limit
        decoder.close()
    except ValueError:
        pass


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=200), st.integers(1, 20))
def test_sse_chunking_never_changes_the_result_for_any_bytes(data: bytes, chunk_size: int) -> None:
    """CR, LF and CRLF anywhere, split anywhere (a CRLF across two reads included)."""

    def decode(size: int) -> list[ServerSentEvent]:
        decoder = SSEDecoder()
        events: list[ServerSentEvent] = []
        for i in range(0, len(data), size):
            events += decoder.feed(data[i : i + size])
        return events + decoder.close()

    assert decode(chunk_size) == decode(max(len(data), 1))


# --------------------------------------------------------------------------- fault specs


@FAST
@given(st.text(max_size=30))
def test_a_fault_spec_parses_or_is_refused(spec: str) -> None:
    try:
        plan = FaultPlan.parse(spec)
    except ValueError:
        return
    assert FaultPlan.parse(plan.spec) == plan
