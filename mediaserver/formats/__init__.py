"""Codec processors between RTP/bitstreams and access units: H.264, H.265, AAC, Opus."""
