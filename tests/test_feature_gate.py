"""`import api_gemini` stays light, and the WebSocket layer says which extra it needs."""

from __future__ import annotations

import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_import_loads_no_optional_or_transport_module() -> None:
    result = run_python(
        """
        import sys
        import api_gemini
        client = api_gemini.AsyncClient("k", base_url="http://127.0.0.1:9")
        model = client.models  # attribute only: no transport built yet
        heavy = [m for m in ("websockets", "aiohttp", "httpx2", "google.genai") if m in sys.modules]
        print(heavy)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_websocket_call_without_the_extra_names_the_install_command() -> None:
    result = run_python(
        """
        import asyncio, sys
        sys.modules["websockets"] = None  # what an environment without the extra looks like
        import api_gemini
        from api_gemini.errors import ConfigurationError

        async def main() -> None:
            async with api_gemini.AsyncClient("k", base_url="http://127.0.0.1:9") as client:
                model = client.models.by_name("gemini-3.8-live")
                for call in (lambda: model.stream_generate_content_websocket("hi"),
                             lambda: model.connect()):
                    try:
                        await call()
                    except ConfigurationError as exc:
                        print(exc)

        asyncio.run(main())
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    # The package is not on an index: the command installs from this clone, as the
    # README says (pip install -e '.[websocket]' inside it).
    command = "pip install -e " + shlex.quote(f"{ROOT}[websocket]")
    assert lines == [f"the WebSocket transport needs the 'websocket' extra: {command}"] * 2


def test_the_emulator_without_its_extra_names_the_install_command() -> None:
    result = run_python(
        """
        import sys
        sys.modules["aiohttp"] = None  # an environment without the emulator extra
        try:
            import api_gemini.emulator
        except ImportError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    command = "pip install -e " + shlex.quote(f"{ROOT}[emulator]")
    assert result.stdout.strip() == f"api_gemini.emulator needs the 'emulator' extra: {command}"
