"""``python -m loadtests run --scenario smoke`` against a hub it starts (a real subprocess
with embedded Valkey, a real camera farm, real aiortc viewers): the report has every field."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from loadtests.cli import DEFAULTS, build_parser, resolve
from loadtests.report import CAPACITY_FIELDS, REPORT_FIELDS
from loadtests.scenarios import SCENARIOS

pytestmark = pytest.mark.timeout(150)


def test_every_scenario_and_knob_reaches_the_run() -> None:
    """The documented scenarios are the registered ones, and each knob given on the command
    line is what the scenario runs with (not only a word in --help)."""
    names = {"smoke", "ingest-ramp", "fanout-ramp", "wall", "join-storm", "push-churn",
             "analytics-budget", "registry", "side-by-side", "recording"}
    assert set(SCENARIOS) == names
    parser = build_parser()
    knobs = {"--max-viewers": "7", "--join-window": "3.5", "--loss-limit": "0.02",
             "--time-limit": "60", "--hold": "2", "--publishers": "3",
             "--protocols": "rtsp, WHIP"}
    for name in sorted(names):
        argv = ["run", "--scenario", name, "--out", "x"]
        for knob, value in knobs.items():
            argv += [knob, value]
        args = resolve(parser.parse_args(argv), parser)
        assert SCENARIOS[args.scenario].name == name
        assert (args.max_viewers, args.join_window, args.loss_limit, args.time_limit,
                args.hold, args.publishers) == (7, 3.5, 0.02, 60, 2, 3)
        assert args.protocols == "rtsp,whip"
    args = resolve(parser.parse_args(["run", "--scenario", "smoke", "--out", "x"]), parser)
    assert args.hold == SCENARIOS["smoke"].defaults.get("hold", DEFAULTS["hold"])
    assert "--hub" in parser.format_help()  # an existing hub can be the target


def test_out_of_bounds_knob_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "loadtests", "run", "--scenario", "smoke",
                           "--out", str(tmp_path), "--max-viewers", "100000"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--max-viewers must be within" in proc.stderr


def test_smoke_report_has_every_field(tmp_path):
    out = tmp_path / "smoke"
    proc = subprocess.run([sys.executable, "-m", "loadtests", "run", "--scenario", "smoke",
                           "--out", str(out), "--hold", "3", "--clip-dir",
                           str(tmp_path / "clips")],
                          capture_output=True, text=True, timeout=140)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert set(REPORT_FIELDS) <= set(report)
    assert report["status"] == "ok" and report["scenario"] == "smoke"
    assert report["hub"]["version"] and report["hub"]["started_here"]
    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_bytes"] > 0
    assert report["machine"]["cpu_model"]
    cap = report["capacity"]
    assert set(CAPACITY_FIELDS) <= set(cap)
    assert cap["streams_held"] == 2 and cap["viewers_held"] == 4, report["steps"]
    assert cap["cpu_us_per_packet"] > 0 and cap["memory_per_stream_bytes"] is not None
    ingest, two, four = report["steps"]
    assert ingest["fps_min"] > 20 and ingest["hub_cpu_cores"] > 0
    for step, viewers in ((two, 2), (four, 4)):
        assert step["connected"] == viewers and step["failed"] == 0
        assert step["packets"] > 0 and step["fps_min"] > 15
        assert step["first_frame_p95_ms"] is not None
    assert report["plots"]
    for name in report["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    assert "## Capacity found" in md and "hub CPU per delivered packet" in md
