"""Run the fault matrix, the hostile-input, property and security tests and the load run,
then write ``docs/reliability.md`` from what they measured.

::

    .venv/bin/python scripts/reliability_report.py            # full: 500 sessions etc.
    .venv/bin/python scripts/reliability_report.py --quick    # load at 50/50/20

Exits 1 if any test failed or the load run saw an error or a lost chunk (the document is
still written, with the failures in it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
PYTHON = sys.executable
TEST_FILES = [
    "tests/test_faults_matrix.py",
    "tests/test_faults_proxy.py",
    "tests/test_faults_sync.py",
    "tests/test_faults_load_smoke.py",
    "tests/test_hostile_http.py",
    "tests/test_hostile_ws.py",
    "tests/test_ws_write_stalls.py",
    "tests/test_http_habits.py",
    "tests/test_properties.py",
    "tests/test_security.py",
]
SURFACES = ("ws-stream", "live", "sse", "unary")
SURFACE_NAMES = {
    "ws-stream": "WS stream",
    "live": "Live session",
    "sse": "SSE stream",
    "unary": "unary HTTP",
}

# Behaviour this work found wrong in the client, and fixed (commit messages say more).
FIXES = [
    "The API key appeared in clear in `websockets`' DEBUG log of the handshake headers "
    "(`> x-goog-api-key: ...`): the Live connection now logs through a redacting logger "
    "(`websocket/connection.py`).",
    "A server that broke the WebSocket protocol (bad frame, message over the limit) and "
    "then went quiet held the receiver until the next keepalive ping, or forever without "
    "keepalive: `websockets` enforces `close_timeout` only on a later send. A timer now "
    "enforces it (`websocket/connection.py`).",
    "Deeply nested JSON (a hostile unary body, SSE chunk, SSE error event, HTTP error body, "
    "refused-upgrade body) raised `RecursionError`: now `ResponseParseError` / the typed "
    "`ApiError` / `WebSocketConnectionError` (`http/transport.py`, `errors.py`, "
    "`websocket/connection.py`).",
    "Unary success bodies were read without bound; now at most 64 MiB "
    "(`ResponseParseError` beyond). An SSE event made of endless short `data:` lines grew "
    "without bound; now 16 MiB per event, like a line (`http/sse.py`, `http/transport.py`).",
    "A hostile `Retry-After: inf` (or `nan`, `1e999`, or such a `RetryInfo` delay) gave "
    "`retry_after=inf`; a non-finite hint is now no hint (`errors.py`).",
    "An SSE server sending comments (or any bytes that never complete an event) held a "
    "stream forever: the read timeout restarts with every byte. The network wait between "
    "two events is now bounded by the read timeout too (`http/transport.py`).",
    "The SSE decoder copied the whole partial line on every read: quadratic time on a long "
    "line (0.30 s for 15 MiB in 64 KiB reads, 8x the new linear decoder's 0.04 s, and "
    "growing with the square). It now appends in place and scans only new bytes.",
    'An SSE error event was recognised only when its data began with `{"error"`: '
    "pretty-printed, split over `data:` lines, with another key first or an escaped key, "
    "it became an empty chunk and the stream succeeded. Any top-level `error` key now "
    "raises its `ApiError` (`http/events.py`).",
    "An SSE stream that ended cleanly with no `finishReason` (nor a blocked prompt) was "
    "taken as the whole answer; now `TruncatedStreamError` after the chunks it had.",
    "A 3xx, a 204, another 2xx or a `200 text/html` (a captive portal) gave an SSE stream "
    "0 chunks and no error, and `generate_content` `text=''` for a 302 `{}`; now "
    "`UnexpectedResponseError` (`status`, `content_type`).",
    "`models.list()` looped for ever on a repeated `nextPageToken` (11,851 pages in 10 s); "
    "it stops on any token seen before, and after 1,000 pages (`models.py`).",
    "The key went in clear over `http://` to a host that is not loopback; refused now "
    "(`ConfigurationError` before any network) unless `allow_insecure_http=True`.",
    "A key echoed by a server in an error body, an SSE error event or a redirect showed in "
    "`str(exc)`; the httpx2 exception, whose request headers hold the key, was kept as "
    "`__context__`; a password in `base_url` showed in `repr`. All three fixed.",
    "Cancelling an HTTP or SSE call during the TLS handshake left the socket open until "
    "garbage collection, `aclose()` notwithstanding (httpcore2 closes it only on an "
    "`Exception`); the clients we build now close it (`http/network.py`).",
    "`HTTPS://` in upper case made unary and SSE calls ignore `verify=`; `verify=None`, "
    "`0` or a missing CA file raised a raw `TypeError` / `FileNotFoundError`; now "
    "honoured, and `ConfigurationError`.",
    "The sync `Client` (issue 12): sixteen threads making their first WebSocket call at once "
    "started several loop threads and pools (some callers got `SessionStateError`, `close()` "
    "raised `RuntimeError ... attached to a different loop` and left a warm connection open); "
    "a Ctrl-C handled just as a chunk arrived dropped that chunk; `close()` from another "
    "thread ended other threads' streams as if they had finished, and a call on a closed "
    "client raised a retryable `TransportError`; a forked child using the inherited client "
    "hung. Now: one loop and pool under a lock, interrupts hand the chunk over, "
    "`ClientClosedError` (not retryable), a fresh loop in a forked child (`_portal.py`, "
    "`client.py`, `sync_live.py`; see decisions.md).",
]

#: The write side's own rows (tests/test_ws_write_stalls.py), written here, not measured:
#: a peer that stops reading cannot be played by the matrix's one short prompt.
WRITE_SECTION = [
    "### The write side: a peer that stops reading, ping floods (`tests/test_ws_write_stalls.py`)",
    "",
    "A hostile server on real sockets finishes setup and then stops reading (its receive "
    "buffer shrunk to 4 KiB), or floods pings and never reads the pongs. Scaled settings; the "
    "defaults are `write_timeout` 30 s, keepalive 20 s + 45 s, `close_timeout` as set.",
    "",
    "| row | what happens | passes when |",
    "|---|---|---|",
    (
        "| send to a peer that stopped reading | audio sent until the buffers are full, "
        "`write_timeout=0.3` | the send raises `WriteTimeoutError` (a `DisconnectedError`, "
        "1006, retryable, and a `TimeoutError`), the receiver hears the same, no key in it |"
    ),
    (
        "| keepalive while audio is sent | no write bound, keepalive 0.2 s + 0.5 s | the "
        "ping's own write counts: `KeepaliveTimeoutError` (a `TimeoutError`) within the bound "
        "while the sender is still sending |"
    ),
    (
        "| `close()` with a full write buffer | 8 MiB queued, never drained, `close_timeout=0.2` "
        "| `close()` returns within its bound; the blocked sender gets a typed error |"
    ),
    (
        "| ping flood, pongs never read | the server pings without end and reads nothing | the "
        "connection is dropped once 64 KiB of pongs are unread; client RSS grows < 32 MiB |"
    ),
    (
        "| warm connection whose keepalive times out | a pooled connection's peer stops "
        "reading | the pool discards it (the watcher used to spin on it) |"
    ),
    (
        "| closed one-shot stream | a stream completed or cancelled | neither it nor its "
        "connection is kept alive by its idle timer (weak references die after `gc.collect()`) |"
    ),
]


#: The sync client's own rows (tests/test_faults_sync.py), written here, not measured.
SYNC_SECTION = [
    "### The sync client: threads, Ctrl-C, fork (`tests/test_faults_sync.py`)",
    "",
    "The sync `Client` runs a slice of the matrix above on its four surfaces, and these rows of",
    "its own. Threads are ordered by barriers and events, never by sleeps; each row also checks",
    "that no thread, fd or socket is left once the client is closed.",
    "",
    "| row | what happens | passes when |",
    "|---|---|---|",
    (
        "| first use from 16 threads | 16 threads released by one barrier each call "
        "`client.models` and make their first WebSocket call on one client; the first loop "
        "start and the first HTTP transport are held open (bounded, 0.5 s) so that an unguarded "
        "second start would certainly get in | exactly one loop thread, one pool and one HTTP "
        "transport; every thread gets its whole answer; `close()` closes every warm connection "
        '(`discarded["pool_closed"]` equals the idle count) and raises nothing |'
    ),
    (
        "| pool read from the caller | `client.pool.metrics()`, `.health()`, "
        "`client.pool_metrics()` | `LivePool.metrics` / `.health` run on the loop thread only |"
    ),
    (
        "| `close()` while others stream | 3 WebSocket streams and 3 Live sessions, each past its "
        "first chunk, when another thread closes the client | each raises `ClientClosedError` "
        "(`retryable=False`), none ends as if finished; later WebSocket, SSE, unary calls and "
        "`client.models` raise it too |"
    ),
    (
        "| first use racing `close()` | a first WebSocket call and `close()` released together, 5 "
        "rounds | the call finishes whole or raises `ClientClosedError`; no loop thread is left |"
    ),
    (
        "| Ctrl-C after a chunk arrived | a real SIGINT to the main thread while it waits for "
        "chunk 0, 5 or 11 of 12; the handler raises `KeyboardInterrupt` only once the chunk has "
        "reached the waiting thread | after catching it, iterating on yields all 12 chunks, the "
        "interrupted one included (stream, `for event in session`, and the same `receive_turn()` "
        "iterator) |"
    ),
    (
        "| Ctrl-C while waiting | the same SIGINT, raised before the chunk arrives | nothing lost "
        "either |"
    ),
    (
        "| Ctrl-C as a stream opens | the same SIGINT while the main thread waits for a stream "
        "of a 150 s answer to open; raised once it has opened | the stream nobody will see is "
        "closed at once (no socket left while the client stays open) |"
    ),
    (
        "| fork | a child of `os.fork()` uses the parent's client, which has a loop thread and a "
        "stream open | the child streams on a fresh loop thread of its own, the parent's stream "
        "raises `SessionStateError` there, the child exits 0 within 30 s; the parent's stream goes "
        "on whole |"
    ),
]

NOTES = {
    "stall-after-3": (
        "Over Live, a connection whose server answers pings but sends no data is healthy "
        "by the protocol (a session may idle between turns), so the client raises "
        "nothing by itself: the caller bounds the wait (here `asyncio.timeout(0.2)`, "
        "giving `TimeoutError`), and cancelling leaves nothing behind. A one-shot "
        "stream also has its own bound, `WebSocketSettings.stream_idle_timeout` "
        "(120 s by default, like the HTTP read timeout), ending it with "
        "`StreamIdleTimeoutError` (also a `TimeoutError`); a Live session has none, "
        "since it may idle between turns."
    ),
    "goaway-after-3": "HTTP has no goAway: the HTTP cells check that the plan is harmless.",
    "slowpong-60": (
        "Pongs 60 ms late against a 200 ms keepalive timeout: the call must succeed (the "
        "service's pongs arrive 8-30 s late; the default timeout is 45 s)."
    ),
    "sse-error-pretty-after-3": (
        "This row and the next six are HTTP answers that only a broken server or one that "
        "is not the API gives (an error event in another JSON layout, a stream ending "
        "without a finishReason, a redirect, a 204, an HTML page), played by a raw HTTP "
        "server after the same first chunks (`test_http_answer_matrix`); no WebSocket "
        "counterpart. Before issue 12 the SSE cells ended without error."
    ),
    "http-429": (
        "A refused WebSocket upgrade carries `http_status` but no `retry_after` "
        "(`WebSocketConnectionError` has no such field); the HTTP errors carry it."
    ),
}


def run_tests(matrix_json: Path, junit: Path) -> int:
    env = dict(os.environ, API_GEMINI_MATRIX_JSON=str(matrix_json))
    cmd = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    # Our own interpreter and fixed arguments.
    return subprocess.run([*cmd, *TEST_FILES], cwd=ROOT, env=env, check=False).returncode  # noqa: S603


def run_load(out: Path, quick: bool, tls: bool) -> tuple[int, list[str]]:
    args = ["--sessions", "50", "--streams", "50", "--sse", "20"] if quick else []
    if tls:
        args.append("--tls")
    cmd = [PYTHON, "benchmarks/load.py", *args, "--json", str(out)]
    code = subprocess.run(cmd, cwd=ROOT, check=False, stdout=subprocess.DEVNULL).returncode  # noqa: S603
    return code, ["python", "benchmarks/load.py", *args]


def read_junit(path: Path) -> list[dict[str, Any]]:
    cases = []
    # The file pytest just wrote, not untrusted input.
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314
        failed = any(child.tag in ("failure", "error") for child in case)
        skipped = any(child.tag == "skipped" for child in case)
        cases.append(
            {
                "file": case.get("classname", "").split(".")[-1],
                "name": case.get("name", ""),
                "time": float(case.get("time", 0)),
                "outcome": "FAILED" if failed else ("skipped" if skipped else "passed"),
            }
        )
    return cases


def matrix_table(rows: list[dict[str, Any]]) -> list[str]:
    by_fault: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_fault[row["fault"]][row["surface"]] = row
    lines = [
        "| fault | " + " | ".join(SURFACE_NAMES[s] for s in SURFACES) + " |",
        "|---|" + "---|" * len(SURFACES),
    ]
    for fault, cells in by_fault.items():
        out = []
        for surface in SURFACES:
            cell = cells.get(surface)
            if cell is None:
                out.append("(not run)")
                continue
            detail = f" {cell['detail']}" if cell["detail"] else ""
            text = f"`{cell['outcome']}`{detail}<br>{cell['chunks']} chunks, "
            text += f"{cell['elapsed'] * 1000:.0f} ms (bound {cell['bound'] * 1000:.0f})"
            out.append(text)
        lines.append(f"| `{fault}` | " + " | ".join(out) + " |")
    return lines


def write_doc(
    rows: list[dict[str, Any]],
    cases: list[dict[str, Any]],
    loads: list[tuple[dict[str, Any] | None, list[str]]],
    seconds: float,
) -> None:
    failed = [c for c in cases if c["outcome"] == "FAILED"]
    by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in cases:
        by_file[case["file"]].append(case)
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# Reliability and security",
        "",
        "Generated by `scripts/reliability_report.py` "
        f"on {now} (Python {platform.python_version()}, {os.cpu_count()} CPUs); "
        "do not edit by hand. Re-run:",
        "",
        "```bash",
        ".venv/bin/python scripts/reliability_report.py          # everything below",
        ".venv/bin/pytest -q tests/test_faults_matrix.py         # the matrix alone",
        "python benchmarks/load.py [--tls]                       # the load run alone",
        "python -m api_gemini.emulator --fault close-1011-after-3  # a faulty emulator",
        "python -m api_gemini.emulator.proxy --target 127.0.0.1:8123 --rtt-ms 40",
        "```",
        "",
        f"Tests run for this report: {len(cases)}, failed: {len(failed)} "
        f"({seconds:.1f} s for tests and load together).",
        "",
    ]
    if failed:
        lines += ["**Failed:**", ""] + [f"- `{c['file']}::{c['name']}`" for c in failed] + [""]

    lines += [
        "## How faults are made",
        "",
        "- **Fault plans in the emulator** (`api_gemini.emulator.faults`): a spec such as "
        "`close-1011-after-3` selected per request by the `x-emulator-fault` header, by a "
        "`fault:SPEC` marker in the prompt, or for every request by "
        "`EmulatorConfig(fault=...)` / `--fault`. Kinds: close with a code, goAway, stall, "
        "no pongs, slow pongs, a malformed message, an oversized message, a flood of tiny "
        "chunks, an endless flood, garbage bytes, HTTP 429/500/503 with and without retry "
        "hints, and `first-K-SPEC` (SPEC on the first K requests, then served normally). "
        "The module docstring is the reference.",
        "- **A fault-injecting TCP proxy** (`api_gemini.emulator.proxy.FaultProxy`, also "
        "`python -m api_gemini.emulator.proxy`): latency each way, a bandwidth cap, a cut "
        "(FIN) or reset (RST) after N bytes or now, a black hole.",
        "",
        "## The matrix",
        "",
        "Every fault against every surface: the one-shot WebSocket stream "
        "(`model.stream_generate_content_websocket`), a Live session (`model.connect`), "
        "an SSE stream (`model.stream_generate_content`) and a unary call "
        "(`model.generate_content`), through the public `AsyncClient` against the emulator "
        "on real sockets (`tests/test_faults_matrix.py`). Each cell passes only if: the "
        "error is the typed one of its row (or the call succeeds, where the fault is "
        "harmless), it comes within the bound, the chunks sent before the fault arrive "
        "exactly once and in order (for proxy faults, a prefix of at least the 3 sent "
        "before), the error text holds no API key, and afterwards no asyncio task, file "
        "descriptor or socket is left (the `leak_check` fixture). Emulator faults come "
        "after 3 chunks of a 12-chunk answer; `net-*` are proxy faults injected once the "
        "3rd chunk arrived (unary: after 20 bytes of the response). Times are scaled: "
        "keepalive every 50 ms with a 200 ms timeout, HTTP read timeout 120 ms, size "
        "limits 64 KiB; the defaults are 20 s / 45 s, 120 s, and 16 MiB (WebSocket "
        "message, SSE event) / 64 MiB (unary body).",
        "",
        "Cell: outcome, close code or HTTP status, chunks delivered before the error, time "
        "from the call to the error (or the end).",
        "",
        *matrix_table(rows),
        "",
        "Notes:",
        "",
        *[f"- `{fault}`: {text}" for fault, text in NOTES.items()],
        "",
        *SYNC_SECTION,
        "",
        *WRITE_SECTION,
        "",
        "## Hostile server input",
        "",
        "Each a typed error from `api_gemini.errors` (or a normal answer where the input is "
        "legal, such as unknown keys), bounded in time and memory, with the chunks before "
        "it delivered, and nothing left behind. The JSON-level Live cases (non-UTF-8 text "
        "frame, JSON that is not an object, wrong types, one oversized frame, unknown "
        "keys, content before `setupComplete`) were already in `tests/test_ws_connection.py` "
        "and `tests/test_ws_protocol.py`; the files below add the rest.",
        "",
    ]
    for file in (
        "test_hostile_http",
        "test_hostile_ws",
        "test_properties",
        "test_security",
        "test_http_habits",
    ):
        group = by_file.get(file, [])
        if not group:
            continue
        title = {
            "test_hostile_http": "HTTP (`tests/test_hostile_http.py`)",
            "test_hostile_ws": "Live, frame level (`tests/test_hostile_ws.py`)",
            "test_properties": "Property tests, hypothesis (`tests/test_properties.py`)",
            "test_security": "Security (`tests/test_security.py`)",
            "test_http_habits": "HTTP retries, timeouts, an injected client "
            "(`tests/test_http_habits.py`, against the emulator's `first-K-SPEC` faults)",
        }[file]
        lines += [f"### {title}", ""]
        lines += [f"- {c['outcome']}: `{c['name']}` ({c['time'] * 1000:.0f} ms)" for c in group]
        lines.append("")

    lines += [
        "## Load",
        "",
        "One client process against the emulator in another process (plain, then TLS with "
        "a test CA), emulator paced at 200 tokens/s per answer. The Live phase opens every "
        "session at once and holds them all open (memory is measured then), then each "
        "sends one turn; the stream phases run every call at once. Every answer is known "
        "word by word, so a chunk lost, added, repeated or moved would be counted.",
        "",
    ]
    for load, load_cmd in loads:
        if load is None:
            lines += [f"`{' '.join(load_cmd)}` did not produce figures.", ""]
            continue
        lines += [
            f"`{' '.join(load_cmd)}` ({'TLS' if load.get('tls') else 'plain'}, "
            f"{load['words_per_answer'] + 1} chunks per answer):",
            "",
            "| phase | calls | ok | errors | lost | duplicated | reordered | chunks | wall s "
            "| first chunk p50 / p99 ms | total p50 / p99 ms |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in load["phases"]:
            errors = ", ".join(f"{k} {v}" for k, v in p["errors"].items()) or "0"
            lines.append(
                f"| {p['name']} | {p['calls']} | {p['ok']} | {errors} | {p['lost_chunks']} "
                f"| {p['duplicated_chunks']} | {p['reordered_calls']} | {p['chunks']} "
                f"| {p['wall_seconds']} | {p['first_chunk_p50_ms']} / {p['first_chunk_p99_ms']} "
                f"| {p['total_p50_ms']} / {p['total_p99_ms']} |"
            )
        live = next((p for p in load["phases"] if p["name"] == "live"), None)
        if live is not None:
            lines += [
                "",
                f"Live sessions: {live['calls']} opened and set up concurrently in "
                f"{live['open_seconds']} s. Memory per open session: "
                f"**{live['memory_per_open_kib']} KiB** in the client (RSS growth over all "
                f"sessions / sessions; client RSS {live['rss_open_mb']} MB with all open), "
                f"{live['emulator_memory_per_open_kib']} KiB in the emulator (RSS "
                f"{live['emulator_rss_mb']} MB). After the run: {load['leftover_tasks']} "
                f"library tasks left, {load['client_fds_after']} file descriptors open.",
            ]
        lines.append("")

    lines += ["## Client bugs found and fixed by this work", ""]
    lines += [f"- {fix}" for fix in FIXES]
    lines += [
        "",
        "## Known gaps",
        "",
        "- A Live *session* whose server keeps answering pings but sends nothing has no "
        "client-side idle timeout (sessions idle between turns; see the `stall` note); "
        "the caller's deadline is the bound. One-shot streams end after "
        "`stream_idle_timeout`.",
        "- A server trickling bytes just faster than the read timeout holds a *unary* "
        "call (its body is read whole, up to 64 MiB); there is no total deadline per "
        "request, the caller's `asyncio.timeout` is the bound.",
        "- A finite but huge `retry_after` (say `Retry-After: 1e9`) is passed on as "
        "given on the error; an opt-in `RetryPolicy` does not wait for a hint over its "
        "`max_retry_after` (60 s) and raises instead.",
        "- The sync `Client` runs a slice of the matrix (`tests/test_faults_sync.py`: "
        "close, malformed, 503 with a hint, no pongs, on its four surfaces), not all of it, "
        "plus its own rows for threads, Ctrl-C and fork.",
        "- A Ctrl-C that lands in the few bytecodes between the sync call getting its result "
        "and returning it can still drop that one result; the window the tests hit (the "
        "interrupt handled in the wait, as the result arrives) is closed.",
        "- After `os.fork()`, the sync client's HTTP connection pool (httpx2) is inherited as "
        "is; only the WebSocket side starts afresh in the child. An SSE stream in use when "
        'another thread calls `close()` fails with `ReadError` ("Bad file descriptor", '
        "marked retryable: httpx2 closes the socket under the reading thread), not "
        "`ClientClosedError`; the HTTP side is issue 12's HTTP work.",
        "",
    ]
    DOC.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """Run everything and write docs/reliability.md; returns the exit status."""
    parser = argparse.ArgumentParser(description="Write docs/reliability.md from a run.")
    parser.add_argument("--quick", action="store_true", help="a smaller load run")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        matrix_json = Path(tmp) / "matrix.jsonl"
        junit = Path(tmp) / "junit.xml"
        tests_code = run_tests(matrix_json, junit)
        loads: list[tuple[dict[str, Any] | None, list[str]]] = []
        load_codes = []
        for tls in (False, True):
            load_json = Path(tmp) / f"load-{tls}.json"
            code, cmd = run_load(load_json, args.quick, tls)
            load_codes.append(code)
            figures = json.loads(load_json.read_text()) if load_json.exists() else None
            loads.append((figures, cmd))
        rows = (
            [json.loads(line) for line in matrix_json.read_text().splitlines()]
            if matrix_json.exists()
            else []
        )
        cases = read_junit(junit) if junit.exists() else []
    write_doc(rows, cases, loads, time.perf_counter() - start)
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0 if tests_code == 0 and not any(load_codes) else 1


if __name__ == "__main__":
    sys.exit(main())
