"""A small version of ``benchmarks/load.py`` in the suite: 20 Live sessions held open
together, 20 WebSocket streams and 10 SSE streams at once, against the emulator in its
own process; no error, no chunk lost, duplicated or reordered, nothing left behind.

The full run (500 of each) is ``python benchmarks/load.py``; see docs/reliability.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from conftest import LeakCheck

_LOAD = Path(__file__).resolve().parent.parent / "benchmarks" / "load.py"


def _load_module() -> Any:
    spec = importlib.util.spec_from_file_location("_benchmarks_load", _LOAD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclasses look their module up while being defined.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_load_smoke(emulator_process: str, leak_check: LeakCheck) -> None:
    load = _load_module()
    figures = await load.run_load(emulator_process, sessions=20, streams=20, sse=10, words=10)
    phases = {p["name"]: p for p in figures["phases"]}
    assert set(phases) == {"live", "ws-stream", "sse"}
    for name, calls in (("live", 20), ("ws-stream", 20), ("sse", 10)):
        phase = phases[name]
        assert phase["errors"] == {}, phase
        assert phase["ok"] == phase["calls"] == calls
        assert phase["chunks"] == calls * 11
        assert phase["lost_chunks"] == phase["duplicated_chunks"] == phase["reordered_calls"] == 0
    assert phases["live"]["memory_per_open_kib"] is not None
    assert figures["leftover_tasks"] == 0
    await leak_check.assert_clean()
