"""Profile one client's per-chunk path:
``python -m benchmarks.harness.profile api_ws [turns]``.

Starts the emulator (TLS, own process, pinned), then runs ``turns`` turns of 2,000
chunks of the chosen client under pyinstrument (a sampling profiler, so the profile is
not distorted the way a tracing profiler distorts a loop of microsecond calls) and
prints the call tree. Needs the ``bench`` extra (pyinstrument).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from ._env import CLIENT_CPU, make_tls, pin
from ._env import emulator as start_emulator
from .clients import FACTORIES


async def _profile(name: str, base_url: str, ca: str, turns: int, tokens: int) -> str:
    from pyinstrument import Profiler

    client = FACTORIES[name](base_url, ca)
    await client.turn(tokens)
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    for _ in range(turns):
        await client.turn(tokens)
    profiler.stop()
    await client.aclose()
    text: str = profiler.output_text(unicode=False, color=False, show_all=False)
    return text


def main(argv: list[str] | None = None) -> int:
    """Print the profile of ``turns`` turns of the named client."""
    args = sys.argv[1:] if argv is None else argv
    name = args[0] if args else "api_ws"
    turns = int(args[1]) if len(args) > 1 else 20
    pin(0, CLIENT_CPU)
    with tempfile.TemporaryDirectory() as folder:
        tls = make_tls(Path(folder))
        with start_emulator(tls) as url:
            print(asyncio.run(_profile(name, url, tls.ca, turns, 2000)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
