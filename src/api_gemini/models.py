"""The models resource: the catalog, and one model's generation calls.

``client.models`` gives :class:`AsyncModels` (or :class:`Models` on the sync client);
``.by_name(name)`` gives a model whose methods do the work:

- ``generate_content``: one request, one answer (HTTP);
- ``stream_generate_content``: the answer in chunks over SSE, yielded as they arrive;
- ``stream_generate_content_websocket``: the same chunks over the Live API (WebSocket);
- ``connect``: a long-lived bidirectional Live session (``reconnect=`` opts in to
  reconnection, see :class:`~api_gemini.settings.ReconnectPolicy`);
- ``prewarm`` / ``prewarm_live``: open warm Live connections in the client's pool, so
  that the next WebSocket request or session with the same setup skips connect and
  setup (see :class:`~api_gemini.settings.PoolSettings`);
- ``count_tokens``;
- ``embed_content`` / ``batch_embed_contents``: embedding vectors (HTTP).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Self, TypeVar

from .errors import ConfigurationError, InvalidRequestError, ResponseParseError
from .types import (
    BatchEmbedContentsResponse,
    CountTokensResponse,
    EmbedContentResponse,
    EmbedLike,
    GenerateContentRequest,
    GenerateContentResponse,
    ListModelsResponse,
    ModelInfo,
    RequestLike,
    coerce_embed_request,
    coerce_request,
    encode_json,
)

if TYPE_CHECKING:
    from ._portal import LoopPortal
    from .http.transport import (
        AsyncHttpTransport,
        AsyncSSEStream,
        CallTimeout,
        HttpTransport,
        SSEStream,
    )
    from .settings import ClientSettings, ReconnectPolicy
    from .websocket import LiveConnectConfig, LivePool, LiveSession, Stream
    from .websocket.sync_live import SyncLiveSession, SyncStream

__all__ = ["AsyncModel", "AsyncModels", "Model", "Models", "model_path_segment"]

# A model id is one path segment: letters, digits, dots, dashes, underscores. Anything
# else (a slash, "..", "?") could steer the request to another endpoint.
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DEFAULT_PAGE_SIZE = 50
# A catalog is a few pages; a server handing out pages without end (a new token each
# time) is stopped here, one repeating a token at once (see _PageTokens).
MAX_LIST_PAGES = 1000

T = TypeVar("T")


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


def _embed_body(request: EmbedLike) -> bytes:
    # The model is in the URL; a single request's body need not repeat it.
    return encode_json(coerce_embed_request(request))


def _batch_embed_body(model_id: str, requests: Sequence[EmbedLike]) -> bytes:
    if isinstance(requests, str) or not requests:
        raise InvalidRequestError("batch_embed_contents takes a non-empty list of inputs")
    name = f"models/{model_id}"
    return encode_json({"requests": [coerce_embed_request(r, name) for r in requests]})


class _PageTokens:
    """Follows ``nextPageToken`` safely: a token seen before (a server looping) or more
    than :data:`MAX_LIST_PAGES` pages end the listing with a typed error, not a loop."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def check(self, token: str) -> None:
        """Raise if following ``token`` would loop or exceed the page bound."""
        if token in self._seen:
            raise ResponseParseError(
                f"models.list: the server repeated the page token {token[:64]!r} after "
                f"{len(self._seen) + 1} pages; stopped instead of looping"
            )
        if len(self._seen) + 1 >= MAX_LIST_PAGES:
            raise ResponseParseError(
                f"models.list: more than {MAX_LIST_PAGES} pages; stopped (a catalog is a "
                "few pages: the server is not ending the listing)"
            )
        self._seen.add(token)


def _websocket_module() -> Any:
    """Import the WebSocket layer, or say which extra installs it."""
    try:
        import websockets  # noqa: F401  (only checks that the extra is installed)
    except ImportError:
        from ._install import install_command

        raise ConfigurationError(
            f"the WebSocket transport needs the 'websocket' extra: {install_command('websocket')}"
        ) from None
    from . import websocket

    return websocket


def _prewarm_count(settings: ClientSettings, count: int | None) -> int:
    return max(1, settings.pool.warm_per_key) if count is None else count


def _stream_request(request: RequestLike | None) -> GenerateContentRequest:
    # The contents do not take part in the setup: a warm stream needs none.
    return GenerateContentRequest(contents=[]) if request is None else coerce_request(request)


class _Call(NamedTuple, Generic[T]):
    """One HTTP call of the models resource, built without I/O; either transport sends it."""

    method: str
    path: str
    response_type: type[T]
    body: bytes | None = None
    params: Mapping[str, str] | None = None


def _list_pages(
    version: str, page_size: int
) -> Generator[_Call[ListModelsResponse], Any, list[ModelInfo]]:
    """``models.list`` without I/O: yields each page's call, is sent the page, returns
    every model (following page tokens to the end, safely: see :class:`_PageTokens`)."""
    models: list[ModelInfo] = []
    token: str | None = None
    tokens = _PageTokens()
    while True:
        params = {"pageSize": str(page_size)}
        if token:
            params["pageToken"] = token
        page: ListModelsResponse = yield _Call(
            "GET", f"/{version}/models", ListModelsResponse, params=params
        )
        models.extend(page.models)
        token = page.next_page_token
        if not token:
            return models
        tokens.check(token)


class _DeprecatedCall:
    """``client.models()`` from when ``models`` was a method: still the resource, with a
    DeprecationWarning (``client.models`` is a property now, as in google-genai)."""

    def __call__(self) -> Self:
        warnings.warn(
            "client.models() is deprecated: client.models is a property now "
            "(client.models.list(), client.models.by_name(...))",
            DeprecationWarning,
            stacklevel=2,
        )
        return self


class _ModelBase:
    """What both model twins share: the id, the calls they make (built without I/O),
    and what a WebSocket call or a prewarm needs. The twins only send."""

    def __init__(
        self, model_id: str, settings: ClientSettings, pool: Callable[[], LivePool] | None
    ) -> None:
        self.model_id = model_id
        self._settings = settings
        self._pool = pool
        self._base = f"/{settings.api_version}/models/{model_id}"

    @property
    def name(self) -> str:
        """The resource name, ``models/<id>``."""
        return f"models/{self.model_id}"

    def _post(self, verb: str, response_type: type[T], body: bytes) -> _Call[T]:
        return _Call("POST", f"{self._base}:{verb}", response_type, body)

    def _generate(self, request: RequestLike) -> _Call[GenerateContentResponse]:
        body = encode_json(coerce_request(request))
        return self._post("generateContent", GenerateContentResponse, body)

    def _stream_body(self, request: RequestLike) -> tuple[str, bytes]:
        return f"{self._base}:streamGenerateContent", encode_json(coerce_request(request))

    def _count_tokens(self, request: RequestLike) -> _Call[CountTokensResponse]:
        body = _count_tokens_body(self.model_id, coerce_request(request))
        return self._post("countTokens", CountTokensResponse, body)

    def _embed(self, request: EmbedLike) -> _Call[EmbedContentResponse]:
        return self._post("embedContent", EmbedContentResponse, _embed_body(request))

    def _batch_embed(self, requests: Sequence[EmbedLike]) -> _Call[BatchEmbedContentsResponse]:
        body = _batch_embed_body(self.model_id, requests)
        return self._post("batchEmbedContents", BatchEmbedContentsResponse, body)

    def _live_pool(self) -> LivePool | None:
        return self._pool() if self._pool is not None else None

    def _prewarm_args(
        self,
        request: RequestLike | None,
        config: LiveConnectConfig | Mapping[str, Any] | None,
        count: int | None,
        *,
        live: bool,
    ) -> tuple[LivePool, Any, int]:
        """The pool, the setup to warm (a stream's from ``request``, a session's from
        ``config``) and how many."""
        websocket = _websocket_module()
        if self._pool is None:
            raise ConfigurationError("this model handle has no connection pool")
        if live:
            setup = websocket.live_setup(self.model_id, config)
        else:
            setup = websocket.stream_setup(self.model_id, _stream_request(request))
        return self._pool(), setup, _prewarm_count(self._settings, count)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# --------------------------------------------------------------------------- async


class AsyncModels(_DeprecatedCall):
    """The model catalog and a factory of :class:`AsyncModel` objects."""

    def __init__(
        self,
        settings: ClientSettings,
        http: Callable[[], AsyncHttpTransport],
        pool: Callable[[], LivePool] | None = None,
    ) -> None:
        self._settings = settings
        self._http = http
        self._pool = pool

    async def list(
        self,
        *,
        page_size: int = _DEFAULT_PAGE_SIZE,
        timeout: CallTimeout = None,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
    ) -> list[ModelInfo]:
        """Every model of the catalog, following page tokens to the end.

        ``timeout`` (each page): seconds for each of connect, read, write and pool, or a
        :class:`~api_gemini.settings.Timeouts`; the client's when ``None``.

        Raises:
            ResponseParseError: the server repeated a page token, or sent more than
                ``MAX_LIST_PAGES`` pages.
        """
        pages = _list_pages(self._settings.api_version, page_size)
        call = next(pages)
        while True:
            page = await _send_async(self._http(), call, timeout)
            try:
                call = pages.send(page)
            except StopIteration as done:
                models: list[ModelInfo] = done.value
                return models

    async def get(self, name: str, *, timeout: CallTimeout = None) -> ModelInfo:  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
        """One model's details; raises :class:`~api_gemini.errors.NotFoundError`."""
        return await _send_async(self._http(), _get_call(self._settings, name), timeout)

    def by_name(self, name: str) -> AsyncModel:
        """A handle on one model; no request is made until a method is called."""
        return AsyncModel(model_path_segment(name), self._settings, self._http, self._pool)


async def _send_async(
    http: AsyncHttpTransport,
    call: _Call[T],
    timeout: CallTimeout,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
) -> T:
    method, path, response_type, body, params = call
    return await http.request(
        method, path, response_type, body=body, params=params, timeout=timeout
    )


def _get_call(settings: ClientSettings, name: str) -> _Call[ModelInfo]:
    return _Call("GET", f"/{settings.api_version}/models/{model_path_segment(name)}", ModelInfo)


class AsyncModel(_ModelBase):
    """One model: generation over HTTP, SSE and WebSocket, token counting."""

    def __init__(
        self,
        model_id: str,
        settings: ClientSettings,
        http: Callable[[], AsyncHttpTransport],
        pool: Callable[[], LivePool] | None = None,
    ) -> None:
        super().__init__(model_id, settings, pool)
        self._http = http

    async def generate_content(
        self,
        request: RequestLike,
        *,
        timeout: CallTimeout = None,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
    ) -> GenerateContentResponse:
        """Generate a whole answer in one HTTP request.

        ``timeout``: seconds for each of connect, read, write and pool (each wait, not
        the whole call: bound that with ``asyncio.timeout``), or a
        :class:`~api_gemini.settings.Timeouts`; the client's when ``None``.
        """
        return await _send_async(self._http(), self._generate(request), timeout)

    async def stream_generate_content(
        self,
        request: RequestLike,
        *,
        timeout: CallTimeout = None,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
    ) -> AsyncSSEStream:
        """Stream the answer over SSE; chunks are yielded as the server sends them.

        ``stream = await model.stream_generate_content(req)``, then ``async for chunk in
        stream``; use ``async with`` (or ``aclose()``) to stop early. A stream that ends
        before a chunk with a ``finishReason`` raises
        :class:`~api_gemini.errors.TruncatedStreamError` after the chunks it had.
        ``timeout`` as for :meth:`generate_content`; its read part also bounds the wait
        between two events.
        """
        return await self._http().stream_sse(*self._stream_body(request), timeout=timeout)

    async def count_tokens(
        self,
        request: RequestLike,
        *,
        timeout: CallTimeout = None,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
    ) -> CountTokensResponse:
        """Count the tokens of a request's contents (``timeout`` as for
        :meth:`generate_content`)."""
        return await _send_async(self._http(), self._count_tokens(request), timeout)

    async def embed_content(
        self,
        request: EmbedLike,
        *,
        timeout: CallTimeout = None,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
    ) -> EmbedContentResponse:
        """The embedding of a text (or Content, or ``EmbedContentRequest`` / its dict
        with ``task_type``, ``title``, ``output_dimensionality``): ``.embedding.values``.
        ``timeout`` as for :meth:`generate_content`.
        """
        return await _send_async(self._http(), self._embed(request), timeout)

    async def batch_embed_contents(
        self,
        requests: Sequence[EmbedLike],
        *,
        timeout: CallTimeout = None,  # noqa: ASYNC109 (a per-call timeout, as httpx takes it)
    ) -> BatchEmbedContentsResponse:
        """Embeddings of several inputs in one call, in order: ``.embeddings``."""
        return await _send_async(self._http(), self._batch_embed(requests), timeout)

    async def stream_generate_content_websocket(self, request: RequestLike) -> Stream:
        """Stream the answer over the Live API (WebSocket).

        Opens a session set up from the request, sends its contents as one turn and
        yields :class:`~api_gemini.types.GenerateContentResponse` chunks until the turn
        completes. The stream supports ``pause()``, ``resume()`` and ``cancel()``.
        A warm connection from the client's pool with the same setup is used when there
        is one (``stream.metrics.from_pool``).
        """
        websocket = _websocket_module()
        stream: Stream = await websocket.open_stream(
            self._settings, self.model_id, coerce_request(request), self._live_pool()
        )
        return stream

    async def connect(
        self,
        config: LiveConnectConfig | Mapping[str, Any] | None = None,
        *,
        reconnect: ReconnectPolicy | None = None,
    ) -> LiveSession:
        """Open a bidirectional Live session: ``async with await model.connect() as s``.

        ``reconnect`` opts in to reconnection on ``goAway`` and retryable drops, each one
        a :class:`~api_gemini.websocket.Reconnected` event (it needs
        ``sessionResumption`` in the config); without it, ``await session.reconnect()``
        after a drop or ``goAway`` continues the conversation. A warm pool connection
        with the same setup is used when there is one.
        """
        websocket = _websocket_module()
        session: LiveSession = await websocket.connect_live(
            self._settings, self.model_id, config, self._live_pool(), reconnect
        )
        return session

    async def prewarm(self, request: RequestLike | None = None, *, count: int | None = None) -> int:
        """Keep ``count`` warm connections for WebSocket streams of requests like
        ``request`` (its setup: generation config, system instruction, tools; contents
        do not matter); returns how many are ready.

        ``count`` defaults to ``max(1, PoolSettings.warm_per_key)``; after each hit the
        pool refills to it (``PoolSettings.refill``). Each warm connection is an open
        session on the service: it counts against the concurrent-session quota.

        Raises:
            WebSocketConnectionError, SetupRejectedError: an open failed.
        """
        pool, setup, n = self._prewarm_args(request, None, count, live=False)
        ready: int = await pool.prewarm(setup, n)
        return ready

    async def prewarm_live(
        self,
        config: LiveConnectConfig | Mapping[str, Any] | None = None,
        *,
        count: int | None = None,
    ) -> int:
        """Keep ``count`` warm connections for :meth:`connect` with ``config``; returns
        how many are ready. As :meth:`prewarm`, for sessions."""
        pool, setup, n = self._prewarm_args(None, config, count, live=True)
        ready: int = await pool.prewarm(setup, n)
        return ready


# --------------------------------------------------------------------------- sync


class Models(_DeprecatedCall):
    """The synchronous twin of :class:`AsyncModels`."""

    def __init__(
        self,
        settings: ClientSettings,
        http: Callable[[], HttpTransport],
        portal: Callable[[], LoopPortal],
        pool: Callable[[], LivePool] | None = None,
    ) -> None:
        self._settings = settings
        self._http = http
        self._portal = portal
        self._pool = pool

    def list(
        self, *, page_size: int = _DEFAULT_PAGE_SIZE, timeout: CallTimeout = None
    ) -> list[ModelInfo]:
        """Every model of the catalog, following page tokens to the end (as
        :meth:`AsyncModels.list`)."""
        pages = _list_pages(self._settings.api_version, page_size)
        call = next(pages)
        while True:
            page = _send_sync(self._http(), call, timeout)
            try:
                call = pages.send(page)
            except StopIteration as done:
                models: list[ModelInfo] = done.value
                return models

    def get(self, name: str, *, timeout: CallTimeout = None) -> ModelInfo:
        """One model's details; raises :class:`~api_gemini.errors.NotFoundError`."""
        return _send_sync(self._http(), _get_call(self._settings, name), timeout)

    def by_name(self, name: str) -> Model:
        """A handle on one model; no request is made until a method is called."""
        return Model(model_path_segment(name), self._settings, self._http, self._portal, self._pool)


def _send_sync(http: HttpTransport, call: _Call[T], timeout: CallTimeout) -> T:
    method, path, response_type, body, params = call
    return http.request(method, path, response_type, body=body, params=params, timeout=timeout)


class Model(_ModelBase):
    """The synchronous twin of :class:`AsyncModel`, WebSocket calls included (they run on
    the client's private event loop thread)."""

    def __init__(
        self,
        model_id: str,
        settings: ClientSettings,
        http: Callable[[], HttpTransport],
        portal: Callable[[], LoopPortal],
        pool: Callable[[], LivePool] | None = None,
    ) -> None:
        super().__init__(model_id, settings, pool)
        self._http = http
        self._portal = portal

    def generate_content(
        self, request: RequestLike, *, timeout: CallTimeout = None
    ) -> GenerateContentResponse:
        """Generate a whole answer in one HTTP request (``timeout`` as on
        :meth:`AsyncModel.generate_content`)."""
        return _send_sync(self._http(), self._generate(request), timeout)

    def stream_generate_content(
        self, request: RequestLike, *, timeout: CallTimeout = None
    ) -> SSEStream:
        """Stream the answer over SSE: ``for chunk in model.stream_generate_content(r)``
        (truncation and ``timeout`` as on :meth:`AsyncModel.stream_generate_content`)."""
        return self._http().stream_sse(*self._stream_body(request), timeout=timeout)

    def count_tokens(
        self, request: RequestLike, *, timeout: CallTimeout = None
    ) -> CountTokensResponse:
        """Count the tokens of a request's contents."""
        return _send_sync(self._http(), self._count_tokens(request), timeout)

    def embed_content(
        self, request: EmbedLike, *, timeout: CallTimeout = None
    ) -> EmbedContentResponse:
        """As :meth:`AsyncModel.embed_content`."""
        return _send_sync(self._http(), self._embed(request), timeout)

    def batch_embed_contents(
        self, requests: Sequence[EmbedLike], *, timeout: CallTimeout = None
    ) -> BatchEmbedContentsResponse:
        """As :meth:`AsyncModel.batch_embed_contents`."""
        return _send_sync(self._http(), self._batch_embed(requests), timeout)

    def stream_generate_content_websocket(self, request: RequestLike) -> SyncStream:
        """Stream the answer over the Live API: ``for chunk in stream``; ``pause()``,
        ``resume()``, ``cancel()``; a context manager."""
        from .websocket.sync_live import SyncStream

        websocket = _websocket_module()
        portal = self._portal()
        # open(): remembered on the loop as it opens, so a close() from another thread
        # closes it; interrupted just after it opened, it is closed at once.
        stream: Stream = portal.open(
            websocket.open_stream(
                self._settings, self.model_id, coerce_request(request), self._live_pool()
            ),
            websocket.Stream.cancel,
        )
        return SyncStream(stream, portal)

    def connect(
        self,
        config: LiveConnectConfig | Mapping[str, Any] | None = None,
        *,
        reconnect: ReconnectPolicy | None = None,
    ) -> SyncLiveSession:
        """Open a bidirectional Live session: ``with model.connect() as session``.
        ``reconnect`` as on :meth:`AsyncModel.connect`."""
        from .websocket.sync_live import SyncLiveSession

        websocket = _websocket_module()
        portal = self._portal()
        session: LiveSession = portal.open(
            websocket.connect_live(
                self._settings, self.model_id, config, self._live_pool(), reconnect
            ),
            websocket.LiveSession.close,
        )
        return SyncLiveSession(session, portal)

    def prewarm(self, request: RequestLike | None = None, *, count: int | None = None) -> int:
        """As :meth:`AsyncModel.prewarm`: warm connections for WebSocket streams."""
        pool, setup, n = self._prewarm_args(request, None, count, live=False)
        ready: int = self._portal().run(pool.prewarm(setup, n))
        return ready

    def prewarm_live(
        self,
        config: LiveConnectConfig | Mapping[str, Any] | None = None,
        *,
        count: int | None = None,
    ) -> int:
        """As :meth:`AsyncModel.prewarm_live`: warm connections for :meth:`connect`."""
        pool, setup, n = self._prewarm_args(None, config, count, live=True)
        ready: int = self._portal().run(pool.prewarm(setup, n))
        return ready
