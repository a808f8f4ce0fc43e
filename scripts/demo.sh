#!/usr/bin/env bash
# The main job: stream an answer over WebSocket (Live API) as it is generated.
# With GEMINI_API_KEY set it asks the real service; otherwise a local emulator.
#   bash scripts/demo.sh ["your prompt"]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
prompt=${1:-"Why is the sky blue?"}
if [ -n "${GEMINI_API_KEY:-}" ] || [ -n "${GEMINI_BASE_URL:-}" ]; then
  exec .venv/bin/api-gemini stream --stats "$prompt"
fi
echo "(no GEMINI_API_KEY: streaming from a local emulator; its answers are deterministic filler)" >&2
exec .venv/bin/api-gemini stream --emulator --stats "$prompt"
