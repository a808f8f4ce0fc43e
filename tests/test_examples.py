"""Every script under ``examples/`` runs against the emulator, and every Python code
block of the docs and the README is a verbatim excerpt of one of those scripts.

The scripts run as a user runs them (``GEMINI_BASE_URL`` pointing at an emulator
process, no key), all at once to keep this fast; ``examples/test_my_app.py`` runs under
pytest as a user's own test file would.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("test_"))

#: A line each script must print: proof that it did its job, not only exited 0.
EXPECTED = {
    # The emulator hears a spoken turn as its duration (docs/emulator-fidelity.md).
    "audio.py": re.compile(r"heard: audio of \d+ ms\n.*\d+ bytes of speech", re.S),
    "embeddings.py": re.compile(r"dimensions: 3072\n2 vectors of 256; cosine -?[\d.]+"),
    "ephemeral_tokens.py": re.compile(r"token: auth_tokens/\.\.\.\nhello with a token\n"),
    "errors.py": re.compile(
        r"NotFoundError: status 404.*RateLimitError: retry after 2\.0 s.*"
        # close-1011-after-3: three answer chunks, each an audio message and its
        # transcription, so six events before the close.
        r"SetupRejectedError: close code 1008.*DisconnectedError: close code 1011 after 6 "
        r"chunks \(we got 6\).*InvalidRequestError",
        re.S,
    ),
    "health.py": re.compile(r"state READY, ping [\d.]+ ms\n.*goAway deadline: None", re.S),
    "http_habits.py": re.compile(
        r"third time lucky\nRequestTimeoutError: request timed out.*\nmine\n", re.S
    ),
    "live_session.py": re.compile(
        r"Hello, Live API\necho: Hello, Live API \| My name is Ada\..*"
        r"newest handle kept on the session: True",
        re.S,
    ),
    "picows_transport.py": re.compile(
        r"\d+ chunks over picows: \w+.*\nrefused: the picows transport does not do permessage", re.S
    ),
    "pool.py": re.compile(r"from pool: True"),
    "reconnect.py": re.compile(r"reconnected"),
    "quickstart.py": re.compile(r"^\w+( \w+)+ ?\n$"),
    "stream_control.py": re.compile(
        r"PAUSED: 32 chunks .* buffered.*cancelled after 100 of 2000 chunks: CANCELLED", re.S
    ),
    "stream_sse.py": re.compile(r"\w+ \w+.*\nhello over HTTP\n\d+\n", re.S),
    "stream_websocket.py": re.compile(r"time to first chunk: [\d.]+ s\nSTOP 12 tokens"),
    "sync_live_session.py": re.compile(
        r"'recall' -> 'echo: first question \| echo: second question'"
    ),
    "sync_streaming.py": re.compile(r"\nunary works too\n"),
    "voice_agent.py": re.compile(
        r"\[tool get_time -> \d\d:\d\d\]\nCalling get_time\. get_time returned .*"
        r"\nyou: audio of 600 ms\ngemini: \w+.*\nplayed \d+\.\d s",
        re.S,
    ),
    "tool_calls.py": re.compile(
        r"model calls get_weather\(.*returned.*over HTTP: FunctionCall\(name='get_weather'", re.S
    ),
}

#: Docs whose code blocks are checked (the others' pages have their own code).
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
OTHERS_DOCS = {"decisions.md", "performance.md", "reliability.md"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    # Any key, as the examples' docstrings say: the emulator, like the service, refuses
    # a request without one.
    env["GEMINI_API_KEY"] = "emulator-test-key"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    """One unpaced emulator process for all the scripts."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_gemini.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().split()[-1]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def _args(folder: Path) -> dict[str, list[str]]:
    """Command-line arguments of the scripts that need some (files they read)."""
    from api_gemini.audio import write_wav

    question = folder / "question.wav"
    tone = b"".join(
        int(8000 * math.sin(2 * math.pi * 300 * i / 16000)).to_bytes(2, "little", signed=True)
        for i in range(9600)
    )
    write_wav(question, tone + bytes(64000), 16000)  # 0.6 s of "speech", 2 s of silence
    return {
        "voice_agent.py": ["--input", str(question), "--output", str(folder / "answer.wav"),
                           "--ask", "What time is it? Call get_time please", "--linger", "3"],
    }  # fmt: skip


@pytest.fixture(scope="module")
def results(
    emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every script run at once; their outcomes by file name."""
    env = _env(GEMINI_BASE_URL=emulator_url)
    args = _args(tmp_path_factory.mktemp("examples"))
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), *args.get(name, [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in SCRIPTS
    }
    done = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


def test_every_example_has_an_expectation() -> None:
    assert sorted(EXPECTED) == SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs(name: str, results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = results[name]
    assert result.returncode == 0, result.stderr
    assert EXPECTED[name].search(result.stdout), result.stdout


def test_the_test_file_example_passes() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore",
            str(EXAMPLES / "test_my_app.py"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 passed" in done.stdout


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _doc_blocks() -> Iterator[tuple[str, str]]:
    for doc in DOCS:
        if doc.name in OTHERS_DOCS:
            continue
        for block in _python_blocks(doc.read_text(encoding="utf-8")):
            yield doc.relative_to(ROOT).as_posix(), block


def test_docs_code_blocks_are_excerpts_of_examples() -> None:
    """A block starts with ``# examples/NAME.py``; its other lines must appear in that
    script in the same order, consecutively (blank lines and ``...`` may be skipped)."""
    checked = 0
    for doc, block in _doc_blocks():
        first, _, body = block.partition("\n")
        match = re.fullmatch(r"# (examples/[\w.]+\.py)(?: .*)?", first)
        assert match, f"{doc}: a python block must start with '# examples/NAME.py':\n{block}"
        script = (ROOT / match.group(1)).read_text(encoding="utf-8")
        for piece in re.split(r"^\s*\.\.\.\s*$", body, flags=re.M):
            lines = [ln for ln in piece.splitlines() if ln.strip()]
            if not lines:
                continue
            script_lines = [ln for ln in script.splitlines() if ln.strip()]
            n = len(lines)
            found = any(script_lines[i : i + n] == lines for i in range(len(script_lines)))
            assert found, f"{doc}: not a verbatim excerpt of {match.group(1)}:\n{piece}"
        checked += 1
    assert checked >= 10


def test_the_reference_names_every_public_name() -> None:
    import importlib

    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    missing = [
        f"{module}.{name}"
        for module in (
            "api_gemini",
            "api_gemini.websocket",
            "api_gemini.emulator",
            "api_gemini.audio",
        )
        for name in importlib.import_module(module).__all__
        if f"### `{module}.{name}`" not in reference
    ]
    assert not missing, f"regenerate with: python docs/gen_reference.py ({missing})"


def test_relative_links_in_the_docs_resolve() -> None:
    broken = []
    for doc in DOCS:
        if doc.name in OTHERS_DOCS:
            continue
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken
