"""Shared on-demand transcoders (PyAV): one per (source, profile), started with the first viewer
that needs it and stopped ``close_after`` seconds after the last one left."""
