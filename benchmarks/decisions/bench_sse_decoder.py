"""SSE decoding: api_gemini's hand-written decoder vs httpx2's built-in SSE support.

Both read the same ``streamGenerateContent?alt=sse`` bodies out of the same httpx2
``Response`` (bytes from memory, no network, so only the decoding differs):

- ours: ``response.iter_bytes()`` fed to :class:`api_gemini.http.sse.SSEDecoder`;
- httpx2: ``httpx2.EventSource(response, max_event_size=...)``, what ``client.sse()``
  yields (it decodes text with ``iter_text()`` and splits lines on str).

Bodies: the service's shape (``data: {chunk}`` + CRLF CRLF, a ~330-byte JSON chunk),
read one event per read (a server flushing each chunk), in 16 KiB reads, in 64-byte
reads (a slow link), and one 4 MiB event (an inline image) in 16 KiB reads. Then the
behaviours that differ, each as a yes/no.

Run: .venv/bin/python benchmarks/decisions/bench_sse_decoder.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator

import httpx2

from api_gemini.http.sse import SSEDecoder

CHUNK = (
    '{"candidates":[{"content":{"parts":[{"text":"The sky looks blue because air '
    'molecules scatter short wavelengths of sunlight more than long ones, "}],'
    '"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":7,'
    '"candidatesTokenCount":18,"totalTokenCount":25},"modelVersion":"gemini-2.5-flash",'
    '"responseId":"mFcvaKmWJIqvnvgPq4bz8Ag"}'
)
EVENT = f"data: {CHUNK}\r\n\r\n".encode()
EVENTS = 400
REPEATS = 7


def _reads(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def _response(reads: list[bytes]) -> httpx2.Response:
    return httpx2.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=iter(reads),
        request=httpx2.Request("POST", "http://127.0.0.1/v1beta/models/m:streamGenerateContent"),
    )


def ours(reads: list[bytes], limit: int) -> list[str]:
    decoder = SSEDecoder(max_line_bytes=limit, max_event_bytes=limit)
    data: list[str] = []
    for raw in _response(reads).iter_bytes():
        data.extend(event.data for event in decoder.feed(raw))
    data.extend(event.data for event in decoder.close())
    return data


def theirs(reads: list[bytes], limit: int) -> list[str]:
    return [event.data for event in httpx2.EventSource(_response(reads), max_event_size=limit)]


def ours_alone(reads: list[bytes], limit: int) -> list[str]:
    decoder = SSEDecoder(max_line_bytes=limit, max_event_bytes=limit)
    data: list[str] = []
    for raw in reads:
        data.extend(event.data for event in decoder.feed(raw))
    data.extend(event.data for event in decoder.close())
    return data


def theirs_alone(reads: list[bytes], limit: int) -> list[str]:
    # What EventSource does with the bytes: iter_text()'s incremental UTF-8 decoding,
    # then its parser (private: named here only to isolate the decoding cost).
    from httpx2._decoders import TextDecoder
    from httpx2._sse import _SSEParser

    text = TextDecoder(encoding="utf-8")
    parser = _SSEParser(limit)
    data: list[str] = []
    for raw in reads:
        data.extend(event.data for event in parser.decode(text.decode(raw)))
    data.extend(event.data for event in parser.decode(text.flush()))
    data.extend(event.data for event in parser.flush())
    return data


def per_event_us(decode: Callable[[list[bytes], int], list[str]], reads: list[bytes]) -> float:
    """Median over REPEATS of the CPU time per event, in microseconds (CPU time of this
    process, so that other work on a shared machine does not count)."""
    limit = 16 * 1024 * 1024
    expected = len(decode(reads, limit))
    runs = []
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(5):
            decode(reads, limit)
        runs.append((time.process_time() - started) / 5 / expected * 1e6)
    return statistics.median(runs)


def workloads() -> Iterator[tuple[str, list[bytes]]]:
    body = EVENT * EVENTS
    yield f"{EVENTS} chunks, one per read", [EVENT] * EVENTS
    yield f"{EVENTS} chunks, 16 KiB reads", _reads(body, 16 * 1024)
    yield f"{EVENTS} chunks, 64-byte reads", _reads(body, 64)
    image = b'data: {"inlineData":"' + b"A" * (4 * 1024 * 1024) + b'"}\r\n\r\n'
    yield "one 4 MiB event, 16 KiB reads", _reads(image, 16 * 1024)


def behaviours() -> list[tuple[str, bool, bool]]:
    """(case, ours right, httpx2 right), each checked on both decoders."""

    def both(reads: list[bytes], limit: int = 16 * 1024 * 1024) -> tuple[object, object]:
        results: list[object] = []
        for decode in (ours, theirs):
            try:
                results.append(decode(reads, limit))
            except Exception as exc:  # the behaviour under test may be an error
                results.append(type(exc).__name__)
        return results[0], results[1]

    cases: list[tuple[str, bool, bool]] = []
    o, t = both([b"data: a\r", b"\ndata: b\r\n\r\n"])
    cases.append(("CRLF split across two reads is one line end", o == ["a\nb"], t == ["a\nb"]))
    o, t = both(["data: x\u2028y\n\n".encode()])
    cases.append(("U+2028 inside data does not end a line", o == ["x\u2028y"], t == ["x\u2028y"]))
    o, t = both([b"event: ping\n\ndata: a\n\n"])
    cases.append(("an event with no data is not dispatched (spec)", o == ["a"], t == ["a"]))
    o, t = both([b"data: " + CHUNK.encode() + b"\r\n"])
    cases.append(
        ("a last event without its blank line is delivered, not lost", o == [CHUNK], t == [CHUNK])
    )
    image = [b'data: {"inlineData":"' + b"A" * (2 * 1024 * 1024) + b'"}\r\n\r\n']
    o, t = both(image, limit=1024 * 1024)
    cases.append(("an event over the limit is an error", o == "ValueError", t == "SSEError"))
    o, t = both([b"data: " + b"x" * 100_000], limit=64 * 1024)
    cases.append(("an endless line is bounded", o == "ValueError", t == "SSEError"))
    o, t = both([b"data: caf\xc3", b"\xa9\n\n"])
    cases.append(("UTF-8 split across reads", o == ["caf\u00e9"], t == ["caf\u00e9"]))
    return cases


def main() -> None:
    print(f"python {sys.version.split()[0]}, httpx2 {httpx2.__version__}")
    for title, mine_fn, other_fn in (
        ("through an httpx2 Response", ours, theirs),
        ("the decoders alone", ours_alone, theirs_alone),
    ):
        print(f"\n{title}: CPU us per event (median of {REPEATS})")
        print(f"{'workload':34} {'ours':>10} {'httpx2':>10} {'httpx2/ours':>12}")
        for name, reads in workloads():
            mine = per_event_us(mine_fn, reads)
            other = per_event_us(other_fn, reads)
            print(f"{name:34} {mine:10.2f} {other:10.2f} {other / mine:12.2f}")
    print()
    print(f"{'behaviour':60} {'ours':>5} {'httpx2':>6}")
    for case, mine_ok, other_ok in behaviours():
        print(f"{case:60} {'yes' if mine_ok else 'no':>5} {'yes' if other_ok else 'no':>6}")


if __name__ == "__main__":
    main()
