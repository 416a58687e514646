"""On-demand transcoding: profiles a viewer may ask for (``?profile=sub``) and the limits of the
shared PyAV transcoders (one per source and profile, started with the first viewer)."""

from pydantic import Field, model_validator

from .base import Section


class TranscodeProfile(Section):
    width: int | None = Field(None, ge=16, le=4096, title="Output width; None keeps the "
                              "source's (then height is ignored too)")
    height: int | None = Field(None, ge=16, le=4096, title="Output height")
    fps: float | None = Field(None, gt=0, le=60, title="Output frame rate cap; None keeps "
                              "every source picture")
    bitrate: int = Field(1_000_000, ge=50_000, le=50_000_000, title="Target bit/s (libx264 "
                         "ABR with a VBV buffer of one second)")
    gop: float = Field(2.0, gt=0, le=10, title="Seconds between keyframes")
    preset: str = Field("veryfast", pattern=r"^(ultrafast|superfast|veryfast|faster|fast|"
                        r"medium)$", title="libx264 preset")


def _default_profiles() -> dict[str, TranscodeProfile]:
    return {
        "sub": TranscodeProfile(width=640, height=360, fps=15, bitrate=500_000),
        "hd": TranscodeProfile(width=1280, height=720, fps=25, bitrate=2_000_000),
        "h264": TranscodeProfile(bitrate=2_500_000),
    }


class TranscodeConfig(Section):
    enabled: bool = Field(True, title="Allow on-demand transcoding (H.265/VP8 sources, "
                          "?profile= viewers)")
    profiles: dict[str, TranscodeProfile] = Field(default_factory=_default_profiles,
                                                  title="Profiles by name ([a-z0-9_-]{1,32})")
    passthrough_profile: str = Field("h264", title="Profile used when a viewer needs H.264 "
                                     "from a source in another codec and asked for none")
    close_after: float = Field(5.0, ge=0, title="Seconds a transcoder keeps running after "
                               "its last viewer left")
    max_transcoders: int = Field(16, ge=0, title="Concurrent transcoders on this node "
                                 "(a viewer past it gets 503)")
    queue: int = Field(30, ge=2, le=1000, title="Access units queued for one transcoder's "
                       "decoder before it drops to the next keyframe")
    threads: int = Field(1, ge=0, le=16, title="libx264 threads per transcoder (0 = auto)")

    @model_validator(mode="after")
    def _check(self) -> "TranscodeConfig":
        import re
        for name in self.profiles:
            if not re.fullmatch(r"[a-z0-9_-]{1,32}", name):
                raise ValueError(f"profile name {name!r} must match [a-z0-9_-]{{1,32}}")
        if self.passthrough_profile not in self.profiles:
            raise ValueError(f"passthrough_profile {self.passthrough_profile!r} is not a "
                             "profile")
        return self
