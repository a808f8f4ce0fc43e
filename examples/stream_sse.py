"""One-shot streaming over HTTP Server-Sent Events, async, and a unary call.

GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/stream_sse.py
"""

import asyncio

from api_gemini import AsyncClient


async def main() -> None:
    async with AsyncClient() as client:
        model = client.models.by_name("gemini-2.5-flash")

        # Each chunk is yielded as soon as its SSE event arrives.
        async with await model.stream_generate_content("Tell me a story") as sse:
            async for chunk in sse:
                print(chunk.text, end="", flush=True)
        print()

        # The whole answer in one request, and a token count.
        answer = await model.generate_content("echo: hello over HTTP")
        print(answer.text)
        print((await model.count_tokens("How many tokens is this?")).total_tokens)


asyncio.run(main())
