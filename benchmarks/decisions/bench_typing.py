"""Wire-type library: msgspec Structs vs pydantic v2 models (plus orjson / json references).

Decodes a Gemini streaming chunk and a Live ``serverContent`` message into typed objects,
encodes a small ``GenerateContentRequest``, and measures each library's import time.

Run: .venv/bin/python benchmarks/decisions/bench_typing.py
"""

from __future__ import annotations

import json
import statistics
import sys
import timeit
from collections.abc import Callable

import _wire_msgspec as mw
import _wire_pydantic as pw
import msgspec
import orjson
import pydantic
from _common import import_times

from api_gemini.types import (
    Content,
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationConfig,
    Part,
)

CHUNK = (
    b'{"candidates":[{"content":{"parts":[{"text":"Hello there, "}],"role":"model"},'
    b'"index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,'
    b'"totalTokenCount":8},"modelVersion":"gemini-2.5-flash","responseId":"abc"}'
)
LIVE = b'{"serverContent":{"modelTurn":{"parts":[{"text":"Hello"}]}}}'

REPEATS = 9


def per_call_us(fn: Callable[[], object]) -> float:
    """Median over REPEATS of the mean time per call, in microseconds."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(number, 20_000)
    runs = timer.repeat(repeat=REPEATS, number=number)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    m_resp = msgspec.json.Decoder(GenerateContentResponse)
    m_live = msgspec.json.Decoder(mw.LiveServerMessage)
    m_enc = msgspec.json.Encoder()

    m_req = GenerateContentRequest(
        contents=[Content(role="user", parts=[Part(text="Write a haiku about the sea.")])],
        system_instruction=Content(parts=[Part(text="You are terse.")]),
        generation_config=GenerationConfig(temperature=0.7, max_output_tokens=64),
    )
    p_req = pw.GenerateContentRequest(
        contents=[pw.Content(role="user", parts=[pw.Part(text="Write a haiku about the sea.")])],
        system_instruction=pw.Content(parts=[pw.Part(text="You are terse.")]),
        generation_config=pw.GenerationConfig(temperature=0.7, max_output_tokens=64),
    )
    m_bytes = m_enc.encode(m_req)
    p_bytes = p_req.model_dump_json(by_alias=True, exclude_none=True).encode()
    assert json.loads(m_bytes) == json.loads(p_bytes), (m_bytes, p_bytes)

    # Same results from every path.
    assert m_resp.decode(CHUNK).text == "Hello there, "
    p = pw.GenerateContentResponse.model_validate_json(CHUNK)
    assert p.candidates[0].content is not None
    assert p.candidates[0].content.parts[0].text == "Hello there, "
    assert pw.LiveServerMessage.model_validate_json(LIVE).server_content is not None
    assert m_live.decode(LIVE).server_content is not None

    def text_orjson(raw: bytes) -> str:
        d = orjson.loads(raw)
        return str(d["candidates"][0]["content"]["parts"][0]["text"])

    def text_json(raw: bytes) -> str:
        d = json.loads(raw)
        return str(d["candidates"][0]["content"]["parts"][0]["text"])

    def live_orjson(raw: bytes) -> str:
        return str(orjson.loads(raw)["serverContent"]["modelTurn"]["parts"][0]["text"])

    def live_json(raw: bytes) -> str:
        return str(json.loads(raw)["serverContent"]["modelTurn"]["parts"][0]["text"])

    req_dict = m_req.to_dict()

    rows: list[tuple[str, float, float, float]] = [
        (
            "msgspec Struct",
            per_call_us(lambda: m_resp.decode(CHUNK)),
            per_call_us(lambda: m_live.decode(LIVE)),
            per_call_us(lambda: m_enc.encode(m_req)),
        ),
        (
            "pydantic v2 model",
            per_call_us(lambda: pw.GenerateContentResponse.model_validate_json(CHUNK)),
            per_call_us(lambda: pw.LiveServerMessage.model_validate_json(LIVE)),
            per_call_us(lambda: p_req.model_dump_json(by_alias=True, exclude_none=True)),
        ),
        (
            "orjson dict (ref)",
            per_call_us(lambda: text_orjson(CHUNK)),
            per_call_us(lambda: live_orjson(LIVE)),
            per_call_us(lambda: orjson.dumps(req_dict)),
        ),
        (
            "stdlib json dict (ref)",
            per_call_us(lambda: text_json(CHUNK)),
            per_call_us(lambda: live_json(LIVE)),
            per_call_us(lambda: json.dumps(req_dict, separators=(",", ":")).encode()),
        ),
    ]

    print(f"Python {sys.version.split()[0]}, msgspec {msgspec.__version__}, ", end="")
    print(f"pydantic {pydantic.VERSION}, orjson {orjson.__version__}")
    print(f"chunk {len(CHUNK)} B, live {len(LIVE)} B, request {len(m_bytes)} B")
    print("per message, microseconds (median of", REPEATS, "repeats)")
    print(f"{'library':<24}{'decode chunk':>14}{'decode live':>13}{'encode req':>12}")
    for name, dc, dl, enc in rows:
        print(f"{name:<24}{dc:>14.2f}{dl:>13.2f}{enc:>12.2f}")
    print()
    print("import time, ms (cumulative, -X importtime, median of 9 fresh interpreters)")
    imports = [
        ("msgspec", "library alone"),
        ("pydantic", "lazy top-level package only"),
        ("pydantic.main", "what BaseModel needs"),
        ("_wire_msgspec", "msgspec + the wire classes"),
        ("_wire_pydantic", "pydantic + the same classes"),
        ("api_gemini.types", "the real package (incl. settings, errors)"),
        ("orjson", "reference"),
        ("json", "reference"),
    ]
    times = import_times([mod for mod, _ in imports])
    for mod, note in imports:
        print(f"  {mod:<20}{times[mod]:>8.1f}  {note}")


if __name__ == "__main__":
    main()
