"""Benchmarks of api_gemini against the official SDK and the transport's own floor.

Run everything with ``.venv/bin/python -m benchmarks`` (``--smoke`` for a few-second
check that the harness works); the method and the figures are in
``docs/performance.md``. The package is ``harness`` (``benchmarks/`` itself is not a
package, so the scripts under ``benchmarks/decisions/`` keep importing their siblings).
"""
