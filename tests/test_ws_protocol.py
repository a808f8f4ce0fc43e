"""Sans-I/O tests of the Live protocol: bytes in, events out, no sockets."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api_gemini._close_codes import CLOSE_CODES
from api_gemini.errors import (
    DisconnectedError,
    KeepaliveTimeoutError,
    MessageParseError,
    MessageTooBigError,
    ProtocolViolationError,
    SessionStateError,
    SetupRejectedError,
)
from api_gemini.types import (
    Blob,
    Content,
    FunctionResponse,
    GenerationConfig,
    GroundingMetadata,
    Part,
)
from api_gemini.websocket.decoding import decode_events, decode_server_message, parse_duration
from api_gemini.websocket.events import (
    GenerationComplete,
    GoAway,
    Grounding,
    InputTranscription,
    Interrupted,
    LiveEvent,
    ModelTurn,
    OutputTranscription,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UnknownMessage,
    UsageUpdate,
)
from api_gemini.websocket.live_types import (
    ContextWindowCompressionConfig,
    LiveConnectConfig,
    LiveSetup,
    RealtimeInput,
    ServerMessage,
    SessionResumptionConfig,
    SlidingWindow,
    coerce_live_config,
)
from api_gemini.websocket.protocol import (
    ACTIVITY_END,
    ACTIVITY_START,
    AUDIO_STREAM_END,
    LiveProtocol,
    SessionState,
    encode_audio,
    encode_client_content,
    encode_realtime_input,
    encode_setup,
    encode_tool_response,
    error_for_close,
)


def j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def state_of(proto: LiveProtocol) -> SessionState:
    """The state, read through a call so that mypy does not narrow it across sends."""
    return proto.state


def ready() -> LiveProtocol:
    proto = LiveProtocol()
    proto.send_setup(LiveSetup(model="models/m"))
    proto.receive(j({"setupComplete": {}}))
    return proto


# --------------------------------------------------------------------------- encoding


def test_setup_is_camel_case_compact_json() -> None:
    setup = LiveConnectConfig(
        system_instruction="be brief",
        session_resumption=SessionResumptionConfig(),
        context_window_compression=ContextWindowCompressionConfig(
            sliding_window=SlidingWindow(target_tokens=1000), trigger_tokens=2000
        ),
        input_audio_transcription=True,
        generation_config=GenerationConfig(max_output_tokens=5),
    ).to_setup("models/gemini-3.8-live")
    data = encode_setup(setup)
    assert b" " not in data.replace(b"be brief", b"")
    assert json.loads(data) == {
        "setup": {
            "model": "models/gemini-3.8-live",
            # today's default: AUDIO, with the transcription as the text
            "generationConfig": {"maxOutputTokens": 5, "responseModalities": ["AUDIO"]},
            "outputAudioTranscription": {},
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "sessionResumption": {},
            "contextWindowCompression": {
                "slidingWindow": {"targetTokens": 1000},
                "triggerTokens": 2000,
            },
            "inputAudioTranscription": {},
        }
    }


def test_response_modalities_shortcut_wins() -> None:
    cfg = LiveConnectConfig(
        response_modalities=["AUDIO"],
        generation_config=GenerationConfig(response_modalities=["TEXT"], temperature=0.5),
    )
    body = json.loads(encode_setup(cfg.to_setup("models/x")))["setup"]
    assert body["generationConfig"] == {"temperature": 0.5, "responseModalities": ["AUDIO"]}
    # the caller's GenerationConfig is not modified
    assert cfg.generation_config is not None
    assert cfg.generation_config.response_modalities == ["TEXT"]


def test_client_content_always_carries_turn_complete() -> None:
    turns = [Content.user_text("hi")]
    assert json.loads(encode_client_content(turns, True)) == {
        "clientContent": {
            "turns": [{"parts": [{"text": "hi"}], "role": "user"}],
            "turnComplete": True,
        }
    }
    assert json.loads(encode_client_content(turns, False))["clientContent"]["turnComplete"] is False
    assert json.loads(encode_client_content([], False)) == {
        "clientContent": {"turnComplete": False}
    }


def test_realtime_input_encodings() -> None:
    audio = json.loads(encode_audio(b"\x00\x01\xff", rate=16000))
    assert audio == {
        "realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": "AAH/"}}
    }
    assert json.loads(ACTIVITY_START) == {"realtimeInput": {"activityStart": {}}}
    assert json.loads(ACTIVITY_END) == {"realtimeInput": {"activityEnd": {}}}
    assert json.loads(AUDIO_STREAM_END) == {"realtimeInput": {"audioStreamEnd": True}}
    assert json.loads(encode_realtime_input(RealtimeInput(text="x"))) == {
        "realtimeInput": {"text": "x"}
    }
    video = RealtimeInput(video=Blob(mime_type="image/jpeg", data=b"\xff\xd8"))
    assert json.loads(encode_realtime_input(video))["realtimeInput"]["video"]["mimeType"] == (
        "image/jpeg"
    )
    with pytest.raises(ValueError, match="exactly one"):
        encode_realtime_input(RealtimeInput())
    with pytest.raises(ValueError, match="exactly one"):
        encode_realtime_input(RealtimeInput(text="a", audio_stream_end=True))


def test_tool_response_encoding() -> None:
    data = encode_tool_response([FunctionResponse(id="c1", name="f", response={"ok": 1})])
    assert json.loads(data) == {
        "toolResponse": {"functionResponses": [{"name": "f", "response": {"ok": 1}, "id": "c1"}]}
    }


def test_coerce_live_config_accepts_camel_and_snake_top_level() -> None:
    a = coerce_live_config({"responseModalities": ["AUDIO"], "sessionResumption": {"handle": "h"}})
    b = coerce_live_config(
        {"response_modalities": ["AUDIO"], "session_resumption": {"handle": "h"}}
    )
    assert a == b
    assert a.session_resumption == SessionResumptionConfig(handle="h")
    assert coerce_live_config(None) == LiveConnectConfig()
    from api_gemini.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        coerce_live_config({"responseModalities": "TEXT"})
    with pytest.raises(InvalidRequestError):
        coerce_live_config(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- decoding


def test_every_event_kind() -> None:
    assert decode_events(j({"setupComplete": {"sessionId": "s1"}})) == [SetupComplete("s1")]
    events = decode_events(
        j(
            {
                "serverContent": {
                    "modelTurn": {
                        "parts": [
                            {"text": "Hel"},
                            {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "AAE="}},
                        ]
                    },
                    "inputTranscription": {"text": "in"},
                    "outputTranscription": {"text": "out"},
                    "interrupted": True,
                    "generationComplete": True,
                    "turnComplete": True,
                    "turnCompleteReason": "X",
                    "groundingMetadata": {"webSearchQueries": ["q"], "whatever": 1},
                },
                "usageMetadata": {"promptTokenCount": 3, "responseTokenCount": 5},
            }
        )
    )
    kinds = [type(e) for e in events]
    assert kinds == [
        InputTranscription,
        ModelTurn,
        OutputTranscription,
        Grounding,
        Interrupted,
        GenerationComplete,
        UsageUpdate,
        TurnComplete,
    ]
    turn = events[1]
    assert isinstance(turn, ModelTurn)
    assert turn.text == "Hel"
    assert turn.audio == b"\x00\x01"
    assert isinstance(turn.content, Content)
    assert events[0] == InputTranscription("in")
    assert events[2] == OutputTranscription("out")
    assert events[3] == Grounding(grounding_metadata=GroundingMetadata(web_search_queries=["q"]))
    assert events[7] == TurnComplete(reason="X")
    assert all(e.raw["serverContent"]["groundingMetadata"]["whatever"] == 1 for e in events)
    usage = events[6]
    assert isinstance(usage, UsageUpdate)
    http = usage.to_usage_metadata()
    assert (http.prompt_token_count, http.candidates_token_count) == (3, 5)

    [call] = decode_events(
        j({"toolCall": {"functionCalls": [{"id": "c1", "name": "f", "args": {"a": 1}}]}})
    )
    assert isinstance(call, ToolCall)
    assert call.function_calls[0].name == "f"
    assert call.function_calls[0].args == {"a": 1}
    assert decode_events(j({"toolCallCancellation": {"ids": ["c1"]}})) == [
        ToolCallCancellation(["c1"])
    ]
    assert decode_events(j({"goAway": {"timeLeft": "50s"}})) == [GoAway(50.0)]
    assert decode_events(j({"goAway": {"timeLeft": "1.5s"}})) == [GoAway(1.5)]
    assert decode_events(j({"goAway": {}})) == [GoAway(None)]
    assert decode_events(
        j({"sessionResumptionUpdate": {"newHandle": "h1", "resumable": True}})
    ) == [SessionResumptionUpdate("h1", True)]


def test_text_and_binary_frames_decode_alike() -> None:
    frame = {"serverContent": {"modelTurn": {"parts": [{"text": "é"}]}}}
    as_text = json.dumps(frame, ensure_ascii=False)
    assert decode_events(as_text) == decode_events(as_text.encode())


def test_unknown_keys_are_events_not_errors() -> None:
    raw = j({"brandNewThing": {"x": [1, 2]}})
    (event,) = decode_events(raw)
    assert event == UnknownMessage("brandNewThing")
    assert event.raw == {"brandNewThing": {"x": [1, 2]}}
    # unknown next to known: neither is lost (the known event, then the unknown key)
    events = decode_events(j({"goAway": {"timeLeft": "2s"}, "brandNew": 1}))
    assert events == [GoAway(2.0), UnknownMessage("brandNew")]
    assert events[0].raw["brandNew"] == 1
    # unknown fields inside known messages: skipped by the types, kept in .raw
    (done,) = decode_events(j({"serverContent": {"turnComplete": True, "newField": {"a": 1}}}))
    assert done == TurnComplete()
    assert done.raw["serverContent"]["newField"] == {"a": 1}
    assert decode_events(b"{}") == []
    assert decode_events(b'{"setupComplete": null}') == []
    assert decode_events('  {"x": 1}  ') == [UnknownMessage("x")]


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff\xfe{}",
        b'{"serverContent": {"modelTurn": {"parts": [{"text": "\xc3("}]}}}',
        b'{"unknownKey": "\xed\xa0\x80"}',  # UTF-8 check covers skipped values too
        b"not json",
        b"",
        b"[1, 2]",
        b'"a string"',
        b"42",
        b"null",
        b'{"serverContent": 5}',
        b'{"serverContent": {"turnComplete": "yes"}}',
        b'{"toolCall": {"functionCalls": [{"name": 3}]}}',
        b'{"goAway": {"timeLeft": "soon"}}',
        b'{"goAway": {"timeLeft": "-3s"}}',
        b'{"goAway": {"timeLeft": [1]}}',
        b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "!!"}}]}}}',
        b'{"a": 1',
        b"[" * 100_000,
    ],
)
def test_malformed_frames_raise_message_parse_error(frame: bytes) -> None:
    with pytest.raises(MessageParseError):
        decode_events(frame)


def test_parse_error_does_not_echo_the_frame() -> None:
    with pytest.raises(MessageParseError) as info:
        decode_events(b'{"serverContent": {"turnComplete": "SECRET-VALUE"}}')
    assert "SECRET-VALUE" not in str(info.value)


def test_parse_duration() -> None:
    assert parse_duration("50s") == 50.0
    assert parse_duration("0.000001s") == pytest.approx(1e-6)
    assert parse_duration(3) == 3.0
    assert parse_duration(None) is None
    for bad in ("50", "s", "nans", "infs", "1m"):
        with pytest.raises(MessageParseError):
            parse_duration(bad)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_events_or_parse_error(data: bytes) -> None:
    try:
        events = decode_events(data)
    except MessageParseError:
        return
    assert all(isinstance(e, LiveEvent) for e in events)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "serverContent",
                    "modelTurn",
                    "parts",
                    "text",
                    "turnComplete",
                    "toolCall",
                    "functionCalls",
                    "goAway",
                    "timeLeft",
                    "usageMetadata",
                    "inlineData",
                    "data",
                    "setupComplete",
                    "sessionResumptionUpdate",
                    "newHandle",
                    "ids",
                    "x",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=250, deadline=None)
@given(json_values)
def test_any_json_gives_events_or_parse_error(value: Any) -> None:
    for frame in (json.dumps(value).encode(), json.dumps(value)):
        try:
            events = decode_events(frame)
        except MessageParseError:
            continue
        assert all(isinstance(e, LiveEvent) for e in events)


def test_decode_server_message_returns_the_struct() -> None:
    msg = decode_server_message(j({"serverContent": {"turnComplete": True}}))
    assert isinstance(msg, ServerMessage)
    assert msg.server_content is not None
    assert msg.server_content.turn_complete is True


# --------------------------------------------------------------------------- state machine


def test_state_machine_happy_path() -> None:
    proto = LiveProtocol()
    assert state_of(proto) is SessionState.CONNECTING
    with pytest.raises(SessionStateError):
        proto.send_client_content([Content.user_text("x")])
    proto.send_setup(LiveSetup(model="models/m"))
    assert state_of(proto) is SessionState.AWAITING_SETUP_COMPLETE
    with pytest.raises(SessionStateError):
        proto.send_setup(LiveSetup(model="models/m"))
    with pytest.raises(SessionStateError):
        proto.send_tool_response([])
    proto.receive(j({"setupComplete": {"sessionId": "abc"}}))
    assert state_of(proto) is SessionState.READY
    assert proto.session_id == "abc"
    proto.send_client_content([Content.user_text("x")], turn_complete=False)
    assert state_of(proto) is SessionState.READY
    proto.send_client_content([Content.user_text("x")])
    assert state_of(proto) is SessionState.IN_TURN
    proto.send_realtime_input(RealtimeInput(text="more"))  # allowed mid-turn
    proto.receive(j({"serverContent": {"modelTurn": {"parts": [{"text": "a"}]}}}))
    assert state_of(proto) is SessionState.IN_TURN
    proto.receive(j({"serverContent": {"turnComplete": True}}))
    assert state_of(proto) is SessionState.READY
    # a server-started turn (voice activity detection) and a tool call
    proto.receive(j({"serverContent": {"modelTurn": {"parts": [{"text": "a"}]}}}))
    assert state_of(proto) is SessionState.IN_TURN
    proto.receive(j({"serverContent": {"turnComplete": True}}))
    proto.receive(j({"toolCall": {"functionCalls": [{"name": "f", "id": "1"}]}}))
    assert state_of(proto) is SessionState.IN_TURN
    proto.send_tool_response([FunctionResponse(name="f", id="1")])
    proto.start_closing()
    assert state_of(proto) is SessionState.CLOSING
    with pytest.raises(SessionStateError):
        proto.send_client_content([Content.user_text("x")])
    assert proto.connection_closed(1000) is None
    assert state_of(proto) is SessionState.CLOSED
    with pytest.raises(SessionStateError):
        proto.receive(b"{}")


@pytest.mark.parametrize(
    "frame",
    [
        {"serverContent": {"modelTurn": {"parts": [{"text": "early"}]}}},
        {"toolCall": {"functionCalls": []}},
        {"toolCallCancellation": {"ids": []}},
    ],
)
def test_content_before_setup_complete_is_a_violation(frame: dict[str, Any]) -> None:
    proto = LiveProtocol()
    proto.send_setup(LiveSetup(model="models/m"))
    with pytest.raises(ProtocolViolationError):
        proto.receive(j(frame))


def test_harmless_messages_before_setup_complete_are_allowed() -> None:
    proto = LiveProtocol()
    proto.send_setup(LiveSetup(model="models/m"))
    assert proto.receive(j({"somethingNew": 1}))[0] == UnknownMessage("somethingNew")
    assert proto.receive(j({"goAway": {"timeLeft": "5s"}})) == [GoAway(5.0)]
    assert proto.go_away_time_left == 5.0


def test_a_go_away_duration_is_parsed_once_per_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """``receive`` decodes, applies and turns a frame into events in one pass: the
    ``goAway`` duration the state keeps is the one the event carries (issue 13)."""
    from api_gemini.websocket import decoding, protocol

    calls: list[object] = []
    real = decoding.parse_duration

    def counting(value: str | float | None) -> float | None:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(decoding, "parse_duration", counting)
    monkeypatch.setattr(protocol, "parse_duration", counting)
    proto = ready()
    assert proto.receive(j({"goAway": {"timeLeft": "2.5s"}})) == [GoAway(2.5)]
    assert proto.go_away_time_left == 2.5
    assert calls == ["2.5s"]
    # Without the protocol, the decoder still parses it (once).
    calls.clear()
    assert decode_events(j({"goAway": {"timeLeft": "3s"}})) == [GoAway(3.0)]
    assert calls == ["3s"]


def test_second_setup_complete_is_a_violation() -> None:
    proto = ready()
    with pytest.raises(ProtocolViolationError):
        proto.receive(j({"setupComplete": {}}))


def test_resumption_handle_tracks_the_newest_resumable_one() -> None:
    proto = ready()
    proto.receive(j({"sessionResumptionUpdate": {"newHandle": "h1", "resumable": True}}))
    proto.receive(j({"sessionResumptionUpdate": {"resumable": False}}))
    assert proto.resumption_handle == "h1"
    proto.receive(j({"sessionResumptionUpdate": {"newHandle": "h2"}}))
    assert proto.resumption_handle == "h2"


# --------------------------------------------------------------------------- close codes


def test_every_event_has_one_home_and_is_exported() -> None:
    """``events`` lists exactly the events it defines, and the package exports each of
    them as that very object: a new event cannot be left out, nor listed twice."""
    import api_gemini.websocket as package
    from api_gemini.websocket import events

    defined = {
        name
        for name, value in vars(events).items()
        if isinstance(value, type) and issubclass(value, LiveEvent)
    }
    assert set(events.__all__) == defined
    assert len(package.__all__) == len(set(package.__all__))
    for name in defined:
        assert getattr(package, name) is getattr(events, name)
        assert name in package.__all__


def test_close_table_is_the_one_source() -> None:
    assert set(CLOSE_CODES) >= {1000, 1001, 1006, 1007, 1008, 1009, 1011, 1012, 1013}


def test_normal_close_between_turns_is_clean() -> None:
    assert error_for_close(1000, "bye") is None
    proto = ready()
    assert proto.connection_closed(1000, "The operation was cancelled.") is None


def test_normal_close_mid_turn_loses_data() -> None:
    proto = ready()
    proto.send_client_content([Content.user_text("x")])
    proto.receive(j({"sessionResumptionUpdate": {"newHandle": "h9", "resumable": True}}))
    err = proto.connection_closed(1000, "The operation was cancelled.", chunks_received=4)
    assert isinstance(err, DisconnectedError)
    assert (err.close_code, err.chunks_received, err.resumption_handle) == (1000, 4, "h9")
    assert not err.retryable


@pytest.mark.parametrize("code", [1001, 1006, 1011, 1012, 1013])
def test_retryable_disconnects(code: int) -> None:
    err = error_for_close(code, "Internal error encountered.", chunks_received=2)
    assert isinstance(err, DisconnectedError)
    assert err.retryable
    assert err.chunks_received == 2
    assert str(code) in str(err)


@pytest.mark.parametrize("code", [1007, 1008])
def test_fatal_codes(code: int) -> None:
    err = error_for_close(code, "API key not valid. Please pass a valid API key.")
    assert isinstance(err, DisconnectedError)
    assert not err.retryable
    setup = error_for_close(code, "models/x is not found", during_setup=True)
    assert isinstance(setup, SetupRejectedError)
    assert setup.close_code == code
    assert not setup.retryable
    assert "models/x is not found" in str(setup)


@pytest.mark.parametrize("code", [None, 1001, 1006, 1011, 1012, 1013])
def test_setup_rejection_is_never_retryable(code: int | None) -> None:
    # Even a retryable close code: the same setup sent again is refused again, so
    # neither a RetryPolicy nor the reconnector may send it again (issue 13).
    err = error_for_close(code, "The service is currently unavailable.", during_setup=True)
    assert isinstance(err, SetupRejectedError)
    assert err.retryable is False
    direct = SetupRejectedError("refused", close_code=1011)
    assert direct.retryable is False
    with pytest.raises(AttributeError):
        direct.retryable = True  # type: ignore[misc]


def test_too_big_and_keepalive_and_protocol() -> None:
    assert isinstance(error_for_close(1009, "over size limit", sent_by_us=True), MessageTooBigError)
    assert isinstance(error_for_close(1009, ""), MessageTooBigError)
    ka = error_for_close(1011, "keepalive ping timeout", sent_by_us=True, resumption_handle="h")
    assert isinstance(ka, KeepaliveTimeoutError)
    assert ka.retryable
    assert ka.resumption_handle == "h"
    assert isinstance(error_for_close(1002, "bad frame"), ProtocolViolationError)
    unknown = error_for_close(4000, "custom")
    assert isinstance(unknown, DisconnectedError)
    assert not unknown.retryable
    dropped = error_for_close(None)
    assert isinstance(dropped, DisconnectedError)
    assert dropped.close_code == 1006


def test_events_are_msgspec_structs_and_compare_by_value() -> None:
    assert ModelTurn(Content(parts=[Part(text="a")])) == ModelTurn(Content(parts=[Part(text="a")]))
    assert msgspec.structs.asdict(GoAway(1.0)) == {"time_left": 1.0, "_frame": None}
