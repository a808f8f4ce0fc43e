"""The warm pool of Live connections against the emulator: a hit skips connect and
setup (by the pool's metrics and by the server's own counters), refill, keys, discards
(server close, goAway, idle, age), the caps, and closing the client closes it all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psutil
import pytest

from api_gemini import AsyncClient, PoolSettings
from api_gemini.emulator import Emulator
from api_gemini.errors import ConfigurationError, SetupRejectedError
from api_gemini.settings import ClientSettings
from api_gemini.types import Content, GenerateContentRequest, GenerationConfig
from api_gemini.websocket import (
    LivePool,
    LiveSession,
    PoolMetrics,
    SessionResumptionUpdate,
    SetupComplete,
    TurnComplete,
    stream_setup,
)
from helpers import eventually, our_tasks

MakeEmulator = Callable[..., Awaitable[Emulator]]
KEY = "pool-key-SECRET-31313131"
LIVE_MODEL = "gemini-3.8-live"
# A session setup of its own (a plain TEXT session has the same setup as a stream).
OTHER_CONFIG = {"systemInstruction": "Be brief."}
WAIT = 5.0  # upper bound on waiting for a background event; tests take milliseconds


def client_for(emu: Emulator, **pool: Any) -> AsyncClient:
    return AsyncClient(KEY, base_url=emu.base_url, pool=PoolSettings(**pool))


async def text_of_stream(client: AsyncClient, prompt: str) -> tuple[str, bool]:
    model = client.models.by_name(LIVE_MODEL)
    async with await model.stream_generate_content_websocket(prompt) as stream:
        text = "".join([chunk.text async for chunk in stream])
    return text, stream.metrics.from_pool


async def until(pool: LivePool, predicate: Callable[[PoolMetrics], bool]) -> PoolMetrics:
    async with asyncio.timeout(WAIT):
        return await pool.wait_until(predicate)


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncClient]:
    async with client_for(emulator, refill=False) as c:
        yield c


# --------------------------------------------------------------------------- hits


async def test_a_hit_skips_connect_and_setup(emulator: Emulator, client: AsyncClient) -> None:
    model = client.models.by_name(LIVE_MODEL)
    assert await model.prewarm(count=1) == 1
    assert (emulator.stats.ws_connections, emulator.stats.ws_setups) == (1, 1)
    assert client.pool_metrics().opened == 1
    assert client.pool_metrics().idle == 1

    text, from_pool = await text_of_stream(client, "echo: warm hello")
    assert (text, from_pool) == ("warm hello", True)
    # The server saw no new connection and no new setup: the request used the warm one.
    assert (emulator.stats.ws_connections, emulator.stats.ws_setups) == (1, 1)
    metrics = client.pool_metrics()
    assert (metrics.hits, metrics.misses, metrics.idle) == (1, 0, 0)

    # Its connection is never handed out again: the next request connects cold.
    text, from_pool = await text_of_stream(client, "echo: cold hello")
    assert (text, from_pool) == ("cold hello", False)
    assert emulator.stats.ws_connections == 2
    assert client.pool_metrics().misses == 1


async def test_refill_after_a_hit_keeps_the_pool_warm(emulator: Emulator) -> None:
    async with client_for(emulator, refill=True) as client:
        model = client.models.by_name(LIVE_MODEL)
        await model.prewarm(count=1)
        for n in range(3):
            text, from_pool = await text_of_stream(client, f"echo: round {n}")
            assert (text, from_pool) == (f"round {n}", True)
            metrics = await until(client.pool, lambda m: m.opening == 0 and m.idle == 1)
        assert (metrics.hits, metrics.misses, metrics.opened) == (3, 0, 4)
        assert emulator.stats.ws_connections == 4  # one prewarm + three refills


async def test_warm_per_key_warms_after_a_miss(emulator: Emulator) -> None:
    async with client_for(emulator, warm_per_key=1) as client:
        assert (await text_of_stream(client, "echo: first"))[1] is False
        await until(client.pool, lambda m: m.idle == 1)
        assert (await text_of_stream(client, "echo: second"))[1] is True
        assert client.pool_metrics().hits == 1


async def test_default_pool_opens_nothing_by_itself(emulator: Emulator) -> None:
    async with AsyncClient(KEY, base_url=emulator.base_url) as client:
        assert client.settings.pool == PoolSettings()
        assert PoolSettings().warm_per_key == 0
        assert await text_of_stream(client, "echo: plain") == ("plain", False)
        metrics = client.pool_metrics()
        assert (metrics.misses, metrics.opened, metrics.idle, metrics.opening) == (1, 0, 0, 0)
        assert emulator.stats.ws_connections == 1


async def test_pool_metrics_before_any_websocket_use(emulator: Emulator) -> None:
    async with AsyncClient(KEY, base_url=emulator.base_url) as client:
        assert client.pool_metrics() == PoolMetrics()


# --------------------------------------------------------------------------- keys


async def test_a_different_setup_is_a_different_key(
    emulator: Emulator, client: AsyncClient
) -> None:
    model = client.models.by_name(LIVE_MODEL)
    short = GenerateContentRequest(
        contents=[], generation_config=GenerationConfig(max_output_tokens=3)
    )
    await model.prewarm(short, count=1)
    # Same setup as the warm one (contents aside): a hit.
    hit = await model.stream_generate_content_websocket(
        GenerateContentRequest(
            contents=[Content.user_text("Tell me more")],
            generation_config=GenerationConfig(max_output_tokens=3),
        )
    )
    async with hit:
        chunks = [c async for c in hit]
    assert hit.metrics.from_pool
    # three tokens (each an audio and a transcription chunk) and the final chunk: the
    # warm setup applied
    assert len(chunks) == 7 and len([c for c in chunks if c.text]) == 3
    await model.prewarm(short, count=1)
    # Another generation config: a miss; the warm connection stays for its own setup.
    assert (await text_of_stream(client, "echo: other setup"))[1] is False
    assert client.pool_metrics().idle == 1


def test_keys_cover_credentials_and_hold_no_secret() -> None:
    setup = stream_setup(LIVE_MODEL, "hi")
    one = LivePool(ClientSettings.resolve(KEY, base_url="http://127.0.0.1:1"))
    other = LivePool(ClientSettings.resolve("another-key-123", base_url="http://127.0.0.1:1"))
    elsewhere = LivePool(ClientSettings.resolve(KEY, base_url="http://127.0.0.1:2"))
    keys = {one.key_for(setup), other.key_for(setup), elsewhere.key_for(setup)}
    assert len(keys) == 3
    assert one.key_for(setup) == one.key_for(stream_setup(LIVE_MODEL, "other contents"))
    for key in keys:
        assert KEY.encode() not in key
    assert KEY not in repr(one)
    assert KEY not in repr(one.metrics())


async def test_a_session_can_start_on_a_warm_connection(
    emulator: Emulator, client: AsyncClient
) -> None:
    model = client.models.by_name(LIVE_MODEL)
    config: dict[str, Any] = {"sessionResumption": {}}
    assert await model.prewarm_live(config, count=1) == 1
    async with await model.connect(config) as session:
        assert isinstance(session, LiveSession)
        assert session.metrics.from_pool
        # What the warm connection received while it waited comes first, in order.
        first = await anext(session)
        second = await anext(session)
        assert isinstance(first, SetupComplete)
        assert isinstance(second, SessionResumptionUpdate)
        assert session.resumption_handle == second.new_handle
        await session.send_text("echo: from the pool")
        events = [e async for e in session.receive_turn()]
        assert isinstance(events[-1], TurnComplete)
    assert (emulator.stats.ws_connections, emulator.stats.ws_setups) == (1, 1)
    # A config that resumes a handle never takes a warm connection.
    await model.prewarm_live(config, count=1)
    resumed = {**config, "sessionResumption": {"handle": second.new_handle}}
    async with await model.connect(resumed) as session:
        assert not session.metrics.from_pool
    assert client.pool_metrics().idle == 1


# --------------------------------------------------------------------------- discards


@pytest.mark.parametrize("code", [1000, 1011])
async def test_a_connection_the_server_closed_while_idle_is_never_used(
    emulator: Emulator, client: AsyncClient, code: int
) -> None:
    model = client.models.by_name(LIVE_MODEL)
    await model.prewarm(count=1)
    assert await emulator.close_live_sessions(code, "idle too long") == 1
    # Whether the watcher saw the close already or the check at hand-out does, the
    # request must not get the dead connection.
    text, from_pool = await text_of_stream(client, "echo: still fine")
    assert (text, from_pool) == ("still fine", False)
    metrics = client.pool_metrics()
    assert metrics.hits == 0
    assert metrics.discarded == {"server_closed": 1}
    assert emulator.stats.ws_connections == 2


async def test_health_says_closed_before_anyone_reads_the_close(
    emulator: Emulator, client: AsyncClient
) -> None:
    model = client.models.by_name(LIVE_MODEL)
    await model.prewarm(count=1)
    (health,) = client.pool.health()
    assert health.state.name == "READY"
    await emulator.close_live_sessions(1011)
    await until(client.pool, lambda m: m.discarded_total == 1)
    assert client.pool.health() == []


async def test_go_away_while_idle_discards(emulator: Emulator, client: AsyncClient) -> None:
    await client.models.by_name(LIVE_MODEL).prewarm(count=1)
    assert await emulator.send_go_away(30.0) == 1
    metrics = await until(client.pool, lambda m: m.discarded_total == 1)
    assert metrics.discarded == {"go_away": 1}
    assert metrics.idle == 0
    await eventually(lambda: emulator.live_session_count == 0)  # closed by us, cleanly


@pytest.mark.parametrize(
    ("settings", "reason"),
    [({"idle_timeout": 0.05}, "idle_timeout"), ({"max_age": 0.05}, "max_age")],
)
async def test_idle_and_old_connections_expire(
    emulator: Emulator, settings: dict[str, float], reason: str
) -> None:
    async with client_for(emulator, **settings) as client:
        await client.models.by_name(LIVE_MODEL).prewarm(count=1)
        metrics = await until(client.pool, lambda m: m.discarded_total == 1)
        assert metrics.discarded == {reason: 1}
        # An expired connection is not replaced: an unused pool drains to nothing.
        assert (metrics.idle, metrics.opening, metrics.opened) == (0, 0, 1)
        await eventually(lambda: emulator.live_session_count == 0)


async def test_the_total_cap_bounds_prewarm_and_refill(emulator: Emulator) -> None:
    async with client_for(emulator, max_total=2) as client:
        model = client.models.by_name(LIVE_MODEL)
        assert await model.prewarm(count=3) == 2
        assert await model.prewarm_live(OTHER_CONFIG, count=1) == 0
        assert client.pool_metrics().opened == 2
        assert emulator.live_session_count == 2


async def test_prewarm_failure_is_raised_counted_and_not_retried(
    emulator: Emulator, client: AsyncClient
) -> None:
    with pytest.raises(SetupRejectedError) as caught:
        await client.models.by_name("gemini-2.5-pro").prewarm(count=2)
    assert caught.value.close_code == 1008
    metrics = client.pool_metrics()
    assert (metrics.open_failures, metrics.opened, metrics.idle) == (2, 0, 0)
    assert metrics.last_error is not None
    assert "1008" in metrics.last_error
    assert KEY not in metrics.last_error
    assert emulator.stats.ws_connections == 2  # two tries asked for, no hidden third


async def test_pool_over_tls(make_emulator: MakeEmulator, tls_files: Any) -> None:
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    async with AsyncClient(
        KEY, base_url=emu.base_url, verify=tls_files.ca, pool=PoolSettings(refill=False)
    ) as client:
        assert client.settings.is_tls
        await client.models.by_name(LIVE_MODEL).prewarm(count=1)
        assert await text_of_stream(client, "echo: secure") == ("secure", True)
        assert emu.stats.ws_connections == 1


# --------------------------------------------------------------------------- closing


async def test_closing_the_client_closes_the_pool_and_leaks_nothing(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator()
    process = psutil.Process()
    fds_before = process.num_fds()
    tasks_before = our_tasks()
    client = client_for(emu, refill=True)
    model = client.models.by_name(LIVE_MODEL)
    await model.prewarm(count=2)
    await model.prewarm_live(OTHER_CONFIG, count=1)
    assert await text_of_stream(client, "echo: one") == ("one", True)  # starts a refill
    assert client.pool_metrics().opening == 1
    await client.aclose()
    assert our_tasks() == tasks_before
    metrics = client.pool_metrics()
    assert (metrics.idle, metrics.opening) == (0, 0)
    # The two idle ones, and the refill too if it had connected before the close.
    assert metrics.discarded["pool_closed"] == 2 + (metrics.opened - 3)
    await eventually(lambda: emu.live_session_count == 0)
    assert process.num_fds() <= fds_before
    with pytest.raises(ConfigurationError, match="closed"):
        _ = client.models
    await client.aclose()  # idempotent


def test_cold_connects_share_one_tls_context(tls_files: Any) -> None:
    """Building a context with the system CA store costs ~18 ms: once per client."""
    from api_gemini.websocket import live_endpoint

    system = ClientSettings.resolve(KEY, base_url="https://example.invalid")
    first = live_endpoint(system).ssl
    assert first is not None
    assert live_endpoint(system).ssl is first
    assert first.verify_mode.name == "CERT_REQUIRED"
    assert first.check_hostname
    own_ca = ClientSettings.resolve(KEY, base_url="https://127.0.0.1:1", verify=tls_files.ca)
    assert live_endpoint(own_ca).ssl is live_endpoint(own_ca).ssl is not first
    assert own_ca.with_changes(api_version="v1").ssl_context() is not own_ca.ssl_context()


async def test_a_warm_connection_the_network_dropped_is_never_used(
    emulator: Emulator,
) -> None:
    from api_gemini.emulator.proxy import FaultProxy

    async with (
        FaultProxy("127.0.0.1", emulator.port) as proxy,
        AsyncClient(
            KEY, base_url=f"http://{proxy.address}", pool=PoolSettings(refill=False)
        ) as client,
    ):
        await client.models.by_name(LIVE_MODEL).prewarm(count=1)
        assert await proxy.reset_all() == 1
        assert await text_of_stream(client, "echo: fresh one") == ("fresh one", False)
        assert client.pool_metrics().discarded == {"server_closed": 1}


async def test_a_hit_does_not_pay_for_its_own_refill(make_emulator: MakeEmulator) -> None:
    """Issue 13, item 6: the replacement's TCP and TLS handshake ran on the loop while
    the hit's first chunk was on its way. The refill now starts after the first chunk
    (or when the stream ends without one)."""
    emu = await make_emulator(time_to_first_token=30.0)  # no first chunk during the test
    async with client_for(emu, refill=True) as client:
        model = client.models.by_name(LIVE_MODEL)
        await model.prewarm(count=1)
        stream = await model.stream_generate_content_websocket("echo: slow answer")
        assert stream.metrics.from_pool
        metrics = client.pool_metrics()
        assert (metrics.hits, metrics.opening, metrics.opened) == (1, 0, 1)
        await stream.cancel()  # ended without a chunk: the refill starts now
        metrics = await until(client.pool, lambda m: m.opening == 0 and m.idle == 1)
        assert metrics.opened == 2
