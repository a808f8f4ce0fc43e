"""One-shot streaming over WebSocket (the Live API), async.

Run against a local emulator:
    api-gemini emulator --port 8123 &
    GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/stream_websocket.py
"""

import asyncio

from api_gemini import AsyncClient
from api_gemini.types import Content, GenerateContentRequest, GenerationConfig, Part


async def main() -> None:
    # The key comes from GEMINI_API_KEY, the server from GEMINI_BASE_URL (if set).
    async with AsyncClient() as client:
        model = client.models.by_name("gemini-3.8-live")

        # A plain string is a one-turn request.
        stream = await model.stream_generate_content_websocket("Why is the sky blue?")
        async with stream:  # closes the WebSocket even if the loop stops early
            async for chunk in stream:  # GenerateContentResponse, as over SSE
                print(chunk.text, end="", flush=True)
        print()
        print(f"time to first chunk: {stream.metrics.time_to_first_chunk:.3f} s")

        # A full request: system instruction, generation settings.
        request = GenerateContentRequest(
            contents=[Content.user_text("Name three rivers")],
            system_instruction=Content(parts=[Part(text="Answer in one line")]),
            generation_config=GenerationConfig(max_output_tokens=12, temperature=0.2),
        )
        stream = await model.stream_generate_content_websocket(request)
        async with stream:
            chunks = [chunk async for chunk in stream]
        # The last chunk carries the finish reason and the token counts, as over HTTP.
        last = chunks[-1]
        assert last.usage_metadata is not None
        print(last.finish_reason, last.usage_metadata.candidates_token_count, "tokens")


asyncio.run(main())
