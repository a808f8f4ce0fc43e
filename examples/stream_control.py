"""Pause, resume and cancel a stream; see the bounded buffer push back; read metrics.

GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/stream_control.py
"""

import asyncio

from api_gemini import AsyncClient, WebSocketSettings
from api_gemini.types import Content, GenerateContentRequest, GenerationConfig


async def main() -> None:
    # A small buffer, to see it fill: 32 chunks (the default is 256 chunks or 8 MiB).
    settings = WebSocketSettings(buffer_max_chunks=32)
    async with AsyncClient(websocket=settings) as client:
        model = client.models.by_name("gemini-3.8-live")
        request = GenerateContentRequest(
            contents=[Content.user_text("Tell me a long story")],
            generation_config=GenerationConfig(max_output_tokens=2000),
        )
        stream = await model.stream_generate_content_websocket(request)
        async with stream:
            first = await anext(stream)
            print("first chunk:", first.text)
            # Health is readable at any time and never blocks.
            health = stream.health()
            print(f"health: {health.state.name}, {health.messages_in} messages in")

            # Paused: nothing is delivered; chunks wait in the bounded buffer, and once
            # it is full the reader stops reading, so TCP pushes back on the server.
            await stream.pause()
            await asyncio.sleep(0.1)  # let chunks arrive meanwhile
            chunks, size = stream.buffered  # (chunks, bytes) waiting
            print(f"{stream.state.name}: {chunks} chunks ({size} bytes) buffered, no more")
            await stream.resume()

            # Cancel: ends at once with a close handshake; nothing is left running.
            received = 1
            async for _ in stream:
                received += 1
                if received == 100:
                    await stream.cancel()
            print(f"cancelled after {received} of 2000 chunks: {stream.state.name}")

        metrics = stream.metrics
        print(f"connect {metrics.connect_time:.4f} s, setup {metrics.setup_time:.4f} s")
        print(f"peak buffer {metrics.buffer_peak_chunks} chunks")


asyncio.run(main())
