"""Listeners that clients connect to, for reading and for publishing: RTSP and RTMP."""
