"""Egress other than WebRTC: RTSP re-serve and snapshots."""
