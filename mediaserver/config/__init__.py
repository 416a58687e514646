"""Typed, strict configuration: one model per section, loaded from YAML, overridden by the
environment as ``FUSIONHUB_<SECTION>__<KEY>`` (and ``FUSIONHUB_DATA_DIR``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ..errors import ConfigError
from .analytics import AnalyticsConfig
from .media import ProbeConfig, PullConfig, StreamsConfig, WebRtcConfig
from .network import HttpConfig, RtspConfig
from .push import PushConfig, RtmpConfig
from .recording import RecordingConfig
from .services import AuthConfig, LogConfig, RedisConfig
from .sources import AnalyticsSettings, Location, SourceConfig
from .transcode import TranscodeConfig
from .whip import WhipConfig

__all__ = ["Settings", "load_settings", "SourceConfig", "Location", "AnalyticsSettings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUSIONHUB_", env_nested_delimiter="__",
                                      extra="forbid", frozen=True)

    node_id: str | None = Field(None, title="Name of this node; defaults to the host name")
    data_dir: Path = Field(Path("data"), title="Embedded Redis data, clips, snapshots")
    http: HttpConfig = Field(default_factory=HttpConfig)
    rtsp: RtspConfig = Field(default_factory=RtspConfig)
    rtmp: RtmpConfig = Field(default_factory=RtmpConfig)
    push: PushConfig = Field(default_factory=PushConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    streams: StreamsConfig = Field(default_factory=StreamsConfig)
    pull: PullConfig = Field(default_factory=PullConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    webrtc: WebRtcConfig = Field(default_factory=WebRtcConfig)
    whip: WhipConfig = Field(default_factory=WhipConfig)
    transcode: TranscodeConfig = Field(default_factory=TranscodeConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    sources: tuple[SourceConfig, ...] = Field((), title="Sources declared in the file "
                                              "(merged into the registry at start)")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the environment overrides the file, which is passed as init arguments
        return env_settings, init_settings


def _format_error(exc: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration ({origin}):"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"  {key}: {err['msg']}")
    return "\n".join(lines)


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Load a YAML file (optional), apply ``overrides`` and the environment; raise ConfigError
    naming the offending key."""
    data: dict[str, Any] = {}
    origin = "defaults and environment"
    if path is not None:
        origin = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: the top level must be a mapping")
        data = loaded or {}
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, origin)) from None
