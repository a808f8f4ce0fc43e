"""A voice agent: microphone in, speaker out, a clock the model may ask, transcripts.

pip install -e '.[audio]'; GEMINI_API_KEY=... python examples/voice_agent.py
Headless, files in place of the sound card: --input question.wav --output answer.wav
"""

import argparse
import asyncio
import contextlib
import datetime

from api_gemini import AsyncClient, ReconnectPolicy
from api_gemini import websocket as live
from api_gemini.audio import microphone_frames, speaker, wav_frames, wav_speaker

CLOCK = {"name": "get_time", "description": "The time now, UTC.", "behavior": "NON_BLOCKING"}
CONFIG = {
    "responseModalities": ["AUDIO"],
    "inputAudioTranscription": True,  # what the user said, as text
    "outputAudioTranscription": True,  # what the model said, as text
    "tools": [{"functionDeclarations": [CLOCK]}],
    "sessionResumption": {},  # survive the service's ~10-minute connections
}


async def listen(session, playback):
    async for event in session:
        if isinstance(event, live.ModelTurn):
            playback.feed(event.audio)  # 24 kHz PCM, played as it comes
        elif isinstance(event, live.OutputTranscription):
            playback.note_text(event.text)
            print(event.text, end="", flush=True)
        elif isinstance(event, live.InputTranscription):
            print(f"\nyou: {event.text}\ngemini: ", end="", flush=True)
        elif isinstance(event, live.Interrupted):  # the user spoke over the answer
            cut = playback.interrupt()  # silence now; drop what was not played
            print(f" [interrupted; heard {cut.played_seconds:.1f} s]")
        elif isinstance(event, live.TurnComplete):
            playback.end_answer()
        elif isinstance(event, live.ToolCall):  # NON_BLOCKING: the model goes on talking
            for call in event.function_calls:
                now = datetime.datetime.now(datetime.UTC).strftime("%H:%M")
                print(f"\n[tool {call.name} -> {now}]")
                answer = {"id": call.id, "name": call.name, "response": {"time": now}}
                await session.send_tool_response({**answer, "scheduling": "WHEN_IDLE"})


async def main(args):
    mic = wav_frames(args.input) if args.input else microphone_frames()
    async with contextlib.AsyncExitStack() as stack:
        playback = await stack.enter_async_context(
            wav_speaker(args.output) if args.output else speaker()
        )
        client = await stack.enter_async_context(AsyncClient())
        model = client.models.by_name("gemini-3.8-live")
        session = await stack.enter_async_context(
            await model.connect(CONFIG, reconnect=ReconnectPolicy())
        )
        listener = asyncio.create_task(listen(session, playback))
        if args.ask:  # a typed question in the voice session
            await session.send_realtime_input(text=args.ask)
        async for frame in mic:  # 20 ms of 16 kHz PCM; the server hears the pauses
            await session.send_audio(frame)
        await session.send_audio_stream_end()  # the microphone is off
        # The file ended: hear the last answer out (or learn why the session ended).
        if (await asyncio.wait([listener], timeout=args.linger))[0]:
            listener.result()
        listener.cancel()
    print("\nplayed", f"{playback.played_seconds:.1f} s")


parser = argparse.ArgumentParser()
parser.add_argument("--input", help="a WAV file instead of the microphone")
parser.add_argument("--output", help="a WAV file instead of the speaker")
parser.add_argument("--ask", help="a typed question to start with")
parser.add_argument("--linger", type=float, default=4.0)
with contextlib.suppress(KeyboardInterrupt):
    asyncio.run(main(parser.parse_args()))
