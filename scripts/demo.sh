#!/usr/bin/env bash
# The main job: stream an answer over WebSocket (Live API) as it is generated.
# With GEMINI_API_KEY set it asks the real service; otherwise a local emulator.
#   bash scripts/demo.sh ["your prompt"]
# Installs only what that needs (the package with its websocket and emulator extras);
# scripts/test.sh installs the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh websocket,emulator
prompt=${1:-"Why is the sky blue?"}
if [ -n "${GEMINI_API_KEY:-}" ] || [ -n "${GEMINI_BASE_URL:-}" ]; then
  exec .venv/bin/api-gemini stream --stats "$prompt"
fi
echo "(no GEMINI_API_KEY: streaming from a local emulator; its answers are deterministic filler)" >&2
exec .venv/bin/api-gemini stream --emulator --stats "$prompt"
