"""The bench environment: TLS material, the emulator process, worker processes, CPU pins.

The emulator always runs in its own process, over TLS, pinned to the last CPU; every
client runs in a worker process (``python -m harness.worker``) pinned to CPU 0, so
the client's CPU time is its own and client and server do not share a core.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
#: The directory holding the ``harness`` package.
BENCHMARKS = ROOT / "benchmarks"

#: The CPU the emulator is pinned to, and the one the clients are pinned to.
SERVER_CPU = (os.cpu_count() or 1) - 1
CLIENT_CPU = 0


@dataclass(frozen=True)
class Tls:
    """Paths of a throwaway CA and of a server certificate for 127.0.0.1 it signed."""

    ca: str
    cert: str
    key: str


def make_tls(folder: Path) -> Tls:
    """A trustme CA and a server certificate for 127.0.0.1 / localhost, as PEM files."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = Tls(str(folder / "ca.pem"), str(folder / "server.pem"), str(folder / "server.key"))
    ca.cert_pem.write_to_path(paths.ca)
    server.private_key_pem.write_to_path(paths.key)
    with open(paths.cert, "wb") as f:
        for blob in server.cert_chain_pems:
            f.write(blob.bytes())
    return paths


def pin(pid: int, cpu: int) -> None:
    """Pin a process to one CPU (when the machine has two or more)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: ``src`` and the harness importable, no proxies."""
    env = {
        k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != "NO_PROXY"
    }
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SRC), str(BENCHMARKS), os.environ.get("PYTHONPATH")) if p
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def emulator(tls: Tls, **options: float | int) -> Iterator[str]:
    """``python -m api_gemini.emulator`` over TLS in a pinned process; yields its base URL.

    ``options`` are the command's pacing flags without dashes, e.g. ``tokens_per_chunk=8``.
    """
    argv = [
        sys.executable,
        "-m",
        "api_gemini.emulator",
        "--port",
        "0",
        "--tls-cert",
        tls.cert,
        "--tls-key",
        tls.key,
        # The client is measured, not the wait for audio playback before turnComplete.
        "--playback-time-scale",
        "0",
    ]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), text=True
    )
    try:
        pin(proc.pid, SERVER_CPU)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=10)
            raise RuntimeError(f"the emulator did not start: {err}")
        yield line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def run_worker(jobs: list[dict[str, Any]], tls: Tls, timeout: float = 600) -> list[Any]:
    """Run ``jobs`` in order in one fresh worker process pinned to the client CPU.

    Each job is ``{"job": name, ...arguments}`` (see :mod:`harness.worker`); returns
    their results in order. The worker trusts the test CA through ``SSL_CERT_FILE``
    (the official SDK reads it) and gets the CA path for our own client.
    """
    with tempfile.NamedTemporaryFile("w+", suffix=".json") as out:
        payload = json.dumps({"ca": tls.ca, "jobs": jobs, "out": out.name})
        proc = subprocess.run(
            [sys.executable, "-m", "harness.worker"],
            input=payload,
            capture_output=True,
            text=True,
            env=child_env(SSL_CERT_FILE=tls.ca, PYTHONWARNINGS="ignore"),
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"worker failed ({proc.returncode}) on {[j['job'] for j in jobs]}:\n"
                f"{proc.stderr[-4000:]}"
            )
        out.seek(0)
        results: list[Any] = json.load(out)
        return results


@contextlib.contextmanager
def latency_proxy(base_url: str, rtt_ms: float) -> Iterator[str]:
    """``python -m api_gemini.emulator.proxy`` adding ``rtt_ms`` of round-trip time in
    front of ``base_url``, pinned next to the server; yields the proxied base URL."""
    target = base_url.split("://", 1)[1].rstrip("/")
    argv = [sys.executable, "-m", "api_gemini.emulator.proxy", "--target", target]
    argv += ["--rtt-ms", str(rtt_ms)]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), text=True
    )
    try:
        pin(proc.pid, SERVER_CPU)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=10)
            raise RuntimeError(f"the proxy did not start: {err}")
        yield f"https://{line.split()[-1]}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
