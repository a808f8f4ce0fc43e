"""The models resource: the catalog, and one model's generation calls.

``client.models()`` gives :class:`AsyncModels` (or :class:`Models` on the sync client);
``.by_name(name)`` gives a model whose methods do the work:

- ``generate_content``: one request, one answer (HTTP);
- ``stream_generate_content``: the answer in chunks over SSE, yielded as they arrive;
- ``stream_generate_content_websocket``: the same chunks over the Live API (WebSocket);
- ``connect``: a long-lived bidirectional Live session;
- ``count_tokens``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, InvalidRequestError
from .types import (
    CountTokensResponse,
    GenerateContentRequest,
    GenerateContentResponse,
    ListModelsResponse,
    ModelInfo,
    RequestLike,
    coerce_request,
    encode_json,
)

if TYPE_CHECKING:
    from ._portal import LoopPortal
    from .http.transport import AsyncHttpTransport, AsyncSSEStream, SSEStream, SyncHttpTransport
    from .settings import ClientSettings
    from .sync_live import SyncLiveSession, SyncStream
    from .websocket import LiveConnectConfig, LiveSession, Stream

__all__ = ["AsyncModel", "AsyncModels", "Model", "Models", "model_path_segment"]

# A model id is one path segment: letters, digits, dots, dashes, underscores. Anything
# else (a slash, "..", "?") could steer the request to another endpoint.
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DEFAULT_PAGE_SIZE = 50


def model_path_segment(name: str) -> str:
    """``"gemini-2.5-flash"`` or ``"models/gemini-2.5-flash"`` -> ``"gemini-2.5-flash"``.

    Raises:
        InvalidRequestError: the name is not a plain model id.
    """
    model_id = name.removeprefix("models/")
    if not _MODEL_ID.fullmatch(model_id):
        raise InvalidRequestError(f"invalid model name {name!r}")
    return model_id


def _count_tokens_body(model_id: str, request: GenerateContentRequest) -> bytes:
    only_contents = GenerateContentRequest(contents=request.contents)
    if request == only_contents:
        return encode_json({"contents": request.contents})
    # Settings beyond the contents (a system instruction, tools) count too: the API
    # takes them inside a full generateContentRequest naming the model.
    wire: dict[str, Any] = request.to_dict()
    wire["model"] = f"models/{model_id}"
    return encode_json({"generateContentRequest": wire})


def _websocket_module() -> Any:
    """Import the WebSocket layer, or say which extra installs it."""
    try:
        import websockets  # noqa: F401  (only checks that the extra is installed)
    except ImportError:
        raise ConfigurationError(
            "the WebSocket transport needs the 'websocket' extra: "
            "pip install 'api-gemini[websocket]'"
        ) from None
    from . import websocket

    return websocket


# --------------------------------------------------------------------------- async


class AsyncModels:
    """The model catalog and a factory of :class:`AsyncModel` objects."""

    def __init__(self, settings: ClientSettings, http: AsyncHttpTransport) -> None:
        self._settings = settings
        self._http = http

    async def list(self, *, page_size: int = _DEFAULT_PAGE_SIZE) -> list[ModelInfo]:
        """Every model of the catalog, following page tokens to the end."""
        version = self._settings.api_version
        models: list[ModelInfo] = []
        token: str | None = None
        while True:
            params = {"pageSize": str(page_size)}
            if token:
                params["pageToken"] = token
            page = await self._http.request(
                "GET", f"/{version}/models", ListModelsResponse, params=params
            )
            models.extend(page.models)
            token = page.next_page_token
            if not token:
                return models

    async def get(self, name: str) -> ModelInfo:
        """One model's details; raises :class:`~api_gemini.errors.NotFoundError`."""
        path = f"/{self._settings.api_version}/models/{model_path_segment(name)}"
        return await self._http.request("GET", path, ModelInfo)

    def by_name(self, name: str) -> AsyncModel:
        """A handle on one model; no request is made until a method is called."""
        return AsyncModel(model_path_segment(name), self._settings, self._http)


class AsyncModel:
    """One model: generation over HTTP, SSE and WebSocket, token counting."""

    def __init__(self, model_id: str, settings: ClientSettings, http: AsyncHttpTransport) -> None:
        self.model_id = model_id
        self._settings = settings
        self._http = http
        self._base = f"/{settings.api_version}/models/{model_id}"

    @property
    def name(self) -> str:
        """The resource name, ``models/<id>``."""
        return f"models/{self.model_id}"

    async def generate_content(self, request: RequestLike) -> GenerateContentResponse:
        """Generate a whole answer in one HTTP request."""
        body = encode_json(coerce_request(request))
        return await self._http.request(
            "POST", f"{self._base}:generateContent", GenerateContentResponse, body=body
        )

    async def stream_generate_content(self, request: RequestLike) -> AsyncSSEStream:
        """Stream the answer over SSE; chunks are yielded as the server sends them.

        ``stream = await model.stream_generate_content(req)``, then ``async for chunk in
        stream``; use ``async with`` (or ``aclose()``) to stop early.
        """
        body = encode_json(coerce_request(request))
        return await self._http.stream_sse(f"{self._base}:streamGenerateContent", body)

    async def count_tokens(self, request: RequestLike) -> CountTokensResponse:
        """Count the tokens of a request's contents."""
        body = _count_tokens_body(self.model_id, coerce_request(request))
        return await self._http.request(
            "POST", f"{self._base}:countTokens", CountTokensResponse, body=body
        )

    async def stream_generate_content_websocket(self, request: RequestLike) -> Stream:
        """Stream the answer over the Live API (WebSocket).

        Opens a session set up from the request, sends its contents as one turn and
        yields :class:`~api_gemini.types.GenerateContentResponse` chunks until the turn
        completes. The stream supports ``pause()``, ``resume()`` and ``cancel()``.
        """
        websocket = _websocket_module()
        stream: Stream = await websocket.open_stream(
            self._settings, self.model_id, coerce_request(request)
        )
        return stream

    async def connect(
        self, config: LiveConnectConfig | Mapping[str, Any] | None = None
    ) -> LiveSession:
        """Open a bidirectional Live session: ``async with await model.connect() as s``."""
        websocket = _websocket_module()
        session: LiveSession = await websocket.connect_live(self._settings, self.model_id, config)
        return session

    def __repr__(self) -> str:
        return f"AsyncModel({self.name!r})"


# --------------------------------------------------------------------------- sync


class Models:
    """The synchronous twin of :class:`AsyncModels`."""

    def __init__(
        self,
        settings: ClientSettings,
        http: SyncHttpTransport,
        portal: Callable[[], LoopPortal],
    ) -> None:
        self._settings = settings
        self._http = http
        self._portal = portal

    def list(self, *, page_size: int = _DEFAULT_PAGE_SIZE) -> list[ModelInfo]:
        """Every model of the catalog, following page tokens to the end."""
        version = self._settings.api_version
        models: list[ModelInfo] = []
        token: str | None = None
        while True:
            params = {"pageSize": str(page_size)}
            if token:
                params["pageToken"] = token
            page = self._http.request(
                "GET", f"/{version}/models", ListModelsResponse, params=params
            )
            models.extend(page.models)
            token = page.next_page_token
            if not token:
                return models

    def get(self, name: str) -> ModelInfo:
        """One model's details; raises :class:`~api_gemini.errors.NotFoundError`."""
        path = f"/{self._settings.api_version}/models/{model_path_segment(name)}"
        return self._http.request("GET", path, ModelInfo)

    def by_name(self, name: str) -> Model:
        """A handle on one model; no request is made until a method is called."""
        return Model(model_path_segment(name), self._settings, self._http, self._portal)


class Model:
    """The synchronous twin of :class:`AsyncModel`, WebSocket calls included (they run on
    the client's private event loop thread)."""

    def __init__(
        self,
        model_id: str,
        settings: ClientSettings,
        http: SyncHttpTransport,
        portal: Callable[[], LoopPortal],
    ) -> None:
        self.model_id = model_id
        self._settings = settings
        self._http = http
        self._portal = portal
        self._base = f"/{settings.api_version}/models/{model_id}"

    @property
    def name(self) -> str:
        """The resource name, ``models/<id>``."""
        return f"models/{self.model_id}"

    def generate_content(self, request: RequestLike) -> GenerateContentResponse:
        """Generate a whole answer in one HTTP request."""
        body = encode_json(coerce_request(request))
        return self._http.request(
            "POST", f"{self._base}:generateContent", GenerateContentResponse, body=body
        )

    def stream_generate_content(self, request: RequestLike) -> SSEStream:
        """Stream the answer over SSE: ``for chunk in model.stream_generate_content(r)``."""
        body = encode_json(coerce_request(request))
        return self._http.stream_sse(f"{self._base}:streamGenerateContent", body)

    def count_tokens(self, request: RequestLike) -> CountTokensResponse:
        """Count the tokens of a request's contents."""
        body = _count_tokens_body(self.model_id, coerce_request(request))
        return self._http.request(
            "POST", f"{self._base}:countTokens", CountTokensResponse, body=body
        )

    def stream_generate_content_websocket(self, request: RequestLike) -> SyncStream:
        """Stream the answer over the Live API: ``for chunk in stream``; ``pause()``,
        ``resume()``, ``cancel()``; a context manager."""
        from .sync_live import SyncStream

        websocket = _websocket_module()
        portal = self._portal()
        stream: Stream = portal.run(
            websocket.open_stream(self._settings, self.model_id, coerce_request(request))
        )
        return SyncStream(portal.adopt(stream, websocket.Stream.cancel), portal)

    def connect(
        self, config: LiveConnectConfig | Mapping[str, Any] | None = None
    ) -> SyncLiveSession:
        """Open a bidirectional Live session: ``with model.connect() as session``."""
        from .sync_live import SyncLiveSession

        websocket = _websocket_module()
        portal = self._portal()
        session: LiveSession = portal.run(
            websocket.connect_live(self._settings, self.model_id, config)
        )
        return SyncLiveSession(portal.adopt(session, websocket.LiveSession.close), portal)

    def __repr__(self) -> str:
        return f"Model({self.name!r})"
