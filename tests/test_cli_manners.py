"""The ``api-gemini`` command's manners, each through the real command in a subprocess:
its exit status and the one line it prints.

The emulator runs in this process (on the test's loop) while the command runs as a
child process; the terminal-only behaviour (a note while the first token is awaited)
is in ``test_cli_terminal.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

import pytest

from api_gemini import __version__
from api_gemini.cli import DEFAULT_MODEL
from api_gemini.emulator import Emulator
from conftest import MakeEmulator

ROOT = Path(__file__).resolve().parent.parent
SRC = str(ROOT / "src")
KEY = "wrong-key-0123456789abcdef"


class Ran(NamedTuple):
    status: int
    out: str
    err: str

    @property
    def line(self) -> str:
        """The one line on stderr (asserts there is exactly one)."""
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        assert not self.err.startswith("\n")
        return lines[0]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    # A throwaway key: the emulator, like the service, refuses a request without one.
    env["GEMINI_API_KEY"] = "emulator-test-key"
    env.update(extra)
    return env


async def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Ran:
    """``api-gemini ARGS`` as a child process, stdin from a pipe; waits at most 60 s."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api_gemini.cli",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env or _env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A server that accepts connections and never answers; yields its base URL."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


@pytest.fixture
def closed_port() -> int:
    """A port nobody listens on (bound and closed just before)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------- output and input


async def test_version() -> None:
    ran = await run("--version")
    assert (ran.status, ran.out, ran.err) == (0, f"api-gemini {__version__}\n", "")


async def test_a_reader_that_goes_away_ends_it_quietly(make_emulator: MakeEmulator) -> None:
    # Paced, so that the answer is still being written when head has gone.
    emu = await make_emulator(tokens_per_second=2000, tokens_per_chunk=4)
    command = (
        f"set -o pipefail; {sys.executable} -m api_gemini.cli stream --base-url "
        f"{emu.base_url} --max-tokens 4000 'a long story' | head -c 30"
    )
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert len(out) == 30
    assert err.decode() == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert proc.returncode == 141  # 128 + SIGPIPE, as a shell reports it


async def test_the_prompt_from_stdin(emulator: Emulator) -> None:
    ran = await run("stream", "--base-url", emulator.base_url, stdin="echo: from a pipe\n")
    assert (ran.status, ran.out, ran.err) == (0, "from a pipe\n", "")
    ran = await run("stream", "--base-url", emulator.base_url, "-", stdin="echo: with a dash")
    assert (ran.status, ran.out) == (0, "with a dash\n")


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["stream", ""], "", "error: api-gemini stream: the prompt is empty"),
        (["stream", "  "], "", "error: api-gemini stream: the prompt is empty"),
        (["stream", "-"], "\n\n", "error: api-gemini stream: the prompt is empty"),
        (
            ["stream", "--max-tokens", "-5", "hi"],
            "",
            "error: api-gemini stream: argument --max-tokens: must be a whole number >= 1, "
            "got '-5' (see api-gemini stream --help)",
        ),
        (
            ["chat", "--max-tokens", "0"],
            "",
            "error: api-gemini chat: argument --max-tokens: must be a whole number >= 1, "
            "got '0' (see api-gemini chat --help)",
        ),
        (
            ["models", "--timeout", "-1"],
            "",
            "error: api-gemini models: argument --timeout: must be a number of seconds > 0, "
            "got '-1' (see api-gemini models --help)",
        ),
    ],
)
async def test_bad_input_is_refused_locally_with_status_2(
    emulator: Emulator, args: list[str], stdin: str, expected: str
) -> None:
    ran = await run(*args, "--base-url", emulator.base_url, stdin=stdin)
    assert (ran.status, ran.line) == (2, expected)
    assert emulator.stats.http_requests == 0  # nothing was sent


# --------------------------------------------------------------- errors: one line each


async def test_models_against_a_server_that_never_answers(silent_server: str) -> None:
    ran = await run("models", "--base-url", silent_server, "--timeout", "1")
    assert ran.status == 1
    assert ran.line == (
        f"error: RequestTimeoutError: request timed out: ReadTimeout (server: {silent_server})"
        " - a slow server? raise --timeout"
    )


async def test_stream_against_a_server_that_never_answers(silent_server: str) -> None:
    ran = await run("stream", "--base-url", silent_server, "--timeout", "1", "hi")
    assert ran.status == 1
    # OpenTimeoutError: a WebSocketConnectionError and a TimeoutError (issue 13 tree).
    assert ran.line.startswith("error: OpenTimeoutError: ")
    assert silent_server.removeprefix("http://") in ran.line
    assert ran.line.endswith("within open_timeout=1.0s - a slow server? raise --timeout")


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_a_connection_error_names_the_url_never_the_key(
    closed_port: int, transport: str
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    ran = await run(
        "stream", "--transport", transport, "--base-url", url, "hi", env=_env(GEMINI_API_KEY=KEY)
    )
    assert ran.status == 1
    assert f"127.0.0.1:{closed_port}" in ran.line
    assert ran.line.startswith(
        "error: ConnectError: could not connect" if transport == "sse" else "error: WebSocket"
    )
    assert KEY not in ran.err


async def test_user_info_in_the_base_url_is_not_shown(closed_port: int) -> None:
    url = f"http://user:hunter2@127.0.0.1:{closed_port}"
    ran = await run("models", "--base-url", url)
    assert ran.status == 1
    assert ran.line.endswith(f"(server: http://127.0.0.1:{closed_port})")
    assert "hunter2" not in ran.err


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_a_refused_key_hints_at_the_key(make_emulator: MakeEmulator, transport: str) -> None:
    emu = await make_emulator(api_key="the-right-key")
    ran = await run(
        "stream", "--transport", transport, "--base-url", emu.base_url, "hi",
        env=_env(GEMINI_API_KEY=KEY),
    )  # fmt: skip
    assert ran.status == 1
    assert ran.line.endswith(" - check the API key (GEMINI_API_KEY or GOOGLE_API_KEY)")
    assert ran.line.startswith(
        "error: AuthenticationError: " if transport == "sse" else "error: SetupRejectedError: "
    )
    assert KEY not in ran.err


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_an_unknown_model_hints_at_the_models_command(
    emulator: Emulator, transport: str
) -> None:
    ran = await run(
        "stream", "--transport", transport, "--model", "gemini-nope", "--base-url",
        emulator.base_url, "hi",
    )  # fmt: skip
    assert ran.status == 1
    assert "models/gemini-nope is not found" in ran.line
    assert ran.line.endswith(" - run `api-gemini models` to list the model names")


async def test_a_rate_limit_says_when_to_retry(emulator: Emulator) -> None:
    ran = await run(
        "stream", "--transport", "sse", "--base-url", emulator.base_url,
        "fault:http-429-retry-2.5 hi",
    )  # fmt: skip
    assert ran.status == 1
    assert ran.line.startswith("error: RateLimitError: 429 RESOURCE_EXHAUSTED")
    assert ran.line.endswith(" - rate limited: retry after 2.5 s")


async def test_an_error_mid_answer_ends_the_line_on_stdout(emulator: Emulator) -> None:
    ran = await run(
        "stream", "--base-url", emulator.base_url, "fault:close-1011-after-2 echo: a b c d e"
    )
    assert ran.status == 1
    assert ran.out == "a b \n"  # the partial answer, its line ended on stdout
    assert ran.line.startswith("error: DisconnectedError: ")  # no blank line before it


# --------------------------------------------------------------- the emulator command


async def test_emulator_help_names_this_command() -> None:
    ran = await run("emulator", "--help")
    assert ran.status == 0
    assert ran.out.startswith("usage: api-gemini emulator ")


@pytest.fixture
def no_aiohttp(tmp_path: Path) -> dict[str, str]:
    """An environment where ``import aiohttp`` fails, as without the emulator extra."""
    fake = tmp_path / "aiohttp"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'aiohttp\'", name="aiohttp")\n'
    )
    return _env(PYTHONPATH=os.pathsep.join([str(tmp_path), SRC]))


@pytest.mark.parametrize(
    "args", [["emulator", "--port", "0"], ["chat", "--emulator"], ["stream", "--emulator", "hi"]]
)
async def test_without_the_emulator_extra_one_line_names_the_install(
    no_aiohttp: dict[str, str], args: list[str]
) -> None:
    ran = await run(*args, env=no_aiohttp)
    assert ran.status == 2
    assert ran.line.startswith("error: the emulator needs the 'emulator' extra: pip install -e ")
    assert ran.line.endswith("[emulator]'") or ran.line.endswith("[emulator]")


# --------------------------------------------------------------- figures for scripts


async def test_stream_stats_as_json(emulator: Emulator) -> None:
    ran = await run("stream", "--base-url", emulator.base_url, "--stats", "--json", "echo: a b c")
    assert (ran.status, ran.out) == (0, "a b c\n")
    figures = json.loads(ran.line)
    assert figures["transport"] == "ws" and figures["chunks"] >= 1 and figures["tokens"] == 3
    assert figures["time_to_first_chunk_ms"] > 0 and figures["total_ms"] > 0


async def test_chat_stats_as_json_one_object_per_answer(emulator: Emulator) -> None:
    ran = await run(
        "chat", "--base-url", emulator.base_url, "--json", stdin="echo: one\necho: two three\n"
    )
    assert ran.status == 0
    assert "gemini> one\n" in ran.out and "gemini> two three\n" in ran.out
    lines = [line for line in ran.err.splitlines() if line.startswith("{")]
    figures = [json.loads(line) for line in lines]
    assert [f["chunks"] for f in figures] == [1, 2]  # one word per chunk when unpaced
    assert all(f["model"] == DEFAULT_MODEL for f in figures)


# --------------------------------------------------------------- logging


async def test_verbose_logs_to_stderr_without_the_key(emulator: Emulator) -> None:
    key = "AIzaSyC-cli-verbose-key-0123456789abcdef"
    ran = await run(
        "stream", "-vv", "--base-url", emulator.base_url, "echo: logged",
        env=_env(GEMINI_API_KEY=key),
    )  # fmt: skip
    assert (ran.status, ran.out) == (0, "logged\n")
    assert f"api_gemini.cli: stream: server {emulator.base_url}" in ran.err
    assert "websockets.client: > x-goog-api-key: ***" in ran.err  # -vv: the library's too
    assert key not in ran.err
    quiet = await run("stream", "--base-url", emulator.base_url, "echo: quiet")
    assert (quiet.status, quiet.out, quiet.err) == (0, "quiet\n", "")  # silent without -v
