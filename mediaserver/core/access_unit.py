"""The common currency inside a node: one encoded picture and the track it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field

START_CODE = b"\x00\x00\x00\x01"

#: RTP clock rate of every video timestamp inside the hub.
VIDEO_CLOCK_RATE = 90_000


class AccessUnit:
    """One encoded picture.

    ``nalus`` are the NAL units without start codes. Both timestamps are in the 90 kHz clock:

    * ``pts``, the presentation timestamp, is what RTP carries (RFC 6184/7798: the RTP
      timestamp is the sampling instant). With B-frames access units arrive in decode order
      and ``pts`` goes backwards inside a GOP; egresses must pass it through unchanged.
    * ``dts``, the decode timestamp, increases strictly, one access unit after the other,
      within a publisher session and across sessions once :class:`Stream` has rebased it.
      Muxers (clips, recordings) write it as the DTS; ``dts <= pts`` always. It defaults to
      ``pts`` for sources without reordering.

    ``keyframe`` marks a random-access point (IDR / IRAP). Keyframes always carry their
    parameter sets in-band (``Stream.publish`` ensures it), so any egress can start a decoder
    on them.
    """

    __slots__ = ("nalus", "pts", "dts", "keyframe", "codec", "_annexb", "size")

    def __init__(self, nalus: list[bytes] | tuple[bytes, ...], pts: int, keyframe: bool,
                 codec: str = "h264", dts: int | None = None) -> None:
        self.nalus: tuple[bytes, ...] = tuple(nalus)
        self.pts = pts
        self.dts = pts if dts is None else dts
        self.keyframe = keyframe
        self.codec = codec
        self.size = sum(len(n) for n in self.nalus)
        self._annexb: bytes | None = None

    @property
    def annexb(self) -> bytes:
        """The NAL units with 4-byte start codes (computed once, shared by all egresses)."""
        if self._annexb is None:
            self._annexb = b"".join(START_CODE + n for n in self.nalus)
        return self._annexb

    def __repr__(self) -> str:
        return (f"AccessUnit(codec={self.codec}, pts={self.pts}, dts={self.dts}, "
                f"keyframe={self.keyframe}, nalus={len(self.nalus)}, size={self.size})")


@dataclass(frozen=True, slots=True)
class VideoTrack:
    """Parameters of a stream's video track, as learnt from the SDP or the bitstream."""

    codec: str  # "h264" | "h265"
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    #: parameter sets without start codes: (SPS, PPS) for H.264, (VPS, SPS, PPS) for H.265
    parameter_sets: tuple[bytes, ...] = field(default=())
