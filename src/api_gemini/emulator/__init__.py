"""A local emulator of the Gemini API: HTTP (models, generateContent, SSE) and Live.

::

    from api_gemini.emulator import Emulator, EmulatorConfig

    async with Emulator(EmulatorConfig(tokens_per_second=200)) as emu:
        emu.base_url            # http://127.0.0.1:PORT
        emu.live_url("v1beta")  # ws://127.0.0.1:PORT/ws/google.ai...BidiGenerateContent

Answers are deterministic (see :mod:`api_gemini.emulator.model` for the special
prompts ``echo:``, ``recall`` and function calls). Run it as a process with
``python -m api_gemini.emulator --port 8123``. Needs the ``emulator`` extra (aiohttp).

As strict as today's service (``docs/emulator-fidelity.md``): today's models, requests
checked against the wire schema (unknown fields refused in the service's words), audio
only Live models with server-side voice activity detection, connection and session
lifetimes (``EmulatorConfig.time_scale`` runs them in seconds), async function calls,
ephemeral tokens (``POST v1alpha/auth_tokens``).

Misbehaving on purpose: fault plans (:mod:`api_gemini.emulator.faults`; a
``x-emulator-fault`` header, a ``fault:SPEC`` prompt marker or ``--fault``) and a
fault-injecting TCP proxy (:mod:`api_gemini.emulator.proxy`: latency, bandwidth, cut,
reset, black hole).
"""

from __future__ import annotations

try:
    import aiohttp  # noqa: F401  (the emulator's server; only checks the extra is there)
except ImportError as _missing:  # pragma: no cover - depends on the environment
    from .._install import install_command

    raise ImportError(
        f"api_gemini.emulator needs the 'emulator' extra: {install_command('emulator')}"
    ) from _missing

from .config import EmulatorConfig, EmulatorStats
from .server import Emulator

__all__ = ["Emulator", "EmulatorConfig", "EmulatorStats"]
