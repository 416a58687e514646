"""Redis connection and the embedded Redis-compatible server's lifecycle."""
