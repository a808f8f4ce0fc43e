"""The ``api-gemini`` command used as a person uses it: in a real terminal (tmux).

Each test starts the command in its own tmux server (``-L``, so nothing touches a tmux
the developer runs), types with ``send-keys`` and reads the screen with
``capture-pane``, polling with a deadline. The emulator runs in this process on its own
loop thread, so the tests can read its counters (interruptions, open sessions).

Skipped only when tmux is not installed (``.ci/run`` installs it when it can).
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api_gemini._portal import LoopPortal
from api_gemini.emulator import Emulator, EmulatorConfig

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")

SRC = str(Path(__file__).resolve().parent.parent / "src")
_names = itertools.count()


class Terminal:
    """A command running in a detached tmux pane of a private tmux server."""

    def __init__(self, argv: list[str], *, width: int = 160, height: int = 40) -> None:
        assert TMUX is not None
        self.socket = f"api-gemini-test-{os.getpid()}-{next(_names)}"
        # No key and no base URL from the developer's shell; no PYTHONUNBUFFERED either,
        # so that output reaches the screen only because the command flushes it.
        drop = ("GEMINI_", "GOOGLE_", "PYTHONUNBUFFERED")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
        # A throwaway key: the emulator, like the service, refuses a request without one.
        env["GEMINI_API_KEY"] = "emulator-test-key"
        # The shell line prints the exit status and keeps the pane open so it stays
        # readable after the command ends; the server is killed at teardown.
        command = f'{shlex.join(argv)}; echo "[exit $?]"; sleep 120'
        self._tmux(
            "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), command, env=env
        )

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=10,
            check=True,
        )
        return done.stdout

    def send(self, *keys: str) -> None:
        """Type ``keys`` (tmux key names such as ``Enter`` or ``C-c`` are keys)."""
        self._tmux("send-keys", "-t", "t", *keys)

    def type_line(self, text: str) -> None:
        """Type ``text`` literally, then Enter."""
        self._tmux("send-keys", "-t", "t", "-l", text)
        self.send("Enter")

    def screen(self) -> str:
        """What the pane shows, wrapped lines joined, trailing blank lines dropped."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "t").rstrip()

    def wait_for(self, check: Callable[[str], bool] | str, timeout: float = 10.0) -> str:
        """Poll the screen until ``check`` holds (or the text appears); return it."""
        test = (lambda s: check in s) if isinstance(check, str) else check
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if test(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {check!r}; the screen:\n{text}")
            time.sleep(0.03)

    def close(self) -> None:
        """Kill the private tmux server and everything in it."""
        subprocess.run(
            [TMUX or "tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10
        )


@pytest.fixture
def terminal() -> Iterator[Callable[[list[str]], Terminal]]:
    """``terminal(argv)`` starts ``argv`` in tmux; every terminal is closed at teardown."""
    opened: list[Terminal] = []

    def start(argv: list[str]) -> Terminal:
        term = Terminal(argv)
        opened.append(term)
        return term

    yield start
    for term in opened:
        term.close()


@pytest.fixture
def threaded_emulator() -> Iterator[Callable[..., Emulator]]:
    """``threaded_emulator(**config)``: an emulator on its own loop thread, so that a
    synchronous test can drive a terminal while it serves."""
    portal = LoopPortal(name="test-emulator")
    started: list[Emulator] = []

    def start(**config: Any) -> Emulator:
        async def run() -> Emulator:
            return await Emulator(EmulatorConfig(**config)).start()

        emulator = portal.run(run())
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        portal.run(emulator.stop())
    portal.close()


def api_gemini(*args: str) -> list[str]:
    """The command line of ``api-gemini ARGS`` run by this interpreter."""
    return [sys.executable, "-m", "api_gemini.cli", *args]


def last_line(screen: str) -> str:
    return screen.splitlines()[-1] if screen else ""


def prompt_ready(screen: str) -> bool:
    return last_line(screen).rstrip() == "you>"


def test_chat_keeps_history_cancels_with_ctrl_c_and_exits(
    terminal: Callable[[list[str]], Terminal], threaded_emulator: Callable[..., Emulator]
) -> None:
    emu = threaded_emulator(time_to_first_token=0.02, tokens_per_second=150)
    # --max-tokens 3000: an ordinary answer takes 20 s, so only Ctrl-C can end it soon.
    term = terminal(api_gemini("chat", "--base-url", emu.base_url, "--max-tokens", "3000"))
    term.wait_for(prompt_ready)
    assert "/exit or Ctrl-D leaves" in term.screen()

    term.type_line("echo: hello from the terminal")
    screen = term.wait_for(lambda s: "gemini> hello from the terminal" in s and prompt_ready(s))
    assert emu.live_session_count == 1

    # Ctrl-C as soon as the long answer has started: the answer stops, the program stays.
    term.type_line("tell me a very long story")
    term.wait_for(lambda s: re.search(r"gemini> \w+ \w+ \w+", last_line(s)) is not None)
    term.send("C-c")
    screen = term.wait_for(lambda s: "[cancelled]" in s and prompt_ready(s), timeout=5)
    cancelled_answer = next(line for line in screen.splitlines() if "[cancelled]" in line)
    # Far fewer than the 3000 words asked for: the answer really stopped.
    assert len(cancelled_answer.split()) < 1000
    assert emu.stats.resumptions == 1  # cancelled by moving to a resumed connection

    # The same session goes on, resumed on a new connection: the model saw the whole
    # conversation but the cancelled exchange (the handle predates it).
    term.type_line("echo: still here")
    term.wait_for(lambda s: "gemini> still here" in s and prompt_ready(s))
    term.type_line("recall")
    history = "echo: hello from the terminal | echo: still here"
    term.wait_for(lambda s: f"gemini> {history}" in s and prompt_ready(s))
    assert emu.stats.ws_connections == 2  # the cancellation moved the session once

    term.type_line("/exit")
    term.wait_for("[exit 0]")
    assert emu.live_session_count == 0
    assert emu.stats.ws_close_codes == {}  # the client closed; the server never had to
    assert "Traceback" not in term.screen()


def test_chat_ctrl_d_ctrl_c_at_prompt_and_unknown_command(
    terminal: Callable[[list[str]], Terminal], threaded_emulator: Callable[..., Emulator]
) -> None:
    emu = threaded_emulator()
    term = terminal(api_gemini("chat", "--base-url", emu.base_url, "--stats"))
    term.wait_for(prompt_ready)

    term.send("C-c")  # at the prompt: a reminder, not an exit
    term.wait_for(lambda s: "(Type a message;" in s and prompt_ready(s))
    term.type_line("/nope")
    term.wait_for(lambda s: "unknown command '/nope'" in s and prompt_ready(s))
    term.type_line("echo: one two")
    screen = term.wait_for(lambda s: "gemini> one two" in s and prompt_ready(s))
    assert re.search(r"\(time to first chunk [\d.]+ ms, chunks \d+", screen)

    term.send("C-d")
    screen = term.wait_for("[exit 0]")
    assert "Traceback" not in screen
    assert emu.live_session_count == 0


def test_chat_with_its_own_emulator(terminal: Callable[[list[str]], Terminal]) -> None:
    term = terminal(api_gemini("chat", "--emulator", "--system", "be brief"))
    term.wait_for(prompt_ready)
    term.type_line("echo: offline and fine")
    term.wait_for(lambda s: "gemini> offline and fine" in s and prompt_ready(s))
    term.type_line("/exit")
    term.wait_for("[exit 0]")


def test_stream_prints_tokens_as_they_arrive_then_stats(
    terminal: Callable[[list[str]], Terminal], threaded_emulator: Callable[..., Emulator]
) -> None:
    # 10 words at 12 per second: almost a second of answer to watch grow.
    emu = threaded_emulator(time_to_first_token=0.02, tokens_per_second=12)
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliett"
    term = terminal(api_gemini("stream", "--base-url", emu.base_url, "--stats", f"echo: {words}"))
    partial = term.wait_for("bravo")
    # Seen before the answer was complete: the terminal shows tokens as they come.
    assert "juliett" not in partial
    screen = term.wait_for("[exit 0]")
    assert words in screen
    stats = dict(
        re.findall(
            r"^(transport|connect time|time to first chunk|chunks|tokens)\s{2,}(.+)$",
            screen,
            flags=re.MULTILINE,
        )
    )
    assert stats["transport"] == "ws"
    assert stats["connect time"].endswith(" ms")
    # 10 words, each as its audio chunk and its transcription chunk, then the final chunk
    assert stats["chunks"] == "21"
    assert stats["tokens"] == "10"


def test_chat_outlives_its_connection(
    terminal: Callable[[list[str]], Terminal], threaded_emulator: Callable[..., Emulator]
) -> None:
    # Every connection lives 1.5 s, with a goAway 1 s before its end, like the
    # service's ~10-minute cap scaled down.
    emu = threaded_emulator(live_connection_lifetime=1.5, go_away_notice=1.0)
    term = terminal(api_gemini("chat", "--base-url", emu.base_url))
    term.wait_for(prompt_ready)
    term.type_line("echo: remember this")
    term.wait_for(lambda s: "gemini> remember this" in s and prompt_ready(s))
    # Sitting at the prompt: the session moves to a new connection by itself.
    deadline = time.monotonic() + 10
    while emu.stats.resumptions < 1:
        assert time.monotonic() < deadline, "no reconnect"
        time.sleep(0.02)
    term.type_line("recall")
    screen = term.wait_for(lambda s: "gemini> echo: remember this" in s and prompt_ready(s))
    assert "(reconnected: the conversation goes on on a new connection)" in screen
    assert emu.stats.ws_close_codes.get(1011, 0) == 0  # moved before the server cut
    term.type_line("/exit")
    assert "Traceback" not in term.wait_for("[exit 0]")


def test_ctrl_c_stops_a_stream_cleanly(
    terminal: Callable[[list[str]], Terminal], threaded_emulator: Callable[..., Emulator]
) -> None:
    emu = threaded_emulator(time_to_first_token=0.02, tokens_per_second=100)
    term = terminal(api_gemini("stream", "--base-url", emu.base_url, "--max-tokens", "3000", "go"))
    term.wait_for(lambda s: re.search(r"\w+ \w+ \w+ \w+", s) is not None)
    term.send("C-c")
    screen = term.wait_for("[exit 130]", timeout=5)
    assert "Traceback" not in screen
    deadline = time.monotonic() + 5
    while emu.live_session_count:  # the server's side of the close
        assert time.monotonic() < deadline, "the Live session was left open"
        time.sleep(0.02)


def test_stream_shows_a_note_while_the_first_token_is_awaited(
    terminal: Callable[[list[str]], Terminal], threaded_emulator: Callable[..., Emulator]
) -> None:
    # 2 s before the first token: long enough for the note to show on a loaded machine.
    emu = threaded_emulator(time_to_first_token=2.0)
    term = terminal(api_gemini("stream", "--base-url", emu.base_url, "echo: worth the wait"))
    term.wait_for(lambda s: re.search(r"waiting for gemini-\S+\.\.\. \d+\.\d s", s) is not None)
    screen = term.wait_for("[exit 0]")
    # The note is erased before the answer is printed: the answer starts its line.
    assert "worth the wait" in screen.splitlines()
    assert "waiting for" not in screen
