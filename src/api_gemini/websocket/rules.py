"""The rules of a Live session that span its connections, without I/O.

Sans-I/O like :mod:`.protocol` (which holds one connection's state machine): nothing
here opens a socket or touches an event loop, so every rule is tested with bytes in
(``tests/test_ws_protocol.py``). The session (:mod:`.session`) and its reconnector
(:mod:`.reconnect`) feed it and ask it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .events import GoAway, LiveEvent, ModelTurn
from .live_types import ServerMessage
from .protocol import LiveProtocol, SessionState

__all__ = ["SessionRules"]


class SessionRules:
    """The rules of a Live session that span its connections, without I/O.

    A :class:`LiveProtocol` lives as long as one connection; a session outlives its
    connections when it reconnects. What decides *when* a reconnect loses nothing, and
    what it may have lost, lives here, fed by the session as frames arrive and sends
    go out, and tested with bytes alone (``tests/test_ws_protocol.py``):

    * handle freshness: the newest resumption handle covers every send and every
      finished turn only if it arrived between turns and nothing was sent since;
    * goAway timing (:meth:`wants_reconnect`): under a policy that acts on ``goAway``,
      move at the first moment the session is between turns with a fresh handle;
    * turn boundaries: the chunks of the current turn (a drop's ``chunks_received``);
    * ``turn_lost``: the old connection ended in the middle of a turn;
    * unconfirmed sends: sent after the newest handle, or in flight at the move.
    """

    __slots__ = (
        "act_on_go_away",
        "go_away",
        "go_away_due",
        "handle",
        "handle_fresh",
        "in_flight",
        "sent_since_handle",
        "turn_chunks_base",
    )

    def __init__(self, *, act_on_go_away: bool = False) -> None:
        #: Reconnect before the server's cut when a goAway arrives (a policy's choice).
        self.act_on_go_away = act_on_go_away
        #: The last goAway of the current connection.
        self.go_away: GoAway | None = None
        #: A goAway arrived and the session should move at the next safe moment.
        self.go_away_due = False
        #: The newest resumption handle, kept across connections.
        self.handle: str | None = None
        #: The newest handle covers everything sent and every finished turn.
        self.handle_fresh = True
        #: Sends started on the connection and not finished yet.
        self.in_flight = 0
        #: Sends that went out after the newest handle arrived.
        self.sent_since_handle = 0
        #: ``chunks`` when the last turn finished (or the session moved).
        self.turn_chunks_base = 0

    def message_received(
        self,
        message: ServerMessage,
        events: Sequence[LiveEvent],
        protocol: LiveProtocol,
        chunks: int,
    ) -> None:
        """Apply one decoded server message (``events`` are its events, ``protocol``
        has applied it already; ``chunks`` is the session's count before it)."""
        if message.go_away is not None:
            for event in events:
                if type(event) is GoAway:
                    self.go_away = event
            if self.act_on_go_away:
                self.go_away_due = True
        content = message.server_content
        if content is not None and content.turn_complete:
            self.handle_fresh = False  # the finished turn needs a newer handle
            # This message's own chunks belong to the turn that ends.
            self.turn_chunks_base = chunks + sum(1 for e in events if type(e) is ModelTurn)
        update = message.session_resumption_update
        # An update without a handle (resumable: false, sent while the model
        # generates) confirms nothing: what was sent is still unconfirmed.
        if update is not None and update.new_handle and update.resumable is not False:
            handle = protocol.resumption_handle
            if handle:
                self.handle = handle
                self.handle_fresh = protocol.state is SessionState.READY
                self.sent_since_handle = 0

    def send_started(self) -> None:
        """A send begins (straight on the connection, or queued for a reconnect):
        whatever it carries is in no handle yet."""
        self.handle_fresh = False

    def wants_reconnect(self, state: SessionState) -> bool:
        """True when a due goAway should be acted on now: between turns (``state`` is
        ``READY``) with a handle that covers every finished turn and every send."""
        return self.go_away_due and state is SessionState.READY and self.handle_fresh

    def turn_chunks(self, chunks: int) -> int:
        """The chunks of the current turn, of ``chunks`` received in all."""
        return chunks - self.turn_chunks_base

    @staticmethod
    def turn_lost(state_at_close: SessionState | None) -> bool:
        """The connection ended in the middle of a turn: its answer is cut short."""
        return state_at_close is SessionState.IN_TURN

    def moved(self, chunks: int) -> int:
        """The session moved to a new connection: returns the unconfirmed sends
        (after the newest handle, or in flight), and starts afresh."""
        unconfirmed = self.sent_since_handle + self.in_flight
        self.go_away = None
        self.go_away_due = False
        self.handle_fresh = True
        self.sent_since_handle = 0
        self.turn_chunks_base = chunks
        return unconfirmed
