"""A pytest plugin: test your app against a local Gemini emulator, offline.

Registered with pytest by the package (a ``pytest11`` entry point), so it is there once
api_gemini is installed; its fixtures need the ``emulator`` extra (aiohttp), the async
client fixture needs ``pytest-asyncio``, the TLS fixture ``trustme``. Nothing is
imported from those until a fixture is used, so the plugin costs nothing to projects
that do not use it.

Fixtures:

- ``gemini_emulator``: an :class:`EmulatorHandle` for an emulator serving plain HTTP
  and ``ws://`` on a free port, started for the test on its own thread (so sync and
  async tests alike can use it) and stopped after it. Configure it with a marker:
  ``@pytest.mark.gemini_emulator(time_to_first_token=0.2, api_key="k")`` (any
  :class:`~api_gemini.emulator.EmulatorConfig` field).
- ``gemini_emulator_tls``: the same over ``https``/``wss`` with a throwaway CA
  (``trustme``); ``handle.ca_file`` is the CA to trust. Skipped, saying why, without
  trustme.
- ``gemini_client`` (async, ``pytest-asyncio``) and ``gemini_sync_client``: an
  :class:`~api_gemini.AsyncClient` / :class:`~api_gemini.Client` pointed at
  ``gemini_emulator`` with a test key.
- ``gemini_env``: sets ``GEMINI_BASE_URL``, ``GOOGLE_GEMINI_BASE_URL`` and a test key
  in the environment for the test, so that an unmodified app (api_gemini or
  ``google-genai``) reaches the emulator; returns the handle. ``gemini_env_tls`` does
  the same for ``gemini_emulator_tls`` and sets ``SSL_CERT_FILE`` to its CA (google-genai
  opens Live sessions with ``wss://`` only).
- ``gemini_fault``: a :class:`FaultHelper` making the emulator fail on purpose:
  ``gemini_fault.headers("first-2-http-503")``, ``gemini_fault.prompt(spec, text)``,
  ``with gemini_fault.every_request("http-503"): ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from ._install import install_command

if TYPE_CHECKING:
    from ._portal import LoopPortal
    from .client import AsyncClient, Client
    from .emulator import Emulator, EmulatorStats

__all__ = ["TEST_API_KEY", "EmulatorHandle", "FaultHelper"]

#: The key the client fixtures and ``gemini_env`` use (the emulator accepts any key
#: unless configured with ``api_key``, and, like the service, refuses a request with none).
TEST_API_KEY = "emulator-test-key"

_MARKER = "gemini_emulator"
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``gemini_emulator`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**config): EmulatorConfig fields for the gemini_emulator fixtures",
    )


class EmulatorHandle:
    """A running emulator, served from its own thread, as the fixtures hand it out.

    Read its state directly (:attr:`base_url`, :attr:`stats`, :attr:`emulator`); the
    control hooks come in a blocking form for sync tests and an ``a``-prefixed form to
    await in async tests (the blocking form would stall a test's own event loop).
    """

    def __init__(self, emulator: Emulator, portal: LoopPortal, ca_file: Path | None) -> None:
        #: The :class:`~api_gemini.emulator.Emulator` itself (it runs on another thread:
        #: read it, and call its coroutines through this handle).
        self.emulator = emulator
        #: The CA certificate (PEM) to trust for a TLS emulator; None for plain HTTP.
        self.ca_file = ca_file
        self._portal = portal

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` for TLS): give it to a client."""
        return self.emulator.base_url

    @property
    def stats(self) -> EmulatorStats:
        """The emulator's counters: HTTP requests, SSE streams, Live setups, turns..."""
        return self.emulator.stats

    @property
    def live_session_count(self) -> int:
        """Live sessions open now."""
        return self.emulator.live_session_count

    @property
    def fault_counts(self) -> dict[str, int]:
        """How often each ``first-K-SPEC`` fault has played."""
        return self.emulator.fault_counts

    def environ(self) -> dict[str, str]:
        """Environment variables that point api_gemini and google-genai here (and, for
        TLS, ``SSL_CERT_FILE``: the CA that google-genai's HTTP and wss then trust)."""
        env = {
            "GEMINI_BASE_URL": self.base_url,
            "GOOGLE_GEMINI_BASE_URL": self.base_url,
            "GEMINI_API_KEY": TEST_API_KEY,
        }
        if self.ca_file is not None:
            env["SSL_CERT_FILE"] = str(self.ca_file)
        return env

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._portal.run(coro)

    def close_live_sessions(self, code: int = 1011, reason: str = "") -> int:
        """Close every open Live session with ``code``; returns how many (blocking)."""
        return self._run(self.emulator.close_live_sessions(code, reason))

    async def aclose_live_sessions(self, code: int = 1011, reason: str = "") -> int:
        """:meth:`close_live_sessions` for async tests."""
        return await asyncio.to_thread(self.close_live_sessions, code, reason)

    def send_go_away(self, time_left: float = 1.0) -> int:
        """Send ``goAway`` to every open Live session; returns how many (blocking)."""
        return self._run(self.emulator.send_go_away(time_left))

    async def asend_go_away(self, time_left: float = 1.0) -> int:
        """:meth:`send_go_away` for async tests."""
        return await asyncio.to_thread(self.send_go_away, time_left)


@dataclass
class FaultHelper:
    """Make the emulator fail on purpose (specs: :mod:`api_gemini.emulator.faults`).

    ``first-K-SPEC`` fails the first K requests carrying it, then serves normally: the
    fault to test retry logic with.
    """

    handle: EmulatorHandle

    @staticmethod
    def check(spec: str) -> str:
        """``spec`` if it is a valid fault spec; raises ``ValueError`` otherwise."""
        from .emulator.faults import FaultPlan

        FaultPlan.parse(spec)
        return spec

    def headers(self, spec: str) -> dict[str, str]:
        """Request headers selecting ``spec``: ``AsyncClient(headers=...)``."""
        from .emulator.faults import FAULT_HEADER

        return {FAULT_HEADER: self.check(spec)}

    def prompt(self, spec: str, text: str = "") -> str:
        """``text`` with a ``fault:SPEC`` marker (removed before the answer is made)."""
        return f"fault:{self.check(spec)} {text}".rstrip()

    @contextlib.contextmanager
    def every_request(self, spec: str) -> Iterator[None]:
        """Within the block, every request without its own fault gets ``spec``."""
        from .emulator.faults import FaultPlan

        emulator = self.handle.emulator
        previous = emulator.default_fault
        emulator.default_fault = FaultPlan.parse(spec)
        try:
            yield
        finally:
            emulator.default_fault = previous

    def reset_counts(self) -> None:
        """Forget how often ``first-K-SPEC`` faults played: each fails K more times."""
        self.handle.emulator.reset_fault_counts()


def _need_emulator_extra() -> None:
    try:
        import aiohttp  # noqa: F401  (only checks that the extra is installed)
    except ImportError:
        pytest.fail(
            "the gemini_emulator fixtures need the 'emulator' extra: "
            f"{install_command('emulator')}",
            pytrace=False,
        )


@contextlib.contextmanager
def _running(request: pytest.FixtureRequest, **tls: Any) -> Iterator[EmulatorHandle]:
    _need_emulator_extra()
    from ._portal import LoopPortal
    from .emulator import Emulator, EmulatorConfig

    marker = request.node.get_closest_marker(_MARKER)
    options = dict(marker.kwargs) if marker else {}
    ca_file = tls.pop("ca_file", None)
    config = EmulatorConfig(**{**options, **tls})
    portal = LoopPortal(name="api-gemini-test-emulator")
    try:

        async def start() -> Emulator:
            return await Emulator(config).start()

        emulator = portal.run(start())
        try:
            yield EmulatorHandle(emulator, portal, ca_file)
        finally:
            portal.run(emulator.stop())
    finally:
        portal.close()


@pytest.fixture
def gemini_emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]:
    """An emulator (plain HTTP and ws://) for one test; see the module docstring."""
    with _running(request) as handle:
        yield handle


@pytest.fixture(scope="session")
def _gemini_tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 and localhost: (ca, cert, key)."""
    trustme = pytest.importorskip(
        "trustme", reason="gemini_emulator_tls needs trustme (pip install trustme)"
    )
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("gemini-tls")
    paths = (folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(paths[0]))
    server.private_key_pem.write_to_path(str(paths[2]))
    with paths[1].open("wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    return paths


@pytest.fixture
def gemini_emulator_tls(
    request: pytest.FixtureRequest, _gemini_tls_files: tuple[Path, Path, Path]
) -> Iterator[EmulatorHandle]:
    """An emulator over https and wss; trust ``handle.ca_file``."""
    ca, cert, key = _gemini_tls_files
    with _running(request, tls_cert=str(cert), tls_key=str(key), ca_file=ca) as handle:
        yield handle


@pytest.fixture
def gemini_sync_client(gemini_emulator: EmulatorHandle) -> Iterator[Client]:
    """A sync :class:`~api_gemini.Client` for ``gemini_emulator``."""
    from .client import Client

    with Client(TEST_API_KEY, base_url=gemini_emulator.base_url) as client:
        yield client


def _point_environment(handle: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    # google-genai prefers GOOGLE_API_KEY to GEMINI_API_KEY: a developer's real key must
    # not be the one sent.
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    for name, value in handle.environ().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def gemini_env(gemini_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    """Point the environment at ``gemini_emulator`` for the test (``GEMINI_BASE_URL``,
    ``GOOGLE_GEMINI_BASE_URL``, a test ``GEMINI_API_KEY``; ``GOOGLE_API_KEY`` removed),
    so that an unmodified app reaches it."""
    _point_environment(gemini_emulator, monkeypatch)
    return gemini_emulator


@pytest.fixture
def gemini_env_tls(
    gemini_emulator_tls: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> EmulatorHandle:
    """:func:`gemini_env` for ``gemini_emulator_tls``, plus ``SSL_CERT_FILE`` (its CA):
    what an unmodified google-genai app needs for the Live API, which it opens with
    ``wss://`` only."""
    _point_environment(gemini_emulator_tls, monkeypatch)
    return gemini_emulator_tls


@pytest.fixture
def gemini_fault(gemini_emulator: EmulatorHandle) -> FaultHelper:
    """A :class:`FaultHelper` for ``gemini_emulator``."""
    return FaultHelper(gemini_emulator)


async def _async_client(gemini_emulator: EmulatorHandle) -> AsyncIterator[AsyncClient]:
    """An :class:`~api_gemini.AsyncClient` for ``gemini_emulator`` (pytest-asyncio)."""
    from .client import AsyncClient

    async with AsyncClient(TEST_API_KEY, base_url=gemini_emulator.base_url) as client:
        yield client


def _async_client_needs_pytest_asyncio() -> None:
    """Without pytest-asyncio: say so."""
    pytest.fail(
        "gemini_client is async and needs pytest-asyncio (pip install pytest-asyncio); "
        "gemini_sync_client needs nothing more",
        pytrace=False,
    )


def _async_client_fixture() -> Any:
    try:
        import pytest_asyncio
    except ImportError:
        return pytest.fixture(_async_client_needs_pytest_asyncio, name="gemini_client")
    return pytest_asyncio.fixture(_async_client, name="gemini_client")


#: An :class:`~api_gemini.AsyncClient` for ``gemini_emulator`` (needs pytest-asyncio).
gemini_client = _async_client_fixture()
