"""Run a camera farm: ``python -m loadtests.camfarm --count 16 --port 8555 --profile main720``.

Serves ``--count`` synthetic cameras at ``rtsp://HOST:PORT/{prefix}{NNN}`` until SIGINT/SIGTERM
(or ``--duration`` seconds). ``--print-config`` prints the hub's ``sources:`` entries for
those cameras as YAML and exits, e.g. ``python -m loadtests.camfarm --count 16 --print-config
> sources.yaml``. Clips are encoded once into ``--clip-dir`` and reused by later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

import yaml

from .clips import PROFILES
from .farm import CameraFarm, CameraSpec

#: cameras per station and stations per district in the generated groups
CAMERAS_PER_STATION = 4
STATIONS_PER_DISTRICT = 4


def default_clip_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fusionhub" / "clips"


def make_cameras(count: int, prefix: str, profile: str) -> list[CameraSpec]:
    """``count`` cameras with ids ``{prefix}001``…, grouped ``city/district-N/station-M``."""
    width = max(3, len(str(count)))
    cameras = []
    for index in range(count):
        station = index // CAMERAS_PER_STATION
        district = station // STATIONS_PER_DISTRICT
        number = f"{index + 1:0{width}d}"
        cameras.append(CameraSpec(
            id=f"{prefix}{number}", name=f"{prefix.upper()} {number}", profile=profile,
            group=f"city/district-{district + 1}/station-{station + 1}"))
    return cameras


def sources_config(cameras: list[CameraSpec], host: str, port: int) -> str:
    """YAML ``sources:`` entries pulling each camera from the farm."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    entries = [{"id": c.id, "name": c.name, "group": c.group, "kind": "camera",
                "url": f"rtsp://{host}:{port}/{c.id}"} for c in cameras]
    return yaml.safe_dump({"sources": entries}, sort_keys=False, allow_unicode=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.camfarm",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=16, help="number of cameras")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port (0: any free one)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="main720")
    parser.add_argument("--prefix", default="cam", help="camera id prefix")
    parser.add_argument("--distinct", action="store_true",
                        help="one clip per camera with its name burnt in (slower first start)")
    parser.add_argument("--clip-dir", type=Path, default=default_clip_dir())
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument("--codec", choices=("h264", "h265"), default="h264")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--jitter-ms", type=float, default=0.0,
                        help="delay each picture by up to this much (order kept)")
    parser.add_argument("--loss", type=float, default=0.0,
                        help="fraction of RTP packets dropped on the way out")
    parser.add_argument("--disconnect-every", type=float,
                        help="hang up on each reader this many seconds after it starts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--print-config", action="store_true",
                        help="print the hub's sources: entries as YAML and exit")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    if not 0 <= args.loss < 1:
        parser.error("--loss must be in [0, 1)")
    return args


async def serve(args: argparse.Namespace, cameras: list[CameraSpec]) -> None:
    farm = CameraFarm(cameras, host=args.host, port=args.port, clip_dir=args.clip_dir,
                      distinct=args.distinct, clip_seconds=args.clip_seconds, codec=args.codec,
                      jitter_ms=args.jitter_ms, loss=args.loss,
                      disconnect_every=args.disconnect_every, seed=args.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await farm.start()
    try:
        logging.getLogger(__name__).info("serving %s … %s", farm.urls()[0], farm.urls()[-1])
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.duration):
                await stop.wait()
    finally:
        await farm.aclose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cameras = make_cameras(args.count, args.prefix, args.profile)
    if args.print_config:
        sys.stdout.write(sources_config(cameras, args.host, args.port))
        return 0
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args, cameras))
    return 0


if __name__ == "__main__":
    sys.exit(main())
