"""The twin naming rule and the close rule, enforced over every public class.

The rule (docs/decisions.md, "Twins"): the layer's first style has the plain name, its
twin carries the prefix. HTTP is sync-first (``Client`` / ``AsyncClient``), WebSocket
async-first (``LiveSession`` / ``SyncLiveSession``). A resource holder closes with
``aclose()`` (async) or ``close()`` (sync) and is a context manager of its kind.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pytest

import api_gemini
from api_gemini import AsyncClient, Client
from api_gemini.models import AsyncModels, Models

pytest.importorskip("websockets")

# Not walked: the emulator (a server, not the client API), the CLI and test plugin.
_SKIP = ("api_gemini.emulator", "api_gemini.cli", "api_gemini.pytest_plugin", "api_gemini.talk")

# Objects that hold a resource (socket, connection pool, task, response, thread), by
# name: each must close, whether or not it defines a close method today.
ASYNC_HOLDERS = {
    "AsyncClient",
    "AsyncHttpTransport",
    "AsyncSSEStream",
    "LiveConnection",
    "LivePool",
    "LiveSession",
    "Stream",
}
SYNC_HOLDERS = {"Client", "HttpTransport", "SSEStream", "SyncLiveSession", "SyncStream"}
# Known gaps, each with its reason (the module is being rewritten on another branch).
NOT_A_CONTEXT_MANAGER: dict[str, str] = {}
# A close() that releases nothing: the sans-I/O SSE decoder's close() flushes its last
# event, as a codec's does.
NOT_A_RESOURCE = {"SSEDecoder", "Wire"}  # Wire: a typing.Protocol, the seam's interface


def _public_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    modules = ["api_gemini"] + [
        info.name
        for info in pkgutil.walk_packages(api_gemini.__path__, "api_gemini.")
        if not info.name.startswith(_SKIP) and not info.name.rpartition(".")[2].startswith("_")
    ]
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:  # an extra that is not installed (audio): nothing to walk
            continue
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and not attr.startswith("_")
                and value.__module__.startswith("api_gemini")
                # A private module's class (a mixin, the loop portal) is not public API.
                and not value.__module__.rpartition(".")[2].startswith("_")
                and not issubclass(value, BaseException)
            ):
                found.setdefault(attr, value)
    return found


CLASSES = _public_classes()


def _is_async(cls: type) -> bool:
    """A class whose public methods are coroutines (or async generators)."""
    return any(
        inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    )


def _in_websocket(cls: type) -> bool:
    return cls.__module__.startswith("api_gemini.websocket")


def test_the_walk_finds_the_twins() -> None:
    # The walk itself can fail: a rename that drops a class from it would pass silently.
    for name in ASYNC_HOLDERS | SYNC_HOLDERS | {"AsyncModels", "Models", "SyncLivePool"}:
        assert name in CLASSES, name


@pytest.mark.parametrize("name", sorted(n for n in CLASSES if n.startswith("Async")))
def test_async_prefix_only_on_the_http_side_with_a_sync_twin(name: str) -> None:
    cls = CLASSES[name]
    assert not _in_websocket(cls), f"{name}: the WebSocket layer is async-first, no Async prefix"
    assert _is_async(cls), f"{name} has the Async prefix and no async method"
    twin = CLASSES.get(name.removeprefix("Async"))
    assert twin is not None, f"{name} has no sync twin {name.removeprefix('Async')}"
    assert not _is_async(twin)


@pytest.mark.parametrize("name", sorted(n for n in CLASSES if n.startswith("Sync")))
def test_sync_prefix_only_on_the_websocket_side_with_an_async_twin(name: str) -> None:
    cls = CLASSES[name]
    assert _in_websocket(cls), f"{name}: the HTTP layer is sync-first, no Sync prefix"
    assert not _is_async(cls)
    twin = CLASSES.get(name.removeprefix("Sync"))
    assert twin is not None, f"{name} has no async twin {name.removeprefix('Sync')}"
    assert _is_async(twin), f"{twin.__name__}, the twin of {name}, is not async"


def test_the_old_names_are_gone() -> None:
    # 0.1.0 is unreleased: renamed, not aliased.
    assert "SyncPool" not in CLASSES
    assert "SyncHttpTransport" not in CLASSES


def _closers() -> list[str]:
    """Every public class with a close method, and every listed holder."""
    defined = {
        name
        for name, cls in CLASSES.items()
        if any(_ours(getattr(cls, method, None)) for method in ("aclose", "close"))
    }
    return sorted((defined | ASYNC_HOLDERS | SYNC_HOLDERS) - NOT_A_RESOURCE)


def _ours(method: object) -> bool:
    # A close inherited from a third-party base (websockets' connection) is its API.
    return callable(method) and getattr(method, "__module__", "").startswith("api_gemini")


@pytest.mark.parametrize("name", _closers())
def test_every_resource_holder_closes_its_way(name: str) -> None:
    cls = CLASSES[name]
    if _is_async(cls) or name in ASYNC_HOLDERS:
        assert inspect.iscoroutinefunction(getattr(cls, "aclose", None)), f"{name}.aclose"
        if name not in NOT_A_CONTEXT_MANAGER:
            assert inspect.iscoroutinefunction(getattr(cls, "__aenter__", None)), name
            assert inspect.iscoroutinefunction(getattr(cls, "__aexit__", None)), name
    else:
        close = getattr(cls, "close", None)
        assert callable(close) and not inspect.iscoroutinefunction(close), f"{name}.close"
        assert callable(getattr(cls, "__enter__", None)), name
        assert callable(getattr(cls, "__exit__", None)), name


def test_models_is_a_property_and_calling_it_still_works_with_a_warning() -> None:
    base = "http://127.0.0.1:9"  # nothing is sent: models is built without a request
    with Client("k", base_url=base) as client:
        assert isinstance(client.models, Models)
        with pytest.warns(DeprecationWarning, match="client.models is a property"):
            called = client.models()
        assert isinstance(called, Models)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(Client("k", base_url=base).models, Models)


async def test_async_models_is_a_property_and_the_client_an_async_context() -> None:
    async with AsyncClient("k", base_url="http://127.0.0.1:9") as client:
        assert isinstance(client.models, AsyncModels)
        with pytest.warns(DeprecationWarning, match="deprecated"):
            assert isinstance(client.models(), AsyncModels)
    assert client._closed


async def test_the_holders_given_a_context_manager_close_on_leaving() -> None:
    from api_gemini.http.transport import AsyncHttpTransport, HttpTransport
    from api_gemini.settings import ClientSettings
    from api_gemini.websocket import LivePool

    settings = ClientSettings.resolve("k", base_url="http://127.0.0.1:9")
    async with AsyncHttpTransport(settings) as transport:
        assert not transport._client.is_closed
    assert transport._client.is_closed
    with HttpTransport(settings) as sync_transport:
        assert not sync_transport._client.is_closed
    assert sync_transport._client.is_closed
    async with LivePool(settings) as pool:
        assert not pool.closed
    assert pool.closed
