"""The synchronous client: the same calls without async/await, WebSocket included.

GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/sync_streaming.py
"""

from api_gemini import Client

with Client() as client:  # closing it closes every stream and session it opened
    live_model = client.models.by_name("gemini-3.8-live")
    with live_model.stream_generate_content_websocket("Why is the sky blue?") as stream:
        for chunk in stream:
            print(chunk.text, end="", flush=True)
    print()

    http_model = client.models.by_name("gemini-2.5-flash")
    with http_model.stream_generate_content("Tell me a story") as sse:
        for chunk in sse:
            print(chunk.text, end="", flush=True)
    print()
    print(http_model.generate_content("echo: unary works too").text)
