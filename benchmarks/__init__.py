"""Benchmarks of api_gemini against the official SDK and the transport's own floor.

Run everything with ``.venv/bin/python -m benchmarks`` (``--smoke`` for a few-second
check that the harness works). See ``benchmarks/README.md`` and ``docs/performance.md``.
"""
