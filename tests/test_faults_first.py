"""The ``first-K-SPEC`` fault: fail the first K requests, then succeed.

It is what retry and reconnect logic is tested with, so each surface is covered: unary
HTTP, SSE, the Live upgrade, the Live ``setup`` and a Live turn.
"""

from __future__ import annotations

import pytest

from api_gemini import AsyncClient
from api_gemini.emulator import Emulator
from api_gemini.emulator.faults import FAULT_HEADER, MAX_FAULT_COUNT, FaultPlan
from api_gemini.errors import (
    DisconnectedError,
    RateLimitError,
    ServiceUnavailableError,
    SetupRejectedError,
    WebSocketConnectionError,
)
from conftest import MakeEmulator

LIVE = "gemini-3.8-live"
FLASH = "gemini-2.5-flash"


def test_the_spec_wraps_any_other_spec() -> None:
    plan = FaultPlan.parse("first-2-http-503-retry-1.5")
    assert (plan.kind, plan.code, plan.retry_after, plan.first) == ("http", 503, 1.5, 2)
    assert plan.spec == "first-2-http-503-retry-1.5"
    setup = FaultPlan.parse("First-1-close-1011-at-setup")
    assert (setup.kind, setup.code, setup.at_setup, setup.first) == ("close", 1011, True, 1)
    assert FaultPlan.parse("http-503").first is None


@pytest.mark.parametrize(
    "spec",
    [
        "first",
        "first-2",
        "first-x-http-503",
        f"first-{MAX_FAULT_COUNT + 1}-stall",
        "first-1-first-1-stall",
        "first-1-nonsense",
        "first-1e3-stall",
    ],
)
def test_bad_first_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="fault spec"):
        FaultPlan.parse(spec)


async def test_unary_fails_twice_then_answers(emulator: Emulator) -> None:
    headers = {FAULT_HEADER: "first-2-http-503-retry-1"}
    async with AsyncClient(base_url=emulator.base_url, headers=headers) as client:
        flash = client.models.by_name(FLASH)
        for _ in range(2):
            with pytest.raises(ServiceUnavailableError) as info:
                await flash.generate_content("echo: third time lucky")
            assert info.value.retry_after == 1.0
        response = await flash.generate_content("echo: third time lucky")
        assert response.text == "third time lucky"
        # Spent: it stays spent.
        assert (await flash.generate_content("echo: again")).text == "again"
    assert emulator.fault_counts == {"first-2-http-503-retry-1": 2}


async def test_a_prompt_marker_counts_per_spec_and_resets(emulator: Emulator) -> None:
    async with AsyncClient(base_url=emulator.base_url) as client:
        flash = client.models.by_name(FLASH)
        prompt = "fault:first-1-http-429 echo: hello"
        with pytest.raises(RateLimitError):
            await flash.generate_content(prompt)
        assert (await flash.generate_content(prompt)).text == "hello"
        # Another spec has its own count.
        with pytest.raises(RateLimitError):
            await flash.generate_content("fault:first-2-http-429 echo: hello")
        emulator.reset_fault_counts()
        with pytest.raises(RateLimitError):
            await flash.generate_content(prompt)


async def test_sse_stream_cut_once_then_whole(emulator: Emulator) -> None:
    async with AsyncClient(base_url=emulator.base_url) as client:
        flash = client.models.by_name(FLASH)
        prompt = "fault:first-1-malformed-after-1 echo: a b c d"
        with pytest.raises(Exception) as info:  # noqa: PT011 (the parse error's type is not the point)
            async with await flash.stream_generate_content(prompt) as stream:
                async for _ in stream:
                    pass
        assert "first" not in str(info.value)
        async with await flash.stream_generate_content(prompt) as stream:
            text = "".join([chunk.text async for chunk in stream])
        assert text == "a b c d"


async def test_config_fault_refuses_the_first_live_upgrades(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator(fault="first-2-http-503")
    async with AsyncClient(base_url=emu.base_url) as client:
        model = client.models.by_name(LIVE)
        for _ in range(2):
            with pytest.raises(WebSocketConnectionError):
                await model.stream_generate_content_websocket("echo: x")
        stream = await model.stream_generate_content_websocket("echo: third")
        async with stream:
            assert "".join([c.text async for c in stream]) == "third"


async def test_header_fault_rejects_the_first_live_setup(emulator: Emulator) -> None:
    headers = {FAULT_HEADER: "first-1-close-1011-at-setup"}
    async with AsyncClient(base_url=emulator.base_url, headers=headers) as client:
        model = client.models.by_name(LIVE)
        with pytest.raises(SetupRejectedError):
            await model.stream_generate_content_websocket("echo: x")
        stream = await model.stream_generate_content_websocket("echo: second try")
        async with stream:
            assert "".join([c.text async for c in stream]) == "second try"
    assert emulator.stats.ws_setups == 1


async def test_a_live_turn_dropped_once_then_answered(emulator: Emulator) -> None:
    async with AsyncClient(base_url=emulator.base_url) as client:
        model = client.models.by_name(LIVE)
        prompt = "fault:first-1-close-1011-after-1 echo: one two three"
        with pytest.raises(DisconnectedError):
            stream = await model.stream_generate_content_websocket(prompt)
            async with stream:
                async for _ in stream:
                    pass
        stream = await model.stream_generate_content_websocket(prompt)
        async with stream:
            assert "".join([c.text async for c in stream]) == "one two three"
