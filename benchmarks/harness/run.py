"""The benchmark driver: starts the emulator (TLS, own process), runs every scenario
through every client in worker processes, writes JSON results, the report and plots.

``.venv/bin/python -m benchmarks`` runs everything (about ten minutes);
``--smoke`` runs tiny sizes in a few seconds (the test suite does, to prove the harness
works); ``--only cpu,imports`` picks scenarios. See ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ._env import ROOT, Tls, child_env, emulator, latency_proxy, make_tls, run_worker
from .clients import CLIENTS, WS_CLIENTS

RESULTS_DIR = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "performance.md"

#: Mean bytes of one emulator text token (a vocabulary word and a space).
TEXT_TOKEN_BYTES = 5.69
#: Bytes of PCM the emulator sends per audio token (20 ms at 24 kHz).
AUDIO_TOKEN_BYTES = 960


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is; :data:`FULL` for the report, :data:`SMOKE` for CI."""

    cpu_tokens: int = 2000
    cpu_runs: int = 5
    #: Rounds of every client in turn, so that drift in the machine's speed (other
    #: work on a shared machine) hits all clients alike; samples are pooled.
    cpu_rounds: int = 3
    ttfc_runs: int = 25
    rtts_ms: tuple[float, ...] = (0.0, 20.0, 50.0)
    idle_sessions: int = 1000
    #: Seconds the sessions stay idle before memory is read.
    idle_wait: float = 1.0
    #: Sessions for the tracemalloc breakdown of an idle session's Python objects.
    idle_traced: int = 200
    stream_bytes: int = 50_000_000
    audio_tokens_per_chunk: int = 16
    sse_tokens_per_chunk: int = 1000
    paused_hold: float = 3.0
    paused_small_buffer: int = 1 << 20
    throughput_streams: int = 200
    throughput_tokens: int = 500
    throughput_runs: int = 3
    import_runs: int = 15
    #: A first, uncounted round of imports fills the byte-code cache.
    import_warm_round: bool = True
    #: One worker process per (scenario, client); False: one per client (faster).
    isolate: bool = True


FULL = Sizes()
SMOKE = Sizes(
    cpu_tokens=40,
    cpu_runs=2,
    cpu_rounds=1,
    ttfc_runs=2,
    rtts_ms=(10.0,),
    idle_sessions=4,
    idle_wait=0.05,
    idle_traced=10,
    stream_bytes=400_000,
    sse_tokens_per_chunk=100,
    paused_hold=0.1,
    paused_small_buffer=64 * 1024,
    throughput_streams=4,
    throughput_tokens=10,
    throughput_runs=1,
    import_runs=1,
    import_warm_round=False,
    isolate=False,
)

SCENARIOS = ("cpu", "ttfc", "idle", "stream", "paused", "imports", "throughput")


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Runner:
    """Groups jobs into worker processes and spreads the results back per scenario."""

    def __init__(self, tls: Tls, sizes: Sizes) -> None:
        self.tls = tls
        self.sizes = sizes
        self.pending: list[tuple[str, str, dict[str, Any], Callable[[Any], None]]] = []

    def add(
        self, scenario: str, client: str, job: dict[str, Any], store: Callable[[Any], None]
    ) -> None:
        """Queue ``job`` for ``client``; ``store`` receives its result."""
        self.pending.append((scenario, client, {**job, "client": client}, store))

    def run(self) -> None:
        """Run what is queued: a process per job (isolated) or per client."""
        pending, self.pending = self.pending, []
        if self.sizes.isolate:
            groups = [[item] for item in pending]
        else:
            by_client: dict[str, list[Any]] = {}
            for item in pending:
                by_client.setdefault(item[1], []).append(item)
            groups = list(by_client.values())
        for group in groups:
            _log(f"  {group[0][1]}: {', '.join(sorted({g[0] for g in group}))}")
            results = run_worker([g[2] for g in group], self.tls)
            for (_, _, _, store), result in zip(group, results, strict=True):
                store(result)


# --------------------------------------------------------------------------- scenarios


def scenario_imports(sizes: Sizes) -> dict[str, Any]:
    """Import time (``-X importtime``, median of fresh interpreters), and the check that
    ``import api_gemini`` does not import ``websockets``."""
    cache = tempfile.mkdtemp(prefix="bench-pycache-")
    env = child_env(PYTHONPYCACHEPREFIX=cache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # name -> the top-level modules imported; their cumulative times add up.
    modules = {
        "api_gemini": ("api_gemini",),
        "api_gemini_ws": ("api_gemini", "api_gemini.websocket", "httpx2"),
        "google_genai": ("google", "google.genai"),
    }
    samples: dict[str, list[float]] = {name: [] for name in modules}
    first = 0 if sizes.import_warm_round else 1  # round 0 fills the byte-code cache
    for i in range(first, sizes.import_runs + 1):
        for name, wanted in modules.items():
            code = "import " + ", ".join(wanted)
            proc = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", code],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            total = 0
            for line in proc.stderr.splitlines():
                # "import time: self | cumulative | name"; nested imports are indented.
                fields = line.split("|")
                if len(fields) == 3 and fields[2].strip() in wanted and fields[2][1] != " ":
                    total += int(fields[1])
            if i:
                samples[name].append(total / 1000)
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, api_gemini; print('websockets' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    shutil.rmtree(cache, ignore_errors=True)
    return {
        "ms": {name: statistics.median(s) for name, s in samples.items()},
        "samples_ms": samples,
        "websockets_imported_by_api_gemini": probe.stdout.strip() == "True",
        "tls_context_cpu_ms": tls_context_cost(20 if sizes.import_warm_round else 2),
    }


def tls_context_cost(runs: int = 20) -> dict[str, float]:
    """CPU ms of the TLS context api_gemini uses for connections
    (``ClientSettings.ssl_context()``): built on a client's first connection (with the
    system trust store, ``verify=True`` as against the real service, or a one-certificate
    CA file as here), then reused by every later connection."""
    import ssl

    from api_gemini import ClientSettings

    with tempfile.TemporaryDirectory() as folder:
        tls = make_tls(Path(folder))
        makers: dict[str, Callable[[], ClientSettings]] = {
            "system_store": lambda: ClientSettings.resolve("k"),
            "ca_file": lambda: ClientSettings.resolve(
                "k", base_url="https://127.0.0.1", verify=tls.ca
            ),
        }
        samples: dict[str, list[float]] = {}
        for name, make in makers.items():
            for _ in range(runs):
                settings = make()  # a new client's settings: nothing cached yet
                for kind in (f"{name}_first", f"{name}_next"):
                    started = time.process_time()
                    context = settings.ssl_context()
                    samples.setdefault(kind, []).append((time.process_time() - started) * 1e3)
                    assert isinstance(context, ssl.SSLContext)
    return {kind: statistics.median(values) for kind, values in samples.items()}


def plan(runner: Runner, urls: dict[str, str], chosen: set[str], out: dict[str, Any]) -> None:
    """Queue every chosen scenario's jobs; results land in ``out``."""
    s = runner.sizes
    plain = urls["plain"]

    def put(*path: str) -> Callable[[Any], None]:
        return _storer(out, *path)

    if "cpu" in chosen:
        for _ in range(s.cpu_rounds):
            for client in CLIENTS:
                job = {"job": "cpu", "base_url": plain, "tokens": s.cpu_tokens}
                job["runs"] = s.cpu_runs
                runner.add("cpu", client, job, _pooled(out, client))
            # The floor with api_gemini's small websockets queue: what that choice costs.
            job = {"job": "cpu", "base_url": plain, "tokens": s.cpu_tokens, "runs": s.cpu_runs}
            job["settings"] = {"max_queue": [4, 1]}
            runner.add("cpu", "floor", job, _pooled(out, "floor_q4"))
            # api_gemini over the picows transport (the picows extra), against the same floor.
            job = {"job": "cpu", "base_url": plain, "tokens": s.cpu_tokens, "runs": s.cpu_runs}
            job["settings"] = {"transport": "picows"}
            runner.add("cpu", "api_ws", job, _pooled(out, "api_ws_picows"))
    if "throughput" in chosen:
        for client in CLIENTS:
            job = {
                "job": "throughput",
                "base_url": plain,
                "streams": s.throughput_streams,
                "tokens": s.throughput_tokens,
                "runs": s.throughput_runs,
            }
            runner.add("throughput", client, job, put("throughput", client))
    if "idle" in chosen:
        for client in WS_CLIENTS:
            job = {
                "job": "idle",
                "base_url": plain,
                "sessions": s.idle_sessions,
                "idle": s.idle_wait,
            }
            runner.add("idle", client, job, put("idle", client))
            traced = {"job": "idle_traced", "base_url": plain, "sessions": s.idle_traced}
            runner.add("idle", client, traced, put("idle_traced", client))
    if "stream" in chosen:
        audio_tokens = s.stream_bytes * 3 // 4 // AUDIO_TOKEN_BYTES  # base64: 4/3 on the wire
        for client in WS_CLIENTS:
            job = {
                "job": "stream_memory",
                "base_url": urls["audio"],
                "tokens": audio_tokens,
                "audio": True,
                "trace_step": max(1, s.stream_bytes // 100),
            }
            runner.add("stream", client, job, put("stream", client))
        text_tokens = int(s.stream_bytes / TEXT_TOKEN_BYTES)
        for client in ("api_sse", "sdk_sse"):
            job = {
                "job": "stream_memory",
                "base_url": urls["text"],
                "tokens": text_tokens,
                "warm_tokens": 2000,
                "trace_step": max(1, s.stream_bytes // 100),
            }
            runner.add("stream", client, job, put("stream", client))
    if "paused" in chosen:
        audio_tokens = s.stream_bytes * 3 // 4 // AUDIO_TOKEN_BYTES
        base = {"job": "paused", "base_url": urls["audio"], "tokens": audio_tokens}
        base["hold"] = s.paused_hold
        for client in WS_CLIENTS:
            runner.add("paused", client, base, put("paused", client))
        small = {**base, "settings": {"buffer_max_bytes": s.paused_small_buffer}}
        runner.add("paused", "api_ws", small, put("paused", "api_ws_small_buffer"))


def plan_latency(
    runner: Runner, plain: str, stack: contextlib.ExitStack, out: dict[str, Any]
) -> None:
    """Queue time to first chunk, cold and warm, for every client, behind the latency
    proxy at each round-trip time (scenario 3; scenario 2 adds the warm pool)."""
    s = runner.sizes
    pool = _pool_available()
    out.setdefault("ttfc", {})["pool_available"] = pool
    for rtt in s.rtts_ms:
        url = stack.enter_context(latency_proxy(plain, rtt))
        key = f"{rtt:g}"
        for client in CLIENTS:
            job = {"job": "ttfc", "base_url": url, "runs": s.ttfc_runs}
            runner.add("ttfc", client, job, _storer(out, "ttfc", key, client))
        if pool:
            job = {"job": "ttfc_pool", "base_url": url, "runs": s.ttfc_runs}
            runner.add("ttfc", "api_ws", job, _storer(out, "ttfc", key, "api_pool"))


def _pooled(out: dict[str, Any], client: str) -> Callable[[Any], None]:
    """Store a CPU result, pooling its samples with earlier rounds' (median of all)."""

    def store(result: Any) -> None:
        section = out.setdefault("cpu", {})
        if client in section:
            samples = section[client]["samples"] + result["samples"]
            result["samples"] = samples
            result["us_per_chunk"] = statistics.median(samples)
        section[client] = result

    return store


def _storer(out: dict[str, Any], *path: str) -> Callable[[Any], None]:
    def store(result: Any) -> None:
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = result

    return store


def _pool_available() -> bool:
    """True when api_gemini has a warm pool to measure (``PoolSettings``)."""
    import api_gemini

    return hasattr(api_gemini, "PoolSettings")


def environment() -> dict[str, Any]:
    """Where and with what the figures were measured."""
    versions = {}
    for dist in ("websockets", "google-genai", "httpx2", "aiohttp", "msgspec", "orjson"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "versions": versions,
    }


def run(sizes: Sizes, chosen: set[str], results_dir: Path) -> dict[str, Any]:
    """Run the chosen scenarios and return (and write) the results."""
    out: dict[str, Any] = {"environment": environment(), "sizes": asdict(sizes)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as folder, contextlib.ExitStack() as st:
        tls = make_tls(Path(folder))
        runner = Runner(tls, sizes)
        urls = {"plain": st.enter_context(emulator(tls))}
        if chosen & {"stream", "paused"}:
            urls["audio"] = st.enter_context(
                emulator(tls, tokens_per_chunk=sizes.audio_tokens_per_chunk)
            )
            urls["text"] = st.enter_context(
                emulator(tls, tokens_per_chunk=sizes.sse_tokens_per_chunk)
            )
        if "imports" in chosen:
            _log("imports")
            out["imports"] = scenario_imports(sizes)
        plan(runner, urls, chosen, out)
        if "ttfc" in chosen:
            plan_latency(runner, urls["plain"], st, out)
        _log(f"{len(runner.pending)} jobs")
        runner.run()
    out["seconds"] = time.perf_counter() - started
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "results.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m benchmarks [--smoke] [--only a,b] [--results DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--results", type=Path, default=None, help="results directory")
    parser.add_argument(
        "--doc", type=Path, default=None, help="report to update (default: docs/performance.md)"
    )
    parser.add_argument("--no-report", action="store_true", help="JSON only, no doc or plots")
    args = parser.parse_args(argv)
    chosen = set(args.only.split(","))
    unknown = chosen - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
    sizes = SMOKE if args.smoke else FULL
    results_dir = args.results or (
        Path(tempfile.mkdtemp(prefix="bench-smoke-")) if args.smoke else RESULTS_DIR
    )
    out = run(sizes, chosen, results_dir)
    if not args.no_report:
        from .report import write_report

        doc = args.doc or (results_dir / "performance.md" if args.smoke else DOC)
        write_report(out, doc, results_dir)
        _log(f"report: {doc}")
    _log(f"results: {results_dir / 'results.json'} ({out['seconds']:.1f} s)")
    return 0
