"""Core objects of a node: access units, streams with a GOP cache, bounded subscribers and the
on-demand stream manager. Imports nothing of ingest, egress or the API."""
