"""The ``analytics`` section: sampler budget, detector process, alert rules, evidence clips."""

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from ..shipped import resolve_shipped
from .base import Section

#: a relative catalogue that is not in the working directory is the shipped one of that name
ShippedPath = Annotated[Path, AfterValidator(resolve_shipped)]


class AlertRules(Section):
    k: int = Field(2, ge=1, title="Positive samples among the last n that raise an alert")
    n: int = Field(3, ge=1, title="Window of samples the k-of-n rule looks at")
    resolve_after: int = Field(5, ge=1, title="Consecutive negative samples that resolve it")
    cooldown: float = Field(60.0, ge=0, title="Seconds after a resolve before the same "
                            "(source, kind) may raise again")
    update_min_interval: float = Field(10.0, ge=0, title="Seconds between `updated` events "
                                       "of one alert (higher confidence)")


class EvidenceConfig(Section):
    pre_roll: float = Field(10.0, ge=0, le=120, title="Seconds of video before the alert, "
                            "starting at a keyframe")
    post_roll: float = Field(20.0, ge=0, le=300, title="Seconds of video after the alert")
    fragment: float = Field(1.0, gt=0, le=10, title="Seconds per fMP4 fragment (a crash "
                            "keeps everything up to the last fragment)")
    max_clip_bytes: int = Field(200 * 1024 * 1024, gt=0, title="A clip stops growing here")
    ring_bytes: int = Field(64 * 1024 * 1024, gt=0, title="Pre-roll memory cap per source")


class AnalyticsConfig(Section):
    enabled: bool = Field(False, title="Run the sampler, detector process and alert engine")
    models: ShippedPath = Field(Path("configs/models.yaml"), validate_default=True,
                                title="Model catalogue (file, input size, classes -> alert "
                                "kinds, thresholds); a relative path missing from the working "
                                "directory means the one shipped with fusionhub")
    interval: float = Field(2.0, gt=0, title="Default seconds between samples per source")
    budget: float = Field(8.0, gt=0, title="Inferences per second all detectors can do; "
                          "shared fairly across sources, samples over it are skipped")
    boost: float = Field(4.0, ge=1, title="Sampling rate multiplier for sources with a "
                         "recent positive")
    boost_for: float = Field(60.0, ge=0, title="Seconds a positive keeps a source boosted")
    queue: int = Field(16, ge=1, le=1024, title="Sampled frames waiting for the detector; "
                       "more are dropped and counted")
    batch: int = Field(4, ge=1, le=64, title="Frames per inference batch")
    threads: int = Field(2, ge=1, le=64, title="ONNX Runtime intra-op threads")
    backend: str = Field("onnx", pattern="^(onnx|ultralytics)$", title="Detector backend")
    detector: str = Field("process", pattern="^(process|redis|off)$", title="process: the "
                          "hub starts a local detector process; redis: detectors are run "
                          "separately (`fusionhub detector`) and read fh:frames; off: no "
                          "detector (manual alerts only)")
    rules: AlertRules = Field(default_factory=AlertRules)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    outbox: Path = Field(Path("alerts-outbox.jsonl"), title="Local outbox of alert events "
                         "(relative to the data dir), replayed when Redis is back")
