"""The warm pool: connections opened and set up ahead of time, so that a request skips
TCP, TLS, the WebSocket upgrade and setup. A connection is never reused after a request.

    GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/pool.py
"""

import asyncio

from api_gemini import AsyncClient, PoolSettings
from api_gemini.types import Content, GenerateContentRequest, GenerationConfig

LIVE = "gemini-3.8-live"


def ask(prompt: str) -> GenerateContentRequest:
    # The setup (model, generation config, system instruction, tools) must match the
    # warm connection's; the contents do not matter.
    return GenerateContentRequest(
        contents=[Content.user_text(prompt)],
        generation_config=GenerationConfig(max_output_tokens=16),
    )


async def main() -> None:
    # warm_per_key=1: keep one connection ready per setup used; refill after each hit.
    pool = PoolSettings(warm_per_key=1, max_total=4, idle_timeout=60.0, max_age=300.0)
    async with AsyncClient(pool=pool) as client:
        model = client.models.by_name(LIVE)

        # Warm one connection for streams with this setup (e.g. at start-up).
        ready = await model.prewarm(ask(""))
        print(f"{ready} warm connection ready")

        stream = await model.stream_generate_content_websocket(ask("echo: fast start"))
        async with stream:
            text = "".join([chunk.text async for chunk in stream])
        print(f"{text!r} from pool: {stream.metrics.from_pool}")

        # Sessions too: prewarm_live with the session's config, then connect.
        config = {"systemInstruction": "Be brief."}
        await model.prewarm_live(config)
        async with await model.connect(config) as session:
            print(f"session from pool: {session.metrics.from_pool}")

        metrics = client.pool_metrics()
        print(f"pool: {metrics.hits} hits, {metrics.misses} misses, {metrics.opened} opened")
    # Closing the client closed every warm connection with a handshake.


asyncio.run(main())
