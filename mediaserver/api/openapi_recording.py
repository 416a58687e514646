"""OpenAPI declarations of recordings (ranges, playback, HLS, export, status) — part of the document
built by :func:`mediaserver.api.openapi.build_openapi`."""

from __future__ import annotations

from .openapi import Declaration, Schema, _ref, json_response, operation

_TIME = {"oneOf": [{"type": "number", "description": "Unix seconds"},
                   {"type": "string", "format": "date-time", "description": "ISO 8601 with a "
                    "time zone"}]}
_SPAN = {"type": "object", "required": ["start", "end", "duration"], "properties": {
    "start": {"type": "number"}, "end": {"type": "number"}, "duration": {"type": "number"}}}
_MP4 = {"video/mp4": {"schema": {"type": "string", "contentMediaType": "video/mp4"}}}


def recording_schemas() -> dict[str, Schema]:
    return {
        "TimeSpan": _SPAN,
        "Recordings": {"type": "object", "description": "Recorded ranges of a source in a "
                       "window (neighbouring segments merged) and the gaps between them "
                       "(camera offline, hub down, recording off)", "properties": {
                           "source_id": {"type": "string"}, "from": {"type": "number"},
                           "to": {"type": "number"},
                           "ranges": {"type": "array", "items": {"$ref":
                                                                 "#/components/schemas/TimeSpan"}},
                           "gaps": {"type": "array", "items": {"$ref":
                                                               "#/components/schemas/TimeSpan"}},
                           "recorded": {"type": "number", "description": "seconds recorded"},
                           "segments": {"type": "integer"},
                           "policy": {"enum": ["off", "continuous", "on-alert", "schedule"]},
                           "mode": {"enum": ["off", "continuous", "on-alert"],
                                    "description": "what the recorder does now"},
                           "recording": {"type": "boolean", "description": "a segment is "
                                         "being written now"},
                           "node_state": {"enum": ["recording", "paused_low_disk",
                                                   "disabled"]}}},
        "RecordingStatus": {"type": "object", "properties": {
            "state": {"enum": ["recording", "paused_low_disk", "disabled"]},
            "sources": {"type": "integer"}, "writing": {"type": "integer"},
            "free_bytes": {"type": ["integer", "null"]}, "min_free_bytes": {"type": "integer"},
            "used_bytes": {"type": "integer"}, "quota_bytes": {"type": ["integer", "null"]},
            "segments_written": {"type": "integer"}, "bytes_written": {"type": "integer"},
            "failures": {"type": "integer"}}},
    }


def recording_parameters() -> dict[str, Schema]:
    def time_param(name: str, description: str) -> Schema:
        return {"name": name, "in": "query", "required": False, "schema": _TIME,
                "description": description}

    return {
        "From": time_param("from", "Start of the window (default: `to` minus 24 h for "
                           "ranges, required for export)"),
        "To": time_param("to", "End of the window (default: now for ranges, `from` plus 1 h "
                         "for playback; required for export)"),
        "Day": {"name": "day", "in": "path", "required": True,
                "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}},
        "SegmentName": {"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": r"^\d{6}\.\d{3}_\d+_\d+\.mp4$"}},
    }


def recording_routes() -> list[Declaration]:
    window = ("SourceId", "From", "To", "Token")
    busy = {"429": json_response(_ref("Error"), "Too many playbacks or exports (Retry-After)")}
    return [
        ("GET", "/api/v1/sources/{source_id}/recordings",
         operation("getRecordings", "Recorded ranges and gaps of a source (at most 31 days per "
             "request)", "recordings", {"200": json_response(_ref("Recordings"),
                                                             "Ranges and gaps")},
             errors=("400", "401", "404"), params=window)),
        ("GET", "/api/v1/sources/{source_id}/playback",
         operation("playback", "Play recordings from a time: fragmented MP4 remuxed (never "
             "transcoded) and streamed as it is produced, starting at the keyframe at or "
             "before `from`; gaps are skipped. Seek by asking again.", "recordings",
             {"200": {"description": "Fragmented MP4", "content": _MP4, "headers": {
                 "X-Playback-Start": {"schema": {"type": "number"}, "description":
                                      "Unix time of the first picture"},
                 "X-Playback-End": {"schema": {"type": "number"}}}}, **busy},
             errors=("400", "401", "404"), params=window)),
        ("GET", "/api/v1/sources/{source_id}/playback.m3u8",
         operation("playbackHls", "HLS VOD playlist of the segments covering the window (fMP4 "
             "by byte range, EXT-X-PROGRAM-DATE-TIME per segment, EXT-X-START at `from`)",
             "recordings", {"200": {"description": "HLS media playlist", "content": {
                 "application/vnd.apple.mpegurl": {"schema": {"type": "string"}}}}},
             errors=("400", "401", "404"), params=window)),
        ("GET", "/api/v1/sources/{source_id}/segments/{day}/{name}",
         operation("getSegment", "One segment file (HLS media segment; Range requests answer "
             "206)", "recordings", {"200": {"description": "Fragmented MP4", "content": _MP4},
                                    "206": {"description": "Byte range", "content": _MP4}},
             errors=("401", "404"), params=("SourceId", "Day", "SegmentName", "Token"))),
        ("GET", "/api/v1/sources/{source_id}/export",
         operation("exportRecording", "One MP4 file of a time range (remuxed, moov first, "
             "starting at the keyframe at or before `from`; title, comment and creation_time "
             "name the source and the range)", "recordings",
             {"200": {"description": "MP4 download (Content-Disposition: attachment)",
                      "content": _MP4, "headers": {
                          "X-Recording-Start": {"schema": {"type": "number"}},
                          "X-Recording-End": {"schema": {"type": "number"}}}}, **busy},
             errors=("400", "401", "404"), params=window)),
        ("GET", "/api/v1/recordings/status",
         operation("recordingStatus", "Recording state of this node (free-space floor), disk "
             "and counters", "recordings",
             {"200": json_response(_ref("RecordingStatus"), "Status")})),
    ]
