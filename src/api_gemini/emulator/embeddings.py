"""Deterministic embeddings for ``embedContent`` and ``batchEmbedContents``.

The vector of a text is a pure function of (model, text, taskType, title): unit length,
``outputDimensionality`` values (3072 by default, gemini-embedding-001's size,
https://ai.google.dev/gemini-api/docs/embeddings). Equal texts give equal vectors, so a
test can check a round trip; the values mean nothing else.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

from .model import conversation_text
from .wire import WireError

__all__ = ["DEFAULT_DIMENSIONS", "embed_request"]

DEFAULT_DIMENSIONS = 3072
_MAX_DIMENSIONS = 3072


def _vector(seed_text: str, size: int) -> list[float]:
    digest = hashlib.blake2b(seed_text.encode(), digest_size=8).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    values = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def embed_request(model: str, request: dict[str, Any], where: str = "") -> dict[str, Any]:
    """The ``ContentEmbedding`` of one (schema-checked, camelCase) EmbedContentRequest.

    Raises:
        WireError: 400 without content or with a dimensionality out of range.
    """
    content = request.get("content")
    if not content or not content.get("parts"):
        raise WireError(400, f"* {where}content: content is not specified\n".lstrip())
    size = int(request.get("outputDimensionality") or DEFAULT_DIMENSIONS)
    if not 1 <= size <= _MAX_DIMENSIONS:
        raise WireError(
            400, f"outputDimensionality must be between 1 and {_MAX_DIMENSIONS}, got {size}."
        )
    text = conversation_text([content])
    seed = "\x00".join(
        (model, text, str(request.get("taskType") or ""), str(request.get("title") or ""))
    )
    return {"values": _vector(seed, size)}
