"""The session rules, sans-I/O: bytes in, decisions out, no socket and no event loop.

What a Live session decides across its connections (:class:`SessionRules`): when a
resumption handle covers everything (freshness), when to act on ``goAway``, which
chunks belong to the current turn, whether a drop cut a turn, which sends the resumed
context may lack.
"""

from __future__ import annotations

import json
from typing import Any

from api_gemini.types import Content
from api_gemini.websocket.decoding import events_from_message
from api_gemini.websocket.events import GoAway, ModelTurn
from api_gemini.websocket.live_types import LiveSetup, ServerMessage
from api_gemini.websocket.protocol import LiveProtocol, SessionState
from api_gemini.websocket.rules import SessionRules


def frame(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


SETUP_COMPLETE = frame({"setupComplete": {}})
CHUNK = frame({"serverContent": {"modelTurn": {"parts": [{"text": "a"}]}}})
LAST_CHUNK = frame(
    {"serverContent": {"modelTurn": {"parts": [{"text": "z"}]}, "turnComplete": True}}
)
TURN_COMPLETE = frame({"serverContent": {"turnComplete": True}})


def handle(name: str) -> bytes:
    return frame({"sessionResumptionUpdate": {"newHandle": name, "resumable": True}})


def go_away(seconds: str) -> bytes:
    return frame({"goAway": {"timeLeft": seconds}})


class Session:
    """A protocol and the rules fed the way the session feeds them, with a chunk count."""

    def __init__(self, *, act_on_go_away: bool = True) -> None:
        self.protocol = LiveProtocol()
        self.rules = SessionRules(act_on_go_away=act_on_go_away)
        self.chunks = 0
        self.protocol.send_setup(LiveSetup(model="models/x"))
        self.feed(SETUP_COMPLETE)

    def feed(self, data: bytes) -> None:
        message = self.protocol.receive_message(data)
        events = events_from_message(message)
        if type(message) is ServerMessage:
            self.rules.message_received(message, events, self.protocol, self.chunks)
        self.chunks += sum(1 for e in events if type(e) is ModelTurn)

    def ask(self) -> None:
        self.rules.send_started()
        self.protocol.send_client_content([Content.user_text("hi")], True)
        self.rules.sent_since_handle += 1


def test_a_handle_between_turns_is_fresh_and_one_mid_turn_is_not() -> None:
    s = Session()
    s.feed(handle("h1"))
    assert s.rules.handle == "h1" and s.rules.handle_fresh
    s.ask()
    assert not s.rules.handle_fresh  # what was sent is in no handle yet
    s.feed(CHUNK)
    s.feed(handle("h2"))  # mid-turn: the turn is not in it
    assert s.rules.handle == "h2" and not s.rules.handle_fresh
    assert s.rules.sent_since_handle == 0
    s.feed(LAST_CHUNK)
    assert not s.rules.handle_fresh  # the finished turn needs a newer handle
    s.feed(handle("h3"))
    assert s.protocol.state is SessionState.READY
    assert s.rules.handle == "h3" and s.rules.handle_fresh


def test_go_away_waits_for_a_fresh_handle_between_turns() -> None:
    s = Session()
    s.feed(handle("h1"))
    s.ask()
    s.feed(CHUNK)
    s.feed(go_away("30s"))
    assert s.rules.go_away == GoAway(time_left=30.0)  # parsed once, by the decoder
    assert s.rules.go_away_due
    assert not s.rules.wants_reconnect(s.protocol.state)  # mid-turn
    s.feed(TURN_COMPLETE)
    assert not s.rules.wants_reconnect(s.protocol.state)  # the handle predates the turn
    s.feed(handle("h2"))
    assert s.rules.wants_reconnect(s.protocol.state)


def test_without_a_policy_go_away_is_kept_but_not_acted_on() -> None:
    s = Session(act_on_go_away=False)
    s.feed(handle("h1"))
    s.feed(go_away("1.5s"))
    assert s.rules.go_away == GoAway(time_left=1.5)
    assert not s.rules.go_away_due
    assert not s.rules.wants_reconnect(s.protocol.state)


def test_turn_chunks_count_only_the_current_turn() -> None:
    s = Session()
    s.ask()
    s.feed(CHUNK)
    s.feed(LAST_CHUNK)  # its own chunk belongs to the turn it ends
    assert s.rules.turn_chunks(s.chunks) == 0
    s.ask()
    s.feed(CHUNK)
    s.feed(CHUNK)
    assert s.rules.turn_chunks(s.chunks) == 2


def test_turn_lost_is_a_drop_in_the_middle_of_a_turn() -> None:
    assert SessionRules.turn_lost(SessionState.IN_TURN)
    assert not SessionRules.turn_lost(SessionState.READY)
    assert not SessionRules.turn_lost(None)


def test_a_move_reports_unconfirmed_sends_and_starts_afresh() -> None:
    s = Session()
    s.feed(handle("h1"))
    s.ask()
    s.ask()
    s.rules.in_flight = 1  # a third send still on its way when the session moves
    s.feed(go_away("5s"))
    assert s.rules.moved(s.chunks) == 3
    assert s.rules.go_away is None and not s.rules.go_away_due
    assert s.rules.handle_fresh and s.rules.sent_since_handle == 0
    assert s.rules.handle == "h1"  # kept across connections


def test_a_send_that_never_went_out_does_not_start_a_turn() -> None:
    """Undo of the protocol's own transition: a drop between turns stays between turns."""
    protocol = Session().protocol
    protocol.send_client_content([Content.user_text("hi")], True)
    assert state_of(protocol) is SessionState.IN_TURN
    protocol.send_failed()
    assert state_of(protocol) is SessionState.READY
    protocol.send_raw_realtime(b"{}")
    protocol.send_failed()  # a realtime send moves nothing: nothing to undo
    assert state_of(protocol) is SessionState.READY


def state_of(protocol: LiveProtocol) -> SessionState:
    """The state, read through a call (mypy would narrow an attribute between asserts)."""
    return protocol.state
