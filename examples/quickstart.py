"""The README's first example: one answer streamed over WebSocket (the Live API).

GEMINI_API_KEY=... python examples/quickstart.py                          # the service
GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key \
    python examples/quickstart.py                                         # an emulator
"""

import asyncio

from api_gemini import AsyncClient


async def main() -> None:
    # The key comes from GEMINI_API_KEY, the server from GEMINI_BASE_URL (if set).
    async with AsyncClient() as client:
        model = client.models.by_name("gemini-3.8-live")
        stream = await model.stream_generate_content_websocket("Why is the sky blue?")
        async with stream:  # closes the WebSocket even if the loop stops early
            async for chunk in stream:  # a GenerateContentResponse, as over SSE
                print(chunk.text, end="", flush=True)
        print()


asyncio.run(main())
