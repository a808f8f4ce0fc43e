"""asyncio's per-connection TLS read buffer is trimmed on Live connections.

CPython gives every asyncio TLS connection a 256 KiB read buffer; the connection layer
shrinks it to ``TLS_READ_BUFFER`` (most of an idle session's memory otherwise, see
docs/performance.md). Data must still arrive intact through the smaller buffer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from api_gemini import AsyncClient
from api_gemini.emulator import Emulator
from api_gemini.websocket.transport import TLS_READ_BUFFER

MakeEmulator = Callable[..., Awaitable[Emulator]]


class TlsFilesLike(Protocol):
    """The ``tls_files`` fixture's value (see conftest)."""

    ca: str
    cert: str
    key: str


async def test_tls_read_buffer_trimmed_and_data_intact(
    make_emulator: MakeEmulator, tls_files: TlsFilesLike
) -> None:
    # Large audio frames (about 40 KB of base64 each) span several 16 KiB reads.
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key, tokens_per_chunk=32)
    async with AsyncClient("k", base_url=emu.base_url, verify=tls_files.ca) as client:
        model = client.models.by_name("gemini-3.8-live")
        request: dict[str, Any] = {
            "contents": [{"role": "user", "parts": [{"text": "speak"}]}],
            "generationConfig": {"responseModalities": ["AUDIO"], "maxOutputTokens": 320},
        }
        stream = await model.stream_generate_content_websocket(request)
        async with stream:
            protocol = stream._conn._ws.connection.transport._ssl_protocol  # type: ignore[attr-defined]
            assert len(protocol._ssl_buffer) == TLS_READ_BUFFER
            audio = b""
            async for chunk in stream:
                for part in chunk.candidates[0].content.parts:  # type: ignore[union-attr]
                    if part.inline_data is not None:
                        audio += part.inline_data.data
    assert len(audio) == 320 * 960
