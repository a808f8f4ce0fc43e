"""Fault specs: numbers are plain digits and bounded (a header must not cost 10 GB)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api_gemini import AsyncClient
from api_gemini.emulator import Emulator
from api_gemini.emulator.faults import (
    FAULT_HEADER,
    MAX_FAULT_BYTES,
    MAX_FAULT_COUNT,
    MAX_FAULT_DELAY_MS,
    FaultPlan,
)
from api_gemini.errors import BadRequestError


@pytest.mark.parametrize(
    "spec",
    [
        "oversized-inf",
        "oversized-nan",
        "oversized-1e10",
        "oversized-1.5",
        "oversized-1_0",
        "oversized-١٢",  # non-ASCII digits int() would take
        f"oversized-{MAX_FAULT_BYTES + 1}",
        "oversized-99999999999999999999",
        "flood-inf",
        f"flood-{MAX_FAULT_COUNT + 1}",
        "goaway-inf",
        f"goaway-{MAX_FAULT_DELAY_MS + 1}",
        f"slowpong-{MAX_FAULT_DELAY_MS + 1}",
        "slowpong-1e3",
        "stall-after-inf",
        "stall-after-1e3",
        "http-429-retry-inf",
        "http-429-retry-601",
        "http-429-retry-1e3",
        "close-1e3",
    ],
)
def test_bad_numbers_are_a_clear_value_error(spec: str) -> None:
    with pytest.raises(ValueError, match="fault spec"):
        FaultPlan.parse(spec)


def test_numbers_at_the_caps_are_taken() -> None:
    assert FaultPlan.parse(f"oversized-{MAX_FAULT_BYTES}").size == MAX_FAULT_BYTES
    assert FaultPlan.parse(f"flood-{MAX_FAULT_COUNT}").size == MAX_FAULT_COUNT
    assert FaultPlan.parse(f"slowpong-{MAX_FAULT_DELAY_MS}").delay == MAX_FAULT_DELAY_MS / 1000
    assert FaultPlan.parse("goaway-250-after-3").delay == 0.25
    assert FaultPlan.parse("goaway-250-after-3").after == 3
    assert FaultPlan.parse("http-429-retry-1.5").retry_after == 1.5
    assert FaultPlan.parse("close-1011").code == 1011


async def test_an_oversized_header_is_refused_without_building_it(emulator: Emulator) -> None:
    for spec in ("oversized-1e10", "oversized-inf", f"oversized-{MAX_FAULT_BYTES + 1}"):
        async with AsyncClient(
            "k-test", base_url=emulator.base_url, headers={FAULT_HEADER: spec}
        ) as client:
            with pytest.raises(BadRequestError, match="fault spec"):
                await client.models.by_name("gemini-2.5-flash").generate_content("hi")


def test_the_command_line_refuses_an_unbounded_spec_with_status_2() -> None:
    src = str(Path(__file__).resolve().parent.parent / "src")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
    }
    argv = [sys.executable, "-m", "api_gemini.emulator", "--port", "0", "--fault"]
    bad = subprocess.run(
        [*argv, "oversized-inf"], capture_output=True, text=True, env=env, timeout=30
    )
    assert bad.returncode == 2, bad.stderr
    assert "fault spec" in bad.stderr
    assert "Traceback" not in bad.stderr
