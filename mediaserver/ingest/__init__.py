"""Publishers that feed Streams: RTSP pull, PyAV sources (files, other URLs)."""
