"""The report builder, markdown rendering, metrics parsing and ramps."""

from __future__ import annotations

import time

import pytest

from loadtests.hubapi import parse_metrics
from loadtests.report import CAPACITY_FIELDS, REPORT_FIELDS, build_report, render_markdown
from loadtests.scenarios.common import ramp

CAPACITY = {"streams_held": 3, "viewers_held": 40, "cpu_us_per_packet": 21.5,
            "memory_per_stream_bytes": 3 * 2**20, "limited_by": "loss 2.000% > 1.0%"}


def make(**overrides):
    args = dict(scenario="fanout-ramp", status="ok",
                hub={"version": "0.1.0", "url": "http://127.0.0.1:1", "started_here": True},
                machine={"cpu_model": "AMD EPYC", "cores": 2, "memory_bytes": 2**34},
                parameters={"hold": 8.0}, limits={"loss": 0.01}, started_at=time.time() - 5,
                steps=[{"step": 1, "viewers": 10, "loss": 0.0, "errors": []},
                       {"step": 2, "viewers": 20, "loss": 0.02, "delay_p95_ms": 12.5}],
                capacity=CAPACITY, notes=["a note"], plots=["fanout-cpu.png"])
    args.update(overrides)
    return build_report(**args)


def test_report_has_every_field_and_renders():
    report = make(comparison={"fusionhub": {"cpu_us_per_packet": 20.0},
                              "janus": {"cpu_us_per_packet": 10.0},
                              "cpu_per_packet_ratio_hub_over_janus": 2.0})
    assert set(REPORT_FIELDS) <= set(report)
    assert set(CAPACITY_FIELDS) <= set(report["capacity"])
    assert report["duration_s"] >= 5
    md = render_markdown(report)
    assert "| viewers held within limits | 40 |" in md
    assert "| hub CPU per delivered packet | 21.5 µs |" in md
    assert "| memory per stream | 3.0 MiB |" in md
    assert "| cpu_us_per_packet | 20 | 10 |" in md  # side by side: one column per server
    assert "cpu_per_packet_ratio_hub_over_janus: 2" in md
    assert "| delay_p95_ms |" in md.splitlines()[md.splitlines().index("## Steps") + 2]
    assert "![fanout-cpu.png](fanout-cpu.png)" in md


def test_report_refuses_missing_capacity_and_bad_status():
    with pytest.raises(ValueError, match="limited_by"):
        make(capacity={k: v for k, v in CAPACITY.items() if k != "limited_by"})
    with pytest.raises(ValueError, match="status"):
        make(status="great")


def test_parse_metrics_sums_labelled_series():
    text = ("# HELP x\nfusionhub_streams 2\n"
            'fusionhub_stream_fps{source="a"} 25.0\nfusionhub_stream_fps{source="b"} 24.5\n'
            "garbage line\nfusionhub_bad nan-ish\n")
    values = parse_metrics(text)
    assert values["fusionhub_streams"] == 2
    assert values['fusionhub_stream_fps{source="b"}'] == 24.5
    assert values["fusionhub_stream_fps"] == 49.5
    assert "fusionhub_bad" not in values


def test_ramp_is_bounded_and_ends_at_the_maximum():
    assert ramp(5, 60, 10) == [5, 15, 25, 35, 45, 55, 60]
    assert ramp(1, 1, 10) == [1]
    assert ramp(0, 0, 0) == [1]
    assert len(ramp(1, 10**6, 1)) == 200


def test_viewers_split_evenly_over_worker_processes():
    from loadtests.swarm_run import split

    assert split(30, 3) == [10, 10, 10]
    assert split(25, 3) == [9, 8, 8]
    assert split(2, 4) == [1, 1]


def test_swarm_summary_counts_failures_and_loss():
    from loadtests.swarm import summarize

    ok = {"error": None, "first_frame_ms": 80.0, "fps": 25.0, "bitrate_kbps": 500.0,
          "packets": 990, "lost": 10, "delay_p95_ms": 12.0}
    failed = {**ok, "error": "ViewerRefused: 503 too many sessions", "packets": 0, "lost": 0}
    summary = summarize([ok, ok, failed], join_s=1.0, held_s=8.0)
    assert (summary["connected"], summary["failed"]) == (2, 1)
    assert summary["errors"] == ["ViewerRefused: 503 too many sessions"]
    assert summary["packets"] == 1980 and summary["loss"] == 0.01
    assert summary["first_frame_ms"]["p95"] == 80.0


def test_sampler_counters_are_read_from_metrics():
    from loadtests.hubapi import parse_metrics
    from loadtests.scenarios.analytics import sampler_counters

    assert sampler_counters({"fusionhub_streams": 3}) is None
    values = parse_metrics(
        "fusionhub_analytics_samples_total 40\n"
        'fusionhub_analytics_samples_skipped_total{reason="budget"} 5\n'
        'fusionhub_analytics_samples_skipped_total{reason="same_keyframe"} 30\n'
        'fusionhub_analytics_samples_skipped_total{reason="queue_full"} 2\n'
        "fusionhub_analytics_detector_dropped_total 1\n")
    assert sampler_counters(values) == (40, 8)  # a repeated keyframe is not over budget
    assert sampler_counters(values, detector=False) == (42, 5)


def test_projected_viewers_per_core():
    from loadtests.scenarios.fanout import projected_viewers_per_core

    step = {"marginal_cpu_us_per_packet": 50.0, "packets": 17_200, "hold_s": 8.0,
            "connected": 10}
    assert projected_viewers_per_core(step) == 93  # 215 packets/s per viewer at 50 µs each
    assert projected_viewers_per_core({**step, "marginal_cpu_us_per_packet": None}) is None
    assert projected_viewers_per_core(None) is None
