"""Sources, live status, probes and events: the Redis contract lives here."""
