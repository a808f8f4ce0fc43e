"""The emulator's deterministic "model": answers are pure functions of their input.

HTTP (``generateContent``, ``streamGenerateContent``) and Live (``BidiGenerateContent``)
share this module, so a conversation gets the same answer over either transport.

How an answer is made
---------------------

The *conversation text* is every text part of the system instruction and of every turn
(user and model), joined by newlines. The last user turn's text is the *prompt*. Then,
first match wins:

``echo: TEXT``
    The answer is ``TEXT`` exactly, split into word tokens (a word plus the white
    space after it), so ``"".join(tokens) == TEXT``. Not cut at ``maxOutputTokens``.

``recall``  (the whole prompt, case-insensitive)
    The answer is the texts of the *previous* user turns joined by ``" | "``. It
    proves that context survived (e.g. a Live session resumption).

a prompt naming a declared function (``call get_weather``)
    When the request declares functions and the prompt contains one's name as a word,
    the answer is one ``functionCall`` part ``{id, name, args}`` instead of text.
    ``args`` are deterministic values built from the declaration's parameter schema
    (strings are vocabulary words, numbers small integers, booleans ``true``).

a last user turn holding ``functionResponse`` parts
    The answer is the text ``"NAME returned {json}. "`` for each response, in word
    tokens (compact JSON with sorted keys).

anything else
    Exactly ``maxOutputTokens`` tokens (``default_max_output_tokens`` when unset),
    each a word of :data:`VOCABULARY` followed by one space, chosen by a PRNG seeded
    with a hash of (model name, conversation text).

Tokens are grouped ``tokens_per_chunk`` per chunk, so a caller can ask for exactly
``ceil(maxOutputTokens / tokens_per_chunk)`` chunks.

Token counts: ``promptTokenCount`` is the number of white-space separated words of the
conversation text, plus :data:`INLINE_DATA_TOKENS` per inline-data part;
``candidatesTokenCount`` (Live: ``responseTokenCount``) is the number of answer tokens
(a function call counts 1 + the number of its arguments).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "INLINE_DATA_TOKENS",
    "VOCABULARY",
    "Answer",
    "FunctionCallAnswer",
    "chunk_tokens",
    "conversation_text",
    "count_tokens",
    "declared_functions",
    "generate_answer",
    "pcm_audio_for",
    "split_words",
]

#: Tokens counted for each inline-data part (what the real API counts for an image).
INLINE_DATA_TOKENS = 258

_WORDS = """
    the a of and to in is it that for on with as was at by this be from or an are
    stream token socket frame model answer gemini live server client message chunk
    quick brown fox jumps over lazy dog river mountain ocean forest cloud sun moon
    star light sound wave signal packet buffer queue latency window context turn
    voice audio video text image session handle resume pause cancel retry deadline
    bright calm swift steady gentle silent vivid clear warm cold early late open
    close begin finish learn build test measure observe reply listen speak write
    read send receive carry hold keep move rest wait run walk think dream number
    seven eleven twenty hundred thousand first second third last next little big
"""
#: The words generated answers are made of.
VOCABULARY: tuple[str, ...] = tuple(_WORDS.split())

_WORD_RE = re.compile(r"\S+\s*")


def split_words(text: str) -> list[str]:
    """Split ``text`` into word tokens that concatenate back to it (leading space kept)."""
    tokens = _WORD_RE.findall(text)
    # Leading white space belongs to no word: glue it to the first token so nothing is lost.
    lead = len(text) - len(text.lstrip())
    if lead and tokens:
        tokens[0] = text[:lead] + tokens[0]
    elif lead:
        tokens = [text]
    return tokens


def chunk_tokens(tokens: Sequence[str], per_chunk: int) -> list[str]:
    """Group tokens ``per_chunk`` at a time into chunk texts (at least one chunk)."""
    per_chunk = max(1, per_chunk)
    if not tokens:
        return [""]
    if per_chunk == 1:
        return list(tokens)
    return ["".join(tokens[i : i + per_chunk]) for i in range(0, len(tokens), per_chunk)]


def _parts(content: Any) -> list[Any]:
    if isinstance(content, Mapping):
        parts = content.get("parts")
        if isinstance(parts, list):
            return parts
    return []


def _texts(content: Any) -> list[str]:
    return [
        p["text"]
        for p in _parts(content)
        if isinstance(p, Mapping) and isinstance(p.get("text"), str)
    ]


def conversation_text(contents: Iterable[Any], system_instruction: Any = None) -> str:
    """Every text part of the system instruction and the turns, joined by newlines."""
    texts: list[str] = _texts(system_instruction) if system_instruction is not None else []
    for content in contents:
        texts.extend(_texts(content))
    return "\n".join(texts)


def count_tokens(contents: Iterable[Any], system_instruction: Any = None) -> int:
    """Words of all text parts, plus :data:`INLINE_DATA_TOKENS` per inline-data part."""
    total = 0
    everything = list(contents)
    if system_instruction is not None:
        everything.append(system_instruction)
    for content in everything:
        for part in _parts(content):
            if not isinstance(part, Mapping):
                continue
            text = part.get("text")
            if isinstance(text, str):
                total += len(text.split())
            if part.get("inlineData") is not None:
                total += INLINE_DATA_TOKENS
    return total


def declared_functions(tools: Any) -> dict[str, Mapping[str, Any]]:
    """The function declarations of a ``tools`` list, by name (camelCase input)."""
    found: dict[str, Mapping[str, Any]] = {}
    if not isinstance(tools, list):
        return found
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        decls = tool.get("functionDeclarations")
        if not isinstance(decls, list):
            continue
        for decl in decls:
            if isinstance(decl, Mapping) and isinstance(decl.get("name"), str):
                found[decl["name"]] = decl
    return found


@dataclass(frozen=True, slots=True)
class FunctionCallAnswer:
    """A function call the model asks for: ``{id, name, args}`` on the wire."""

    id: str
    name: str
    args: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        """The ``functionCall`` object."""
        return {"id": self.id, "name": self.name, "args": self.args}


@dataclass(frozen=True, slots=True)
class Answer:
    """What the model answers: text tokens, or one function call."""

    tokens: list[str] = field(default_factory=list)
    function_call: FunctionCallAnswer | None = None
    prompt_token_count: int = 0
    seed: int = 0

    @property
    def text(self) -> str:
        """The whole answer text (``""`` for a function call)."""
        return "".join(self.tokens)

    @property
    def token_count(self) -> int:
        """Answer tokens, as reported in usage metadata."""
        if self.function_call is not None:
            return 1 + len(self.function_call.args)
        return len(self.tokens)

    def chunks(self, per_chunk: int) -> list[str]:
        """The answer text grouped into chunk texts."""
        return chunk_tokens(self.tokens, per_chunk)


def _seed(model: str, text: str) -> int:
    digest = hashlib.blake2b(f"{model}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _schema_value(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    """A deterministic value of a (proto-style or JSON-Schema) schema."""
    if not isinstance(schema, Mapping) or depth > 4:
        return rng.choice(VOCABULARY)
    kind = str(schema.get("type", "string")).lower()
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[rng.randrange(len(enum))]
    if kind in ("integer", "number"):
        return rng.randrange(1, 100)
    if kind == "boolean":
        return True
    if kind == "array":
        return [_schema_value(schema.get("items"), rng, depth + 1)]
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, Mapping):
            return {}
        return {str(k): _schema_value(v, rng, depth + 1) for k, v in sorted(props.items())}
    return rng.choice(VOCABULARY)


def _function_args(decl: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    schema = decl.get("parameters")
    if schema is None:
        schema = decl.get("parametersJsonSchema")
    if not isinstance(schema, Mapping):
        return {}
    value = _schema_value({**schema, "type": "object"}, rng)
    return value if isinstance(value, dict) else {}


def _names_function(prompt: str, functions: Mapping[str, Any]) -> str | None:
    if not functions:
        return None
    words = set(re.findall(r"[A-Za-z0-9_.\-]+", prompt))
    for name in functions:
        if name in words:
            return name
    return None


def generate_answer(
    model: str,
    contents: Sequence[Any],
    *,
    max_output_tokens: int,
    system_instruction: Any = None,
    tools: Any = None,
    call_id_prefix: str = "fc",
) -> Answer:
    """The answer of ``model`` to a conversation (camelCase Content dicts).

    The result depends only on the arguments; see the module docstring for the rules.
    """
    text = conversation_text(contents, system_instruction)
    prompt_tokens = count_tokens(contents, system_instruction)
    seed = _seed(model, text)
    user_turns = [
        c for c in contents if isinstance(c, Mapping) and c.get("role", "user") != "model"
    ]
    last = user_turns[-1] if user_turns else None
    prompt = "\n".join(_texts(last)).strip() if last is not None else ""

    # A reply to a function call: say what the function returned.
    responses = [
        p["functionResponse"]
        for p in _parts(last)
        if isinstance(p, Mapping) and isinstance(p.get("functionResponse"), Mapping)
    ]
    if responses and not prompt:
        said = "".join(
            f"{r.get('name', 'function')} returned "
            f"{json.dumps(r.get('response', {}), sort_keys=True, separators=(',', ':'))}. "
            for r in responses
        )
        return Answer(split_words(said), prompt_token_count=prompt_tokens, seed=seed)

    if prompt.startswith("echo:"):
        echoed = prompt[len("echo:") :]
        echoed = echoed[1:] if echoed.startswith(" ") else echoed
        return Answer(split_words(echoed), prompt_token_count=prompt_tokens, seed=seed)

    if prompt.lower() == "recall":
        previous = [" ".join(_texts(c)) for c in user_turns[:-1]]
        recalled = " | ".join(t for t in previous if t)
        return Answer(split_words(recalled), prompt_token_count=prompt_tokens, seed=seed)

    functions = declared_functions(tools)
    name = _names_function(prompt, functions)
    if name is not None:
        rng = random.Random(seed)
        args = _function_args(functions[name], rng)
        call = FunctionCallAnswer(
            id=f"{call_id_prefix}-{seed & 0xFFFFFFFF:08x}", name=name, args=args
        )
        return Answer(function_call=call, prompt_token_count=prompt_tokens, seed=seed)

    rng = random.Random(seed)
    words = rng.choices(VOCABULARY, k=max(0, max_output_tokens))
    return Answer([w + " " for w in words], prompt_token_count=prompt_tokens, seed=seed)


_PCM_CACHE: dict[str, bytes] = {}


def pcm_audio_for(text: str, bytes_per_token: int = 960) -> bytes:
    """Deterministic 16-bit PCM "speech" for a chunk of answer text.

    Each word token yields ``bytes_per_token`` bytes (960 = 20 ms at 24 kHz mono), a
    pattern derived from the word, so audio is reproducible and never all silence.
    """
    out = []
    for token in split_words(text) or [text]:
        block = _PCM_CACHE.get(token)
        if block is None:
            pattern = hashlib.blake2b(token.encode(), digest_size=64).digest()
            reps = -(-bytes_per_token // len(pattern))
            block = (pattern * reps)[:bytes_per_token]
            if len(_PCM_CACHE) < 4096:
                _PCM_CACHE[token] = block
        out.append(block)
    return b"".join(out)
