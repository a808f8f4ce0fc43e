"""Client-level test modules run over every WebSocket transport: websockets and picows.

``conftest.py`` hands :func:`parametrize` every test function; those of the modules in
:data:`MODULES` get a ``ws_transport`` parameter (``websockets``, ``picows``), and the
autouse fixture :func:`ws_transport` makes every ``WebSocketSettings`` built during a
``picows`` test use :class:`~api_gemini.websocket.transport_picows.PicowsConnector`,
unless the test names its own connector or asks for compression (which picows refuses).
The modules themselves are unchanged: what they assert holds over either transport.

A test that checks something of websockets itself (its connection class, asyncio's TLS
buffer under it) is marked ``@pytest.mark.websockets_only``; it runs once.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from api_gemini.settings import WebSocketSettings

#: The modules run over both transports: streams, sessions, pause/resume/cancel,
#: faults, close codes, reconnects, pool, health, write stalls, hostile servers.
MODULES = frozenset(
    {
        "test_ws_streaming",
        "test_ws_session",
        "test_ws_connection",
        "test_ws_reconnect",
        "test_ws_health",
        "test_ws_pool",
        "test_ws_write_stalls",
        "test_hostile_ws",
        "test_faults_first",
        "test_faults_matrix",
        "test_faults_spec",
        "test_sync_live",
    }
)

TRANSPORTS = ("websockets", "picows")
HAVE_PICOWS = importlib.util.find_spec("picows") is not None


def parametrize(metafunc: pytest.Metafunc) -> None:
    """Run the tests of :data:`MODULES` once per transport (``pytest_generate_tests``)."""
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module not in MODULES or "ws_transport" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("websockets_only") is not None:
        metafunc.parametrize("ws_transport", ["websockets"], indirect=True)
        return
    params = [
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                name == "picows" and not HAVE_PICOWS, reason="picows is not installed"
            ),
        )
        for name in TRANSPORTS
    ]
    metafunc.parametrize("ws_transport", params, indirect=True)


@pytest.fixture(autouse=True)
def ws_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The transport of this test; under ``picows``, the default connector is picows's."""
    name: str = getattr(request, "param", "websockets")
    if name == "picows":
        from api_gemini.websocket.transport_picows import PicowsConnector

        connector = PicowsConnector()
        original = WebSocketSettings.__post_init__

        def post_init(self: WebSocketSettings) -> None:
            original(self)
            if self.connector is None and not self.compression:
                object.__setattr__(self, "connector", connector)

        patched: Any = post_init
        monkeypatch.setattr(WebSocketSettings, "__post_init__", patched)
    return name


def tcp_of(wire: Any) -> Any:
    """The asyncio transport under a wire, either transport's (private paths, read here
    only): for tests that look at what TCP is doing."""
    connection = getattr(wire, "connection", None)
    if connection is not None:  # WebSocketsWire: websockets' connection
        return connection.transport
    return wire._tcp  # PicowsWire


def held_frames(wire: Any) -> int:
    """Frames the wire itself holds (read from the socket, not yet given to the sink)."""
    connection = getattr(wire, "connection", None)
    held = connection._held if connection is not None else wire._held
    return len(held or ())
