"""Detector: model backends, YOLOv8 output decoding and the worker process."""
