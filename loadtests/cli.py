"""``python -m loadtests run --scenario NAME --out DIR``: one bounded load-test scenario
against a hub it starts itself (or ``--hub URL``), with progress, report and plots."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .camfarm.__main__ import default_clip_dir
from .camfarm.clips import PROFILES
from .push_swarm import PROTOCOLS as PUSH_PROTOCOLS
from .scenarios import SCENARIOS

#: global knob defaults; a scenario may override some (see ``Scenario.defaults``)
DEFAULTS = {
    "profile": "sub360", "hold": 8.0, "join_window": 2.0, "time_limit": 600.0,
    "viewers_start": 5, "max_viewers": 60, "viewer_step": 10,
    "streams_start": 5, "max_streams": 60, "stream_step": 10, "viewers_per_source": 2,
    "publishers": 8, "churn_min": 4.0, "churn_max": 12.0, "protocols": "rtsp,rtmp,whip",
    "sources": 100_000,
    "probe_interval": 120.0, "janus_viewers": 20,
    "loss_limit": 0.01, "latency_limit_ms": 500.0, "cpu_limit": 0.9 * (os.cpu_count() or 1),
}
MAX_TIME = 3600.0


def build_parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {s.name:18} {s.summary}" for s in SCENARIOS.values())
    parser = argparse.ArgumentParser(
        prog="python -m loadtests", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"scenarios:\n{listing}\n\nEvery knob has a bound; every scenario stops by "
               "itself within --time-limit.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one scenario", description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog=f"scenarios:\n{listing}")
    run.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    run.add_argument("--out", required=True, type=Path, help="report directory")
    hub = run.add_argument_group("hub under test")
    hub.add_argument("--hub", help="URL of an existing hub (default: start one here)")
    hub.add_argument("--token", help="admin bearer token for --hub")
    hub.add_argument("--hub-pid", type=int, help="pid of --hub on this machine (for CPU)")
    knobs = run.add_argument_group("knobs (default: the scenario's)")
    knobs.add_argument("--profile", choices=sorted(PROFILES),
                       help="camera profile (sub360 0.5, main720 2, main1080 4 Mbit/s)")
    knobs.add_argument("--hold", type=float, help="seconds measured per step")
    knobs.add_argument("--join-window", type=float, help="viewers join within this (s)")
    knobs.add_argument("--viewers-start", type=int)
    knobs.add_argument("--max-viewers", type=int, help="≤ 500")
    knobs.add_argument("--viewer-step", type=int)
    knobs.add_argument("--streams-start", type=int)
    knobs.add_argument("--max-streams", type=int, help="≤ 1000")
    knobs.add_argument("--stream-step", type=int)
    knobs.add_argument("--viewers-per-source", type=int, help="wall: viewers of each source")
    knobs.add_argument("--publishers", type=int, help="push-churn: publishers (≤ 200)")
    knobs.add_argument("--churn-min", type=float, help="push-churn: shortest session (s)")
    knobs.add_argument("--churn-max", type=float, help="push-churn: longest session (s)")
    knobs.add_argument("--protocols", help="push-churn: comma-separated, publishers spread "
                       f"round-robin over them (of {','.join(PUSH_PROTOCOLS)}; default all)")
    knobs.add_argument("--sources", type=int, help="registry: sources imported (≤ 200000)")
    knobs.add_argument("--probe-interval", type=float, help="registry: probe interval (s)")
    knobs.add_argument("--janus-viewers", type=int, help="side-by-side: viewers (≤ 200)")
    limits = run.add_argument_group("limits")
    limits.add_argument("--loss-limit", type=float, help="packet loss fraction (0.01)")
    limits.add_argument("--latency-limit-ms", type=float,
                        help="p95 delay variation (first frame: 4×) (500)")
    limits.add_argument("--cpu-limit", type=float, help="hub CPU in cores (0.9 × cores)")
    limits.add_argument("--time-limit", type=float, help=f"whole run, s (≤ {MAX_TIME:.0f})")
    hub.add_argument("--relay", choices=("fast", "aiortc"), default="fast",
                     help="WHEP video sender of a hub started here: the fast relay "
                     "(default) or aiortc's per-viewer sender (webrtc.fast_relay: false)")
    run.add_argument("--clip-dir", type=Path, default=default_clip_dir())
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("-v", "--verbose", action="store_true")
    return parser


def resolve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Fill unset knobs from the scenario's defaults, then the global ones; check bounds."""
    scenario = SCENARIOS[args.scenario]
    for key, value in DEFAULTS.items():
        if getattr(args, key, None) is None:
            setattr(args, key, scenario.defaults.get(key, value))
    bounds = {"max_viewers": (1, 500), "viewers_start": (1, 500), "viewer_step": (1, 500),
              "max_streams": (1, 1000), "streams_start": (1, 1000), "stream_step": (1, 1000),
              "viewers_per_source": (1, 50), "publishers": (1, 200), "sources": (1, 200_000),
              "janus_viewers": (1, 200), "hold": (1, 300), "join_window": (0, 120),
              "time_limit": (10, MAX_TIME), "probe_interval": (1, 3600),
              "churn_min": (1, 600), "churn_max": (1, 600), "loss_limit": (0, 1),
              "latency_limit_ms": (1, 60_000), "cpu_limit": (0.01, 1024)}
    for key, (low, high) in bounds.items():
        if not low <= getattr(args, key) <= high:
            parser.error(f"--{key.replace('_', '-')} must be within [{low}, {high}]")
    protocols = tuple(dict.fromkeys(p.strip().lower() for p in str(args.protocols).split(",")
                                    if p.strip()))
    if not protocols or set(protocols) - set(PUSH_PROTOCOLS):
        parser.error(f"--protocols must list some of {','.join(PUSH_PROTOCOLS)}")
    args.protocols = ",".join(protocols)
    if args.churn_min > args.churn_max:
        parser.error("--churn-min must not exceed --churn-max")
    if args.hub and not args.token:
        parser.error("--hub needs --token (an admin token of that hub)")
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = resolve(parser.parse_args(argv), parser)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from .runner import run_scenario

    work = Path(tempfile.mkdtemp(prefix="fh-load-"))
    try:
        started = time.time()
        report = asyncio.run(run_scenario(args, work))
    finally:
        if args.verbose:
            print(f"work files kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{report['status']}: {args.out / 'report.md'} "
          f"({time.time() - started:.0f} s)", file=sys.stderr)
    return 0 if report["status"] in ("ok", "not_available") else 1
