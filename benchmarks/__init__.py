"""Benchmarks of api_gemini against the official SDK and the transport's own floor.

Run everything with ``.venv/bin/python -m benchmarks`` (``--smoke`` for a few-second
check that the harness works); the method and the figures are in
``docs/performance.md``. ``benchmarks/decisions/`` holds the smaller benchmarks behind
the choices in ``docs/decisions.md``.
"""
