"""The ``api-gemini`` command, run in-process against the emulator.

``main()`` runs its own event loop, so each test calls it on a worker thread while the
test's loop serves the emulator. The terminal behaviour (chat, Ctrl-C, tokens appearing
as they arrive) is tested through tmux in ``test_cli_terminal.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from api_gemini.cli import main
from api_gemini.emulator import Emulator
from conftest import MakeEmulator


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # None of the developer's; a throwaway key, since the emulator (like the service)
    # refuses a request without one.
    for name in ("GOOGLE_API_KEY", "GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "emulator-test-key")


async def test_without_key_or_base_url_it_says_what_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    for command in (["stream", "hi"], ["chat"], ["models"]):
        assert await run(*command) == 2
        err = capsys.readouterr().err
        assert "export GEMINI_API_KEY=" in err
        assert "api-gemini emulator" in err and "--emulator" in err


async def test_stream_over_sse_with_stats(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await run(
        "stream", "--transport", "sse", "--base-url", emulator.base_url, "--stats", "echo: a b c"
    )
    out, err = capsys.readouterr()
    assert status == 0
    assert out == "a b c\n"
    assert "transport            sse" in err
    assert "time to first chunk" in err and "tokens per second" in err
    assert emulator.stats.sse_streams == 1


async def test_stream_over_websocket_honours_max_tokens_and_system(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await run(
        "stream", "--base-url", emulator.base_url, "--max-tokens", "5", "--system", "terse", "go"
    )
    out, _ = capsys.readouterr()
    assert status == 0
    assert len(out.split()) == 5  # the emulator answers exactly maxOutputTokens words
    assert emulator.stats.ws_setups == 1


async def test_models_lists_the_catalog(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("models", "--base-url", emulator.base_url) == 0
    lines = capsys.readouterr().out.splitlines()
    live = next(line for line in lines if line.startswith("gemini-3.8-live "))
    assert "bidiGenerateContent" in live


async def test_errors_are_typed_one_line_and_never_show_the_key(
    make_emulator: MakeEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = await make_emulator(api_key="the-right-key")
    monkeypatch.setenv("GEMINI_API_KEY", "wrong-key-1234567890")
    assert await run("stream", "--base-url", emu.base_url, "hello") == 1
    err = capsys.readouterr().err
    assert "error: SetupRejectedError" in err and "1008" in err
    assert "wrong-key" not in err
    assert "Traceback" not in err

    assert await run("stream", "--transport", "sse", "--base-url", emu.base_url, "hi") == 1
    err = capsys.readouterr().err
    assert "error: " in err and "wrong-key" not in err


async def test_chat_with_a_model_that_cannot_go_live(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # gemini-2.5-pro has no bidiGenerateContent: refused at setup, before any prompt.
    assert await run("chat", "--base-url", emulator.base_url, "--model", "gemini-2.5-pro") == 1
    err = capsys.readouterr().err
    assert "SetupRejectedError" in err and "gemini-2.5-pro" in err
    assert emulator.live_session_count == 0


async def test_emulator_subcommand_is_the_emulator_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        await run("emulator", "--help")
    assert exit_info.value.code == 0
    assert "--tokens-per-second" in capsys.readouterr().out


async def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        await run("stream", "--transport", "carrier-pigeon", "hi")
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
