"""Time to first chunk through api_gemini's warm pool (scenario 2).

Before each measured request the pool is asked for one warm connection with the
request's setup (``model.prewarm``, which waits until it is connected and set up);
the request then takes it, so it pays only the request's own round trip and the
server's time. Refill is off, so no background open competes with the measurement.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .clients import KEY, LIVE_MODEL, _request


async def ttfc_pool(job: dict[str, Any], ca: str) -> dict[str, Any]:
    """``{"warm_ms": median, "warm_samples_ms": [...], "hits": n}`` for ``job["runs"]``."""
    from api_gemini import AsyncClient, PoolSettings

    tokens = job.get("tokens", 4)
    request = _request(tokens)
    pool = PoolSettings(warm_per_key=0, max_total=2, refill=False)
    samples = []
    hits = 0
    async with AsyncClient(KEY, base_url=job["base_url"], verify=ca, pool=pool) as client:
        model = client.models.by_name(LIVE_MODEL)
        for i in range(job["runs"] + 1):
            ready = await model.prewarm(request, count=1)
            assert ready >= 1, ready
            started = time.perf_counter()
            stream = await model.stream_generate_content_websocket(request)
            async with stream:
                await anext(stream)
                elapsed = time.perf_counter() - started
                async for _ in stream:
                    pass
            if i:  # the first round warms up code paths
                samples.append(elapsed)
                hits += stream.metrics.from_pool
    return {
        "warm_ms": statistics.median(samples) * 1e3,
        "warm_samples_ms": [x * 1e3 for x in samples],
        "hits": hits,
    }
