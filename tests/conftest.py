"""Shared fixtures: the emulator in-process or as a subprocess, and TLS material.

- ``emulator``: an in-process :class:`Emulator` with the default config (plain http).
- ``make_emulator``: ``await make_emulator(tokens_per_second=50, ...)`` starts one more
  emulator with :class:`EmulatorConfig` overrides; all are stopped at teardown.
- ``tls_files``: a trustme CA and a server certificate for 127.0.0.1 and localhost,
  as PEM files (:class:`TlsFiles`: ``ca``, ``cert``, ``key``).
- ``emulator_process``: ``python -m api_gemini.emulator --port 0`` as a real process;
  yields its base URL, and checks it exits cleanly (status 0) on SIGTERM.
- ``ws_transport``: the WebSocket transport of a test (``tests/transports.py``).
- ``leak_check``: snapshots asyncio tasks, fds and inet sockets, and fails the test if
  any are left over at the end (:class:`LeakCheck`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psutil
import pytest
import trustme

from api_gemini.emulator import Emulator, EmulatorConfig
from transports import parametrize as _parametrize_transports
from transports import ws_transport  # noqa: F401  (the autouse fixture, registered here)

#: ``await make_emulator(**overrides)`` -> a started Emulator.
MakeEmulator = Callable[..., Awaitable[Emulator]]


class TlsFiles(NamedTuple):
    """Paths of a test CA certificate and of a server certificate and key it signed."""

    ca: str
    cert: str
    key: str


#: What the fixtures change from the emulator's defaults: no wait for audio playback
#: before ``turnComplete`` (the service waits the audio's duration, 1.3 s for a default
#: answer; tests that check the wait set ``playback_time_scale`` themselves).
FIXTURE_DEFAULTS: dict[str, Any] = {"playback_time_scale": 0.0}


#: The key every test's environment carries, as any deployed app's does: the emulator,
#: like the service, refuses a request without a key (HTTP 403, Live 1008). Tests of
#: key handling set or remove ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY`` themselves.
TEST_ENV_KEY = "test-env-key"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Client-level modules run over each WebSocket transport (``tests/transports.py``)."""
    _parametrize_transports(metafunc)


@pytest.fixture(autouse=True)
def _an_api_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every test a ``GEMINI_API_KEY`` (clients built without a key read it)."""
    monkeypatch.setenv("GEMINI_API_KEY", TEST_ENV_KEY)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A started in-process emulator, the default configuration except FIXTURE_DEFAULTS."""
    async with Emulator(EmulatorConfig(**FIXTURE_DEFAULTS)) as emu:
        yield emu


@pytest.fixture
async def make_emulator() -> AsyncIterator[MakeEmulator]:
    """A factory of started emulators taking EmulatorConfig overrides; stops them all."""
    started: list[Emulator] = []

    async def make(config: EmulatorConfig | None = None, **overrides: Any) -> Emulator:
        base = config or EmulatorConfig(**FIXTURE_DEFAULTS)
        fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
        fields.update(overrides)
        emu = Emulator(EmulatorConfig(**fields))
        await emu.start()
        started.append(emu)
        return emu

    yield make
    await asyncio.gather(*(emu.stop() for emu in started))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A trustme CA plus a server certificate for 127.0.0.1 / localhost, as PEM files."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    folder = tmp_path_factory.mktemp("tls")
    ca_path = folder / "ca.pem"
    cert_path = folder / "server.pem"
    key_path = folder / "server.key"
    ca.cert_pem.write_to_path(str(ca_path))
    server.private_key_pem.write_to_path(str(key_path))
    # The chain file holds the leaf followed by any intermediates.
    with cert_path.open("wb") as f:
        for blob in server.cert_chain_pems:
            f.write(blob.bytes())
    return TlsFiles(str(ca_path), str(cert_path), str(key_path))


def _src_dir() -> str:
    return str(Path(__file__).resolve().parent.parent / "src")


@pytest.fixture
def emulator_process() -> Iterator[str]:
    """``python -m api_gemini.emulator --port 0`` in a subprocess; yields its base URL."""
    env = dict(os.environ)
    # Make the package importable even when it is not installed in the interpreter.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_src_dir(), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_gemini.emulator", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=5)
            pytest.fail(f"the emulator process did not start: {err}")
        yield line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("the emulator process did not exit on SIGTERM")
    assert proc.returncode == 0, f"emulator exited with {proc.returncode}: {err}"


# --------------------------------------------------------------------------- leak check


class LeakSnapshot(NamedTuple):
    """What the process holds at one moment: asyncio tasks, file descriptors, sockets."""

    tasks: frozenset[asyncio.Task[Any]]
    fds: int
    connections: int

    @classmethod
    def take(cls) -> LeakSnapshot:
        """A snapshot of the running loop's tasks and of this process's fds and sockets."""
        process = psutil.Process()
        return cls(
            frozenset(asyncio.all_tasks()),
            process.num_fds(),
            len(process.net_connections(kind="inet")),
        )


class LeakCheck:
    """Compares the process after a test with the snapshot taken before it.

    ``await leak_check.assert_clean()`` waits (bounded) for the *server* side of
    in-process emulators to notice closed connections, then fails with what is left:
    new tasks, file descriptors or sockets.
    """

    def __init__(self) -> None:
        self.before = LeakSnapshot.take()

    def rebase(self) -> None:
        """Take the "before" snapshot again: after starting servers the test keeps."""
        self.before = LeakSnapshot.take()

    def leftovers(self) -> list[str]:
        """What is held now and was not before (empty when clean)."""
        now = LeakSnapshot.take()
        current = asyncio.current_task()
        tasks = [t for t in now.tasks - self.before.tasks if t is not current and not t.done()]
        problems = [f"task {t.get_name()}: {t.get_coro()!r}" for t in tasks]
        if now.fds > self.before.fds:
            problems.append(f"{now.fds - self.before.fds} more file descriptors")
        if now.connections > self.before.connections:
            problems.append(f"{now.connections - self.before.connections} more inet sockets")
        return problems

    async def assert_clean(self, timeout: float = 2.0) -> None:
        """Fail unless tasks, fds and sockets are back to the snapshot within ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while problems := self.leftovers():
            if loop.time() >= deadline:
                pytest.fail("left behind: " + "; ".join(problems))
            await asyncio.sleep(0.002)


@pytest.fixture
async def leak_check() -> AsyncIterator[LeakCheck]:
    """Snapshot tasks, fds and sockets; after the test, assert all are back (bounded wait).

    Request it AFTER the fixtures whose resources should count as "before" (an
    ``emulator``'s listening socket, say): ``async def test_x(emulator, leak_check)``.
    A test may call ``await leak_check.assert_clean()`` itself; teardown checks again.
    """
    check = LeakCheck()
    yield check
    await check.assert_clean()
