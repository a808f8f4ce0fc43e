"""Command line entry point: ``python -m api_gemini.emulator``.

Prints one line when ready, whose last word is the base URL, then serves until SIGINT
or SIGTERM and exits 0.
"""

from __future__ import annotations

import argparse
import sys

from ._running import run_command, serve_until_signalled
from .config import EmulatorConfig
from .server import Emulator

__all__ = ["build_parser", "config_from_args", "main", "serve"]


def build_parser(prog: str = "python -m api_gemini.emulator") -> argparse.ArgumentParser:
    """The argument parser of the emulator command (reused by the project's CLI)."""
    parser = argparse.ArgumentParser(prog=prog, description="Run a local Gemini API emulator.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument(
        "--api-key", default=None, help="accept only this key (default: any key, but one is needed)"
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="accept requests without a key too (the service refuses them: 403 / 1008)",
    )
    parser.add_argument("--tls-cert", default=None, help="PEM certificate chain: serve https/wss")
    parser.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before the first chunk")
    parser.add_argument(
        "--tokens-per-second", type=float, default=0.0, help="answer rate (0: unpaced)"
    )
    parser.add_argument("--tokens-per-chunk", type=int, default=1, help="tokens per chunk")
    parser.add_argument(
        "--default-max-tokens", type=int, default=64, help="answer length without maxOutputTokens"
    )
    parser.add_argument(
        "--live-connection-lifetime",
        type=float,
        default=600.0,
        help="seconds a Live connection lives, goAway then close 1011 (600; 0: no limit)",
    )
    parser.add_argument(
        "--go-away-notice", type=float, default=60.0, help="seconds between goAway and the close"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every service duration (lifetimes, limits, playback wait) by this",
    )
    parser.add_argument(
        "--playback-time-scale",
        type=float,
        default=None,
        help="the same for the playback wait before turnComplete only (0: none)",
    )
    parser.add_argument(
        "--fault",
        default=None,
        metavar="SPEC",
        help="fault plan for every request, e.g. close-1011-after-3 or http-503-retry-2 "
        "(see api_gemini.emulator.faults)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """An :class:`EmulatorConfig` from parsed arguments."""
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        require_key=not args.no_auth,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        time_to_first_token=args.ttft,
        tokens_per_second=args.tokens_per_second,
        tokens_per_chunk=args.tokens_per_chunk,
        default_max_output_tokens=args.default_max_tokens,
        live_connection_lifetime=args.live_connection_lifetime or None,
        go_away_notice=args.go_away_notice,
        time_scale=args.time_scale,
        playback_time_scale=args.playback_time_scale,
        fault=args.fault,
    )


async def serve(config: EmulatorConfig) -> None:
    """Serve ``config`` until SIGINT or SIGTERM, announcing the base URL on stdout."""
    emu = Emulator(config)
    await serve_until_signalled(emu, lambda: f"api_gemini emulator listening on {emu.base_url}")


def main(argv: list[str] | None = None) -> int:
    """Run the emulator from command line arguments; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_command(lambda: serve(config_from_args(args)))


if __name__ == "__main__":
    sys.exit(main())
