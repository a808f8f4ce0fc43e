"""Live connections over picows, a faster WebSocket transport (the ``picows`` extra).

    pip install 'api-gemini[picows]'
    api-gemini emulator --port 8123 &
    GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/picows_transport.py

Everything above the transport is the same: streams, sessions, pause and resume, typed
errors, keepalive and timeouts. picows reads frames with about a third less CPU than
websockets (docs/performance.md); it does not do permessage-deflate.
"""

import asyncio

from api_gemini import AsyncClient, WebSocketSettings
from api_gemini.errors import ConfigurationError
from api_gemini.websocket.transport_picows import PicowsConnector


async def main() -> None:
    # Raises ConfigurationError if picows is not installed (the extra is missing).
    settings = WebSocketSettings(connector=PicowsConnector())
    async with AsyncClient(websocket=settings) as client:
        model = client.models.by_name("gemini-3.8-live")
        stream = await model.stream_generate_content_websocket("Why is the sky blue?")
        async with stream:
            chunks = [chunk async for chunk in stream]
        print(f"{len(chunks)} chunks over picows: {''.join(c.text for c in chunks)}")

    # A setting picows cannot honour is refused when the connection opens, not ignored.
    settings = WebSocketSettings(connector=PicowsConnector(), compression=True)
    async with AsyncClient(websocket=settings) as client:
        try:
            await client.models.by_name("gemini-3.8-live").stream_generate_content_websocket("hi")
        except ConfigurationError as exc:
            print("refused:", exc)


asyncio.run(main())
