"""Keepalive and health of a Live session: ping round trip, idle time, age, goAway.

GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/health.py
"""

import asyncio

from api_gemini import AsyncClient, WebSocketSettings


async def main() -> None:
    # The defaults: a ping every 20 s, and a peer is dead after 45 s without a pong
    # (the real server answers pings 8 to 30 s late, so shorter timeouts kill healthy
    # connections). A dead peer is therefore detected within 65 s.
    settings = WebSocketSettings(keepalive_interval=20.0, keepalive_timeout=45.0)
    async with AsyncClient(websocket=settings) as client:
        model = client.models.by_name("gemini-3.8-live")
        async with await model.connect() as session:
            rtt = await session.ping()  # one ping now, waits for its pong
            health = session.health()
            print(f"state {health.state.name}, ping {rtt * 1000:.2f} ms")
            print(f"age {health.age:.3f} s, last message {health.since_last_message:.3f} s ago")
            print(f"goAway deadline: {health.go_away_in}")  # None: no goAway announced
            print(f"traffic: {health.messages_in} in, {health.messages_out} out")


asyncio.run(main())
