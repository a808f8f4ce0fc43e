"""A bidirectional Live session, async: several turns on one connection.

GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/live_session.py
"""

import asyncio

from api_gemini import AsyncClient
from api_gemini.websocket import (
    LiveConnectConfig,
    OutputTranscription,
    SessionResumptionConfig,
    SessionResumptionUpdate,
    TurnComplete,
    UsageUpdate,
)


async def main() -> None:
    async with AsyncClient() as client:
        model = client.models.by_name("gemini-3.8-live")
        # No modality: AUDIO (today's Live models have no other), with the transcription
        # of the audio as OutputTranscription events.
        config = LiveConnectConfig(
            system_instruction="You are a terse assistant.",
            session_resumption=SessionResumptionConfig(),  # ask for resumption handles
        )
        async with await model.connect(config) as session:
            # receive_turn(): the events of one answer, up to its TurnComplete.
            await session.send_text("echo: Hello, Live API")
            async for event in session.receive_turn():
                if isinstance(event, OutputTranscription):  # (ModelTurn: the audio)
                    print(event.text, end="", flush=True)
            print()

            # Context without asking for an answer, then a question about it.
            await session.send_text("My name is Ada.", turn_complete=False)
            await session.send_text("recall")  # the emulator repeats earlier user turns
            async for event in session.receive_turn():
                if isinstance(event, OutputTranscription):  # (ModelTurn: the audio)
                    print(event.text, end="", flush=True)
                elif isinstance(event, UsageUpdate):
                    print(f"\n[{event.usage.total_token_count} tokens so far]")

            # Iterating the session itself spans turns: nothing sent between turns
            # (a resumption handle, a goAway) is lost.
            await session.send_text("echo: last one")
            async for event in session:
                if isinstance(event, SessionResumptionUpdate):
                    print("resumption handle:", event.new_handle is not None)
                if isinstance(event, TurnComplete):
                    break
            print("newest handle kept on the session:", session.resumption_handle is not None)


asyncio.run(main())
