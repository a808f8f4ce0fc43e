#!/usr/bin/env bash
# The benchmarks (issue 6): api_gemini against google-genai and a bare websockets floor,
# with the emulator over TLS in its own process. Writes benchmarks/results/results.json,
# the plots next to it, and the tables in docs/performance.md. About 3 minutes.
#   bash scripts/bench.sh                 # everything
#   bash scripts/bench.sh --smoke         # tiny sizes, a few seconds (results in /tmp)
#   bash scripts/bench.sh --only cpu,ttfc # some scenarios
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m benchmarks "$@"
