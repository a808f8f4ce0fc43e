"""Time to first chunk over WebSocket with TLS: cold connect versus a warm pool hit.

A quick measurement for the pool (the main benchmark harness measures it formally).
The emulator runs as a separate process over TLS (a throwaway trustme CA); the client
measures from the call of ``stream_generate_content_websocket`` to the first chunk:

- cold: TCP, TLS, upgrade, setup, then the request;
- warm: a connection prewarmed (outside the timing) is taken from the pool, refill off;
- warm+refill: as warm, but the pool opens a replacement in the background while the
  measured request runs (what a steady ``refill=True`` pool costs the request).

Rounds interleave the three cases so that drift affects all alike. ``--rtt-ms N`` puts
the fault proxy (``python -m api_gemini.emulator.proxy``, its own process) between
client and emulator, adding N ms to every round trip (and one to each new connection,
as a TCP handshake); TLS runs end to end through it. Run:
``.venv/bin/python benchmarks/pool_ttfc.py --runs 40 --rtt-ms 20``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trustme

from api_gemini import AsyncClient, PoolSettings

LIVE_MODEL = "gemini-3.8-live"
KEY = "bench-key"
PROMPT = "echo: warm pools answer sooner"


def start_proxy(url: str, rtt_ms: float) -> tuple[subprocess.Popen[str], str]:
    """The fault proxy in a child process in front of ``url``; returns it and its URL."""
    target = url.split("://", 1)[1]
    src = str(Path(__file__).resolve().parent.parent / "src")
    env = dict(os.environ, PYTHONPATH=src)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api_gemini.emulator.proxy",
            "--target",
            target,
            "--rtt-ms",
            str(rtt_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().split()[-1]
    return proc, f"https://{address}"


def start_emulator(folder: Path) -> tuple[subprocess.Popen[str], str, str]:
    """Start the emulator over TLS in a child process; returns it, its URL and the CA."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    with cert_path.open("wb") as f:
        for blob in cert.cert_chain_pems:
            f.write(blob.bytes())
    src = str(Path(__file__).resolve().parent.parent / "src")
    env = dict(os.environ, PYTHONPATH=src)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api_gemini.emulator",
            "--port",
            "0",
            "--tls-cert",
            str(cert_path),
            "--tls-key",
            str(key_path),
            "--playback-time-scale",  # measure the client, not the playback wait
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().split()[-1]
    return proc, url, str(ca_path)


async def one_request(client: AsyncClient) -> tuple[float, bool]:
    """Seconds from the call to the first chunk, and whether the pool served it."""
    model = client.models.by_name(LIVE_MODEL)
    started = time.perf_counter()
    stream = await model.stream_generate_content_websocket(PROMPT)
    async with stream:
        await anext(stream)
        elapsed = time.perf_counter() - started
        async for _ in stream:
            pass
    return elapsed, stream.metrics.from_pool


async def measure(url: str, ca: str, runs: int) -> dict[str, list[float]]:
    """Interleaved rounds of the three cases; the first round is a warm-up."""
    samples: dict[str, list[float]] = {"cold": [], "warm": [], "warm+refill": []}
    plain = PoolSettings(refill=False)
    refilling = PoolSettings(refill=True)
    async with (
        AsyncClient(KEY, base_url=url, verify=ca, pool=plain) as cold_client,
        AsyncClient(KEY, base_url=url, verify=ca, pool=plain) as warm_client,
        AsyncClient(KEY, base_url=url, verify=ca, pool=refilling) as refill_client,
    ):
        warm_model = warm_client.models.by_name(LIVE_MODEL)
        await refill_client.models.by_name(LIVE_MODEL).prewarm(PROMPT, count=1)
        for round_ in range(runs + 1):
            elapsed, pooled = await one_request(cold_client)
            assert not pooled
            if round_:
                samples["cold"].append(elapsed)

            await warm_model.prewarm(PROMPT, count=1)
            elapsed, pooled = await one_request(warm_client)
            assert pooled
            if round_:
                samples["warm"].append(elapsed)

            await refill_client.pool.wait_until(lambda m: m.idle == 1 and m.opening == 0)
            elapsed, pooled = await one_request(refill_client)
            assert pooled
            if round_:
                samples["warm+refill"].append(elapsed)
    return samples


def table(samples: dict[str, list[float]]) -> str:
    """A Markdown table of milliseconds per case."""
    lines = [
        "| case (ms to first chunk) | median | p10 | p90 | mean | n |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, values in samples.items():
        ms = sorted(v * 1000 for v in values)
        deciles = statistics.quantiles(ms, n=10)
        lines.append(
            f"| {name} | {statistics.median(ms):.2f} | {deciles[0]:.2f} | {deciles[-1]:.2f} "
            f"| {statistics.fmean(ms):.2f} | {len(ms)} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Parse ``--runs``, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="measured rounds per case")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="round trip added by a proxy")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        proc, url, ca = start_emulator(Path(folder))
        proxy = None
        try:
            if args.rtt_ms > 0:
                proxy, url = start_proxy(url, args.rtt_ms)
            samples = asyncio.run(measure(url, ca, args.runs))
        finally:
            for child in (proxy, proc):
                if child is not None:
                    child.terminate()
                    child.wait(timeout=10)
    print(f"emulator over TLS at {url} (+{args.rtt_ms:g} ms RTT); {args.runs} rounds, interleaved")
    print(table(samples))


if __name__ == "__main__":
    main()
