"""Alerts: the Redis-backed store (the alerts contract), the local outbox and the raise path."""
