"""Audio in and out over a Live session: 16 kHz PCM up, 24 kHz PCM down, transcripts.

    GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/audio.py

Writes the model's answer to answer.wav in a temporary folder.
"""

import asyncio
import math
import os
import struct
import tempfile
import wave

from api_gemini import AsyncClient
from api_gemini.websocket import (
    InputTranscription,
    LiveConnectConfig,
    ModelTurn,
    OutputTranscription,
)


def tone(seconds: float, rate: int = 16000, hz: float = 440.0) -> bytes:
    """16-bit little-endian mono PCM: what a microphone would send."""
    samples = (
        int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(int(seconds * rate))
    )
    return b"".join(struct.pack("<h", s) for s in samples)


async def main() -> None:
    config = LiveConnectConfig(
        response_modalities=["AUDIO"],  # the model answers with speech
        input_audio_transcription=True,  # and says what it heard
        output_audio_transcription=True,  # and what it said
    )
    async with AsyncClient() as client:
        model = client.models.by_name("gemini-3.8-live")
        async with await model.connect(config) as session:
            pcm = tone(0.5)
            frame = 16000 * 2 // 50  # 20 ms frames, as a microphone delivers them
            for start in range(0, len(pcm), frame):
                await session.send_audio(pcm[start : start + frame], rate=16000)
            await session.send_audio_stream_end()  # end of speech: answer now

            speech = bytearray()
            said = []
            async for event in session.receive_turn():
                if isinstance(event, ModelTurn):
                    speech += event.audio  # 24 kHz 16-bit PCM
                elif isinstance(event, InputTranscription):
                    print("heard:", event.text)
                elif isinstance(event, OutputTranscription):
                    said.append(event.text)

    print("said:", "".join(said).strip())
    path = os.path.join(tempfile.mkdtemp(), "answer.wav")
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24000)
        out.writeframes(bytes(speech))
    print(f"{len(speech)} bytes of speech ({len(speech) / 48000:.2f} s) in {path}")


asyncio.run(main())
