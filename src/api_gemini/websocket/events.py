"""Events a Live session yields that the client makes itself.

:class:`Reconnected` marks a session's move to a new connection. The events decoded
from server frames (:class:`~.protocol.ModelTurn`, :class:`~.protocol.TurnComplete`,
...) derive from the same :class:`~.protocol.LiveEvent`; all are exported by
:mod:`api_gemini.websocket`.
"""

from __future__ import annotations

from .protocol import LiveEvent

__all__ = ["Reconnected"]


class Reconnected(LiveEvent, frozen=True):
    """The session moved to a new connection, resumed with its newest handle.

    Yielded by ``async for event in session`` (and :meth:`LiveSession.receive_turn`)
    after every buffered event of the old connection; nothing of the old connection
    follows it (its unread frames are dropped). Counted in ``metrics.reconnects``.

    Attributes:
        cause: ``"go_away"`` (a policy acted on ``goAway``), ``"disconnected"`` (a
            policy acted on a drop) or ``"explicit"`` (:meth:`LiveSession.reconnect`).
        close_code: the close code of the drop (``None`` unless ``"disconnected"``).
        attempt: the attempt that succeeded (1: the first).
        turn_lost: the old connection ended in the middle of a turn: that answer is cut
            short, and the resumed context may lack its request; send it again if you
            still want the answer. :meth:`LiveSession.receive_turn` stops here.
        unconfirmed_sends: messages sent on the old connection after its newest
            resumption handle arrived, including sends still in progress there when
            it was replaced (those are sent again on the new connection if the old
            one refused them): the resumed context may lack them.
        session_id: the new connection's session id, if the server gave one.
    """

    cause: str
    close_code: int | None = None
    attempt: int = 1
    turn_lost: bool = False
    unconfirmed_sends: int = 0
    session_id: str | None = None
