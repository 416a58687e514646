"""The ``fusionhub`` command: serve, demo, token, users, sources import."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from .. import __version__
from ..config import Settings, load_settings
from ..errors import ConfigError
from ..redact import escape_control

logger = logging.getLogger("fusionhub")


class _OneLineFormatter(logging.Formatter):
    """Every message on one line: control characters a client slipped into a logged path,
    URL or header are escaped (tracebacks keep their lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = escape_control(record.message)
        return super().formatMessage(record)


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in ("aioice", "aiortc", "libav"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


async def _run_until_signalled(start: Callable[[], Awaitable[Callable[[], Awaitable[None]]]]
                               ) -> None:
    """Start, wait for SIGINT/SIGTERM, then run the returned closer."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    close = await start()
    try:
        await stop.wait()
        logger.info("shutting down")
    finally:
        await close()


def _run(main: Awaitable[None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - optional speed-up
        asyncio.run(main)
    else:
        uvloop.run(main)


def _serve(settings: Settings) -> None:
    from .app import Hub

    async def start():
        hub = Hub(settings)
        await hub.start()
        return hub.aclose

    _run(_run_until_signalled(start))


def _demo(args: argparse.Namespace) -> None:
    from .demo import start_demo

    async def start():
        return await start_demo(config=args.config, cameras=args.cameras,
                                camera_port=args.camera_port)

    _run(_run_until_signalled(start))


def build_parser() -> argparse.ArgumentParser:
    from . import sources_cli, token_cli, users_cli

    parser = argparse.ArgumentParser(prog="fusionhub", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fusionhub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run a hub node")
    serve.add_argument("--config", help="YAML config file (default: built-in defaults)")

    demo = sub.add_parser("demo", help="hub + embedded Redis + simulated cameras, no auth")
    demo.add_argument("--config", help="YAML config file applied before the demo settings")
    demo.add_argument("--cameras", type=int, default=16, help="simulated cameras (default 16)")
    demo.add_argument("--camera-port", type=int, default=8555,
                      help="RTSP port of the camera simulator (default 8555)")

    token_cli.add_parser(sub)
    sources_cli.add_parser(sub)
    users_cli.add_parser(sub)
    from analytics import cli as analytics_cli

    analytics_cli.add_parsers(sub)  # detect, detector, model
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            settings = load_settings(args.config)
            _setup_logging(settings.log.level)
            _serve(settings)
        elif args.command == "demo":
            _setup_logging("INFO")
            _demo(args)
        elif args.command == "token":
            from . import token_cli

            return token_cli.run(args, load_settings(getattr(args, "config", None)))
        elif args.command == "users":
            from . import users_cli

            return users_cli.run(args, load_settings(args.config))
        elif args.command == "sources":
            from . import sources_cli

            return sources_cli.run(args)
        elif args.command in ("detect", "detector", "model"):
            from analytics import cli as analytics_cli

            settings = load_settings(getattr(args, "config", None))
            _setup_logging(settings.log.level)
            return analytics_cli.run(args, settings)
    except ConfigError as exc:
        print(f"fusionhub: {exc}", file=sys.stderr)
        return 2
    return 0
