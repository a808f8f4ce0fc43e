#!/usr/bin/env bash
# The test command: lint, format check, strict types, then the test suite (each test
# with a timeout). Installs what it needs on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff" && .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy --strict" && .venv/bin/mypy
echo "== pytest" && .venv/bin/pytest -q -p no:cacheprovider --timeout=60 "$@"
