"""Run the fuzz targets, one after the other, each bounded in time and executions.

``python -m fuzz run [--seconds N] [--runs N] [TARGET ...]`` (``make fuzz FUZZ_SECONDS=N``)
starts :mod:`fuzz.libfuzzer` per target with its seeds (rebuilt from the fixtures) and its
growing corpus under ``data/fuzz/TARGET/``. A crash leaves its input in
``data/fuzz/TARGET/crashes/``; copy it (minimized with ``-minimize_crash=1``) to
``fuzz/crashers/TARGET/`` once the parser is fixed, and the test suite replays it for ever.
Each run appends its executions to ``data/fuzz/runs.jsonl``; ``python -m fuzz stats`` sums
them per target, and ``--until N`` tops every target up to N executions in all.

Exit status 1 when any target crashed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from fuzz import seeds

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "data" / "fuzz"
LOG = WORK / "runs.jsonl"
TARGETS = list(seeds.BUILDERS)
#: Longest input per target (bytes); the default suits one message or datagram.
MAX_LEN = {"rtmp_chunk": 16384, "nal_rtp": 16384, "webrtc_offer": 8192,
           "source_import": 8192, "flv": 8192}
DEFAULT_MAX_LEN = 4096
_STAT = re.compile(r"stat::(\w+):\s*(\d+)")


def run_target(name: str, seconds: int, runs: int | None) -> dict[str, object]:
    folder = WORK / name
    corpus, crashes = folder / "corpus", folder / "crashes"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(exist_ok=True)
    seeds.write(name, folder / "seeds")
    command = [sys.executable, "-m", "fuzz.libfuzzer", name, str(corpus), str(folder / "seeds"),
               f"-max_total_time={seconds}", f"-max_len={MAX_LEN.get(name, DEFAULT_MAX_LEN)}",
               f"-artifact_prefix={crashes}/", "-timeout=10", "-rss_limit_mb=2048",
               "-print_final_stats=1", "-print_pcs=0"]
    if runs is not None:
        command.append(f"-runs={runs}")
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=seconds + 600)
    stats = {k: int(v) for k, v in _STAT.findall(proc.stderr)}
    result = {"target": name, "executions": stats.get("number_of_executed_units", 0),
              "seconds": round(time.monotonic() - started, 1),
              "new_units": stats.get("new_units_added", 0),
              "crashed": proc.returncode != 0,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if proc.returncode != 0:
        (folder / "last-crash.log").write_text((proc.stdout + proc.stderr)[-20000:])
    with LOG.open("a") as log:
        log.write(json.dumps(result) + "\n")
    return result


def totals() -> dict[str, dict[str, int]]:
    out = {name: {"executions": 0, "runs": 0, "crashes": 0} for name in TARGETS}
    if LOG.exists():
        for line in LOG.read_text().splitlines():
            entry = json.loads(line)
            row = out.setdefault(entry["target"], {"executions": 0, "runs": 0, "crashes": 0})
            row["executions"] += entry["executions"]
            row["runs"] += 1
            row["crashes"] += int(entry["crashed"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="fuzz the targets one after the other")
    run.add_argument("targets", nargs="*", metavar="TARGET",
                     help=f"among {', '.join(TARGETS)} (default: all)")
    run.add_argument("--seconds", type=int, default=60, help="time limit per target")
    run.add_argument("--runs", type=int, default=None, help="execution limit per target")
    run.add_argument("--until", type=int, default=None, metavar="N",
                     help="run each target only up to N executions over all recorded runs")
    stats = sub.add_parser("stats", help="executions per target over all recorded runs")
    stats.add_argument("--markdown", action="store_true", help="as a Markdown table")
    args = parser.parse_args(argv)
    if args.command == "stats":
        rows = totals()
        if args.markdown:
            print("| target | executions | runs | runs that crashed |\n|---|---:|---:|---:|")
        for name, row in rows.items():
            print(f"| `{name}` | {row['executions']:,} | {row['runs']} | {row['crashes']} |"
                  if args.markdown else f"{name:14} {row['executions']:>12,} executions in "
                  f"{row['runs']} runs, {row['crashes']} crashed")
        return 0
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s) {', '.join(sorted(unknown))}")
    failed = []
    done = totals()
    for name in args.targets or TARGETS:
        runs = args.runs
        if args.until is not None:
            runs = args.until - done[name]["executions"]
            if runs <= 0:
                continue
        result = run_target(name, args.seconds, runs)
        print(f"{name:14} {result['executions']:>10,} executions in {result['seconds']:>6} s"
              f"  {'CRASH: see data/fuzz/' + name if result['crashed'] else 'ok'}", flush=True)
        if result["crashed"]:
            failed.append(name)
    if failed:
        print(f"crashed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
