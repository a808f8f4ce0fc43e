"""Helpers shared by the decision benchmarks."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_PYCACHE = tempfile.mkdtemp(prefix="decisions-pycache-")


def import_times(modules: list[str], runs: int = 9) -> dict[str, float]:
    """Median cumulative import time of each module in fresh interpreters, in ms.

    Uses ``python -X importtime``; the modules are measured round-robin so that drift in
    the machine's speed hits them alike. Byte code is cached in a private directory (the
    environment sets PYTHONDONTWRITEBYTECODE, which would otherwise make modules without
    a ``__pycache__`` pay for compiling on every run); a first, uncounted round fills it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    env["PYTHONPATH"] = HERE
    samples: dict[str, list[float]] = {m: [] for m in modules}
    for i in range(runs + 1):
        for module in modules:
            proc = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", f"import {module}"],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            # The top-level module is the last line: "import time: self | cumulative | name".
            lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("import time:")]
            if i:
                samples[module].append(int(lines[-1].split("|")[1]) / 1000)
    return {m: statistics.median(s) for m, s in samples.items()}


def pin(pid: int, cpu: int) -> None:
    """Pin a process to one CPU so that client and server do not share a core."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {cpu})
