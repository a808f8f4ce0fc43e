"""Embeddings over HTTP: one text, or several in one call.

GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/embeddings.py
"""

import asyncio
import math

from api_gemini import AsyncClient


async def main() -> None:
    async with AsyncClient() as client:
        model = client.models.by_name("gemini-embedding-001")
        one = await model.embed_content("The sky is blue.")
        assert one.embedding is not None
        print("dimensions:", len(one.embedding.values))

        # Options as in the API: task type, and a shorter vector.
        batch = await model.batch_embed_contents(
            [
                {
                    "content": {"parts": [{"text": "The sky is blue."}]},
                    "task_type": "SEMANTIC_SIMILARITY",
                    "output_dimensionality": 256,
                },
                {
                    "content": {"parts": [{"text": "Grass is green."}]},
                    "task_type": "SEMANTIC_SIMILARITY",
                    "output_dimensionality": 256,
                },
            ]
        )
        a, b = (e.values for e in batch.embeddings)
        cosine = sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
            sum(x * x for x in a) * sum(y * y for y in b)
        )
        print(f"{len(batch.embeddings)} vectors of {len(a)}; cosine {cosine:.3f}")


asyncio.run(main())
