"""A video source's configuration record (ARCHITECTURE §3)."""

from typing import Literal

from pydantic import Field, field_validator

from .base import Section
from .recording import RecordingPolicy

SOURCE_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
GROUP_PATTERN = r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$"


class Location(Section):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class AnalyticsSettings(Section):
    enabled: bool = False
    interval: float | None = Field(None, gt=0, title="Seconds between samples; default from "
                                   "the analytics section")
    classes: tuple[str, ...] = Field((), title="Alert kinds to detect; empty means all")
    thresholds: dict[str, float] = Field(default_factory=dict)


class SourceConfig(Section):
    id: str = Field(pattern=SOURCE_ID_PATTERN)
    name: str = Field("", max_length=200)
    group: str = Field("default", pattern=GROUP_PATTERN, max_length=256)
    kind: Literal["camera", "bodycam", "drone", "phone", "file"] = "camera"
    url: str | None = Field(None, max_length=2048, title="Pulled sources: rtsp://, file://, "
                            "or any URL PyAV opens; credentials allowed, never shown back")
    publish: bool = Field(False, title="Pushed source: accepts one publisher")
    always_on: bool = Field(False, title="Keep the upstream connected without viewers")
    transport: Literal["tcp", "udp"] | None = Field(None, title="RTSP transport override")
    location: Location | None = None
    tags: tuple[str, ...] = ()
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    recording: RecordingPolicy | None = Field(None, title="Recording policy; null: the "
                                              "group's or the node's default")

    @field_validator("group")
    @classmethod
    def _no_dot_segments(cls, value: str) -> str:
        if any(part in (".", "..") for part in value.split("/")):
            raise ValueError("group path segments may not be '.' or '..'")
        return value

    def display_name(self) -> str:
        return self.name or self.id
