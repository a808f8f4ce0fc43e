"""Reconnection and session resumption: a Live session that outlives its connection.

    GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/reconnect.py

Nothing reconnects unless you ask. Either call ``session.reconnect()`` yourself after a
``DisconnectedError`` or a ``GoAway`` event, or pass a ``ReconnectPolicy`` and read the
``Reconnected`` events. Both need session resumption enabled in the config.
"""

import asyncio

from api_gemini import AsyncClient, ReconnectPolicy
from api_gemini.errors import DisconnectedError
from api_gemini.websocket import LiveSession, ModelTurn, OutputTranscription, Reconnected

LIVE = "gemini-3.8-live"
CONFIG = {"sessionResumption": {}}


async def answer(session: LiveSession) -> str:
    return "".join(
        [
            e.text
            async for e in session.receive_turn()
            if isinstance(e, ModelTurn | OutputTranscription)
        ]
    )


async def explicit() -> None:
    async with AsyncClient() as client:
        model = client.models.by_name(LIVE)
        async with await model.connect(CONFIG) as session:
            await session.send_text("echo: my name is Ada")
            print("1:", await answer(session))

            # The emulator closes this connection with 1011 after two chunks.
            await session.send_text("fault:close-1011-after-2 tell me a story")
            try:
                await answer(session)
            except DisconnectedError as exc:
                print(
                    f"dropped: {exc.close_code}, handle kept: {exc.resumption_handle is not None}"
                )
                await session.reconnect()  # same session object, new connection
            # The event stream goes on with a Reconnected event, then the new connection.
            async for event in session:
                if isinstance(event, Reconnected):
                    print(f"reconnected ({event.cause}), turn lost: {event.turn_lost}")
                    break

            await session.send_text("recall")  # the context survived
            print("2:", await answer(session))


async def with_policy() -> None:
    policy = ReconnectPolicy(max_attempts=3, initial_backoff=0.05)
    async with AsyncClient() as client:
        model = client.models.by_name(LIVE)
        async with await model.connect(CONFIG, reconnect=policy) as session:
            await session.send_text("echo: hello")
            print("3:", await answer(session))

            await session.send_text("fault:close-1011-after-2 tell me a story")
            async for event in session:
                if isinstance(event, Reconnected):
                    # Visible, never silent: an event and a counter.
                    print(
                        f"reconnected ({event.cause}, code {event.close_code}, "
                        f"turn lost: {event.turn_lost})"
                    )
                    break
            await session.send_text("recall")
            print("4:", await answer(session))
            print("reconnects:", session.metrics.reconnects)


asyncio.run(explicit())
asyncio.run(with_policy())
