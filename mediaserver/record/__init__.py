"""Evidence recording: per-source pre-roll rings and fragmented-MP4 clip writing (remux)."""
