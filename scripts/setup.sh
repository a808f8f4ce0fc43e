#!/usr/bin/env bash
# Create .venv and install the project into it, editable, with a set of extras:
#   bash scripts/setup.sh                      # dev: everything the tests need (default)
#   bash scripts/setup.sh websocket,emulator   # only what scripts/demo.sh needs
# Fast when nothing changed: it installs again only when pyproject.toml is newer than
# the last install of that set (dev contains every other set).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-dev}
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "api_gemini needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
current() { [ -f "$1" ] && [ ! pyproject.toml -nt "$1" ]; }
stamp=.venv/.api-gemini-installed-${extras//,/-}
# (.api-gemini-installed is the stamp of older checkouts, which installed dev.)
if current "$stamp" || current .venv/.api-gemini-installed-dev || current .venv/.api-gemini-installed; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv || {
    echo "could not create .venv: on Debian or Ubuntu, apt-get install python3-venv" >&2
    exit 1
  }
fi
echo "installing api_gemini[$extras] into .venv (first run only)..." >&2
# pip as the venv has it (no self-upgrade: it costs seconds and any pip >= 21.3 installs
# this project). The grep drops a notice about this machine's extra package folders.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]" 2>&1 \
  | grep -v '^WARNING: Location' >&2 || true
# Fail loudly if the install did not work (pip's status is lost in the pipe).
case ",$extras," in
  *,dev,*) check='import api_gemini, websockets, aiohttp, pytest, mypy' ;;
  *) check='import api_gemini' ;;
esac
case ",$extras," in *,websocket,*) check="$check, websockets" ;; esac
case ",$extras," in *,emulator,*) check="$check, aiohttp" ;; esac
.venv/bin/python -c "$check"
touch "$stamp"
