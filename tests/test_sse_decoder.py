"""The SSE decoder, sans-I/O: bytes in, events out, whatever the chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api_gemini.http.sse import ServerSentEvent, SSEDecoder


def decode_all(data: bytes, chunk_size: int | None = None) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    if chunk_size is None:
        events.extend(decoder.feed(data))
    else:
        for i in range(0, len(data), chunk_size):
            events.extend(decoder.feed(data[i : i + chunk_size]))
    events.extend(decoder.close())
    return events


def datas(data: bytes, chunk_size: int | None = None) -> list[str]:
    return [e.data for e in decode_all(data, chunk_size)]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(eol: bytes) -> None:
    stream = b"data: one" + eol + eol + b"data: two" + eol + eol
    assert datas(stream) == ["one", "two"]
    # A CRLF split across two reads is one line end, not two.
    assert datas(stream, chunk_size=1) == ["one", "two"]


def test_data_with_and_without_space() -> None:
    assert datas(b"data:{}\n\ndata: {}\n\ndata:  two spaces\n\n") == ["{}", "{}", " two spaces"]


def test_comments_and_unknown_fields_are_ignored() -> None:
    stream = b": keepalive\n:another\nfoo: bar\ndata: x\n\n: trailing comment\n\n"
    assert datas(stream) == ["x"]


def test_multi_line_data_joins_with_newline() -> None:
    assert datas(b"data: a\ndata: b\ndata:\n\n") == ["a\nb\n"]


def test_last_event_without_trailing_blank_line_is_delivered() -> None:
    assert datas(b"data: one\n\ndata: last") == ["one", "last"]
    assert datas(b"data: one\n\ndata: last\n") == ["one", "last"]


def test_unicode_line_separators_do_not_split() -> None:
    payload = '{"text": "a\u2028b\u2029c\u0085d"}'
    stream = b"data: " + payload.encode() + b"\n\n"
    assert datas(stream) == [payload]
    assert datas(stream, chunk_size=3) == [payload]


def test_event_id_and_retry_fields() -> None:
    [event] = decode_all(b"event: update\nid: 7\nretry: 1500\ndata: x\n\n")
    assert (event.event, event.id, event.retry) == ("update", "7", 1500)


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert datas(b"\n\n\r\n\revent: x\n\n") == []


def test_events_are_returned_as_soon_as_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: first\n") == []
    assert [e.data for e in decoder.feed(b"\ndata: sec")] == ["first"]
    assert [e.data for e in decoder.feed(b"ond\n\n")] == ["second"]


def test_endless_line_is_refused() -> None:
    decoder = SSEDecoder(max_line_bytes=1024)
    decoder.feed(b"data: " + b"x" * 1000)
    with pytest.raises(ValueError, match="longer than"):
        decoder.feed(b"x" * 100)


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert datas(b"data: \xff\xfe\n\n") == ["\ufffd\ufffd"]


_line = st.sampled_from([b"data: ", b"data:", b": c", b"event: e", b"id: 1", b"", b"x"]).flatmap(
    lambda head: st.binary(max_size=12).map(lambda tail: head + tail)
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_line, max_size=20),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    chunk_size=st.integers(min_value=1, max_value=17),
)
def test_chunking_never_changes_the_result(lines: list[bytes], eol: bytes, chunk_size: int) -> None:
    # Strip line-ending bytes from the generated content so that `eol` alone ends lines.
    clean = [ln.replace(b"\r", b"").replace(b"\n", b"") for ln in lines]
    stream = eol.join(clean) + eol
    assert decode_all(stream, chunk_size) == decode_all(stream)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=1, max_value=50))
def test_any_bytes_give_events_never_another_exception(data: bytes, chunk_size: int) -> None:
    for event in decode_all(data, chunk_size):
        assert isinstance(event.data, str)


def test_a_data_field_without_colon_is_an_empty_data_line() -> None:
    # The spec: a line with no colon is a field name with the empty string as value.
    assert datas(b"data: a\ndata\ndata: b\n\ndata\n\n") == ["a\n\nb", ""]


def _reference(stream: bytes) -> list[ServerSentEvent]:
    """The WHATWG algorithm, written plainly (whole stream at once, line by line)."""
    events: list[ServerSentEvent] = []
    data: list[str] = []
    event, last_id, retry = "", None, None
    lines = stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    for raw in [*lines, b""]:  # the end of the stream dispatches an open event (ours)
        line = raw.decode("utf-8", "replace")
        if not line:
            if data:
                events.append(ServerSentEvent("\n".join(data), event or "message", last_id, retry))
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        value = value[1:] if sep and value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\x00" not in value:
            last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
    return events


@settings(max_examples=500, deadline=None)
@given(
    parts=st.lists(
        st.one_of(
            st.sampled_from([b"data:", b"data: ", b"data", b"event: e", b"id: 7", b": c"]),
            st.sampled_from([b"\n", b"\r\n", b"\r", b"\r\r\n", b"\n\r"]),
            st.binary(max_size=12),
        ),
        max_size=30,
    ),
    chunk_size=st.integers(min_value=1, max_value=23),
)
def test_any_chunking_of_mixed_line_ends_matches_the_reference(
    parts: list[bytes], chunk_size: int
) -> None:
    stream = b"".join(parts)
    assert decode_all(stream, chunk_size) == _reference(stream)
    assert decode_all(stream) == _reference(stream)
