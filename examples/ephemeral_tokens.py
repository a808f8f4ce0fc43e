"""Ephemeral tokens: your server mints one, the browser or phone connects with it.

GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/ephemeral_tokens.py
"""

import asyncio
import datetime as dt

from api_gemini import AsyncClient
from api_gemini.websocket import OutputTranscription


async def main() -> None:
    # On your server, with the real key (GEMINI_API_KEY): one session, locked setup.
    async with AsyncClient() as server_side:
        token = await server_side.auth_tokens.create(
            uses=1,
            expire_time=dt.timedelta(minutes=30),  # messages accepted until then
            new_session_expire_time=dt.timedelta(minutes=1),  # start the session by then
            live_connect_constraints={
                "model": "gemini-3.8-live",
                # The whole setup is locked (no lock_additional_fields): say here all the
                # session needs, the transcription (the answer's text) included.
                "config": {
                    "system_instruction": "Answer briefly.",
                    "response_modalities": ["AUDIO"],
                    "output_audio_transcription": {},
                },
            },
        )
    print("token:", token.name.split("/")[0] + "/...")  # never log the whole token

    # On the client: the token is the key. It goes to BidiGenerateContentConstrained
    # (API version v1alpha) in an "Authorization: Token ..." header.
    async with AsyncClient(api_key=token.name) as client:
        model = client.models.by_name("gemini-3.8-live")
        async with await model.connect() as session:
            await session.send_text("echo: hello with a token")
            async for event in session.receive_turn():
                if isinstance(event, OutputTranscription):
                    print(event.text, end="", flush=True)
            print()


asyncio.run(main())
