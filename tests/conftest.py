"""Shared fixtures: the emulator in-process or as a subprocess, and TLS material.

- ``emulator``: an in-process :class:`Emulator` with the default config (plain http).
- ``make_emulator``: ``await make_emulator(tokens_per_second=50, ...)`` starts one more
  emulator with :class:`EmulatorConfig` overrides; all are stopped at teardown.
- ``tls_files``: a trustme CA and a server certificate for 127.0.0.1 and localhost,
  as PEM files (:class:`TlsFiles`: ``ca``, ``cert``, ``key``).
- ``emulator_process``: ``python -m api_gemini.emulator --port 0`` as a real process;
  yields its base URL, and checks it exits cleanly (status 0) on SIGTERM.
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

import pytest
import trustme

from api_gemini.emulator import Emulator, EmulatorConfig

#: ``await make_emulator(**overrides)`` -> a started Emulator.
MakeEmulator = Callable[..., Awaitable[Emulator]]


class TlsFiles(NamedTuple):
    """Paths of a test CA certificate and of a server certificate and key it signed."""

    ca: str
    cert: str
    key: str


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A started in-process emulator with the default configuration (plain http)."""
    async with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture
async def make_emulator() -> AsyncIterator[MakeEmulator]:
    """A factory of started emulators taking EmulatorConfig overrides; stops them all."""
    started: list[Emulator] = []

    async def make(config: EmulatorConfig | None = None, **overrides: Any) -> Emulator:
        base = config or EmulatorConfig()
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
