"""HLS (RFC 8216) VOD playlists over the segment files themselves, for players that speak
HLS (VLC, ffplay, hls.js, Safari): each closed segment is one fMP4 media segment addressed by
byte range, its own ``ftyp`` + ``moov`` the ``EXT-X-MAP``. Every file's timeline starts at
zero, so a discontinuity precedes each one, and ``EXT-X-PROGRAM-DATE-TIME`` gives its
wall-clock start. Pure apart from :func:`playlist_entries` (reads box headers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .layout import Segment, box_layout
from .remux import iso


@dataclass(frozen=True, slots=True)
class PlaylistEntry:
    segment: Segment
    uri: str
    init_end: int
    media_end: int


def playlist_entries(segments: list[Segment], uri_of) -> list[PlaylistEntry]:
    """Closed segments with their init/media byte offsets (blocking: reads box headers)."""
    out = []
    for seg in sorted(segments, key=lambda s: s.start):
        if seg.open:
            continue
        try:
            layout = box_layout(Path(seg.path))
        except OSError:
            continue  # deleted by retention meanwhile
        if layout.init_end and layout.media_end > layout.init_end:
            out.append(PlaylistEntry(seg, uri_of(seg), layout.init_end, layout.media_end))
    return out


def media_playlist(entries: list[PlaylistEntry], start_offset: float = 0.0) -> str:
    target = max((math.ceil(e.segment.duration) for e in entries), default=1)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{target}",
             "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-MEDIA-SEQUENCE:0",
             "#EXT-X-DISCONTINUITY-SEQUENCE:0"]
    if start_offset > 0:
        lines.append(f"#EXT-X-START:TIME-OFFSET={start_offset:.3f},PRECISE=YES")
    for i, entry in enumerate(entries):
        seg = entry.segment
        if i:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [f'#EXT-X-MAP:URI="{entry.uri}",BYTERANGE="{entry.init_end}@0"',
                  f"#EXT-X-PROGRAM-DATE-TIME:{iso(seg.start)}",
                  f"#EXTINF:{seg.duration:.3f},",
                  f"#EXT-X-BYTERANGE:{entry.media_end - entry.init_end}@{entry.init_end}",
                  entry.uri]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
