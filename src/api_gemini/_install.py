"""The command that installs an extra, as the README gives it.

api_gemini is not published on a package index (``pip install 'api-gemini[websocket]'``
finds nothing), so it is installed from a clone of its repository:
``pip install -e '.[websocket]'`` inside the clone, or the clone's path from elsewhere.
Error messages about a missing extra name that command, with the path of the clone this
copy was installed from when it is known (an editable install), so it can be pasted.
"""

from __future__ import annotations

import shlex
from pathlib import Path

__all__ = ["install_command"]

#: The repository root of an editable install (``src/api_gemini/`` -> the root).
_SOURCE_ROOT = Path(__file__).resolve().parent.parent.parent


def install_command(extras: str) -> str:
    """``pip install -e '<clone>[EXTRAS]'`` for this copy's clone, or the README's form.

    ``extras``: one or more extras, comma-separated (``"websocket"``,
    ``"websocket,emulator"``).
    """
    if (_SOURCE_ROOT / "pyproject.toml").is_file() and (_SOURCE_ROOT / "src").is_dir():
        return f"pip install -e {shlex.quote(f'{_SOURCE_ROOT}[{extras}]')}"
    # A copy installed without its clone at hand (a wheel): the README's command.
    return f"pip install -e '.[{extras}]' (in a clone of the api_gemini repository)"
