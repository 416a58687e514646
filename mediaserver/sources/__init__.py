"""Sources the hub fetches itself: RTSP pull, probes, PyAV sources (files, other URLs)."""
