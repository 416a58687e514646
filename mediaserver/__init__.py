"""fusionhub media server: ingest, fan-out, egress and the HTTP API of one hub node."""

__version__ = "0.1.0"
