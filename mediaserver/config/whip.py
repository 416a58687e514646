"""WHIP publishing (RFC 9725) of field devices: keyframe requests, silence and audio relay."""

from pydantic import Field

from .base import Section


class WhipConfig(Section):
    enabled: bool = Field(True, title="Serve POST /whip/{source_id} for sources declared "
                          "publish: true")
    pli_interval: float = Field(2.0, ge=0.5, le=60, title="Seconds between keyframe requests "
                                "(PLI) to a publisher, so new viewers start fast and the GOP "
                                "cache stays short")
    media_timeout: float = Field(10.0, gt=0, title="Seconds without media before a WHIP "
                                 "session is ended (the source turns offline)")
    audio: bool = Field(True, title="Relay Opus from WHIP publishers to WHEP viewers that "
                        "offer audio (packets, no transcoding)")
    vp8_bitrate: int = Field(1_500_000, ge=100_000, le=20_000_000, title="H.264 bit/s for "
                             "publishers that only send VP8 (re-encoded on the hub)")
