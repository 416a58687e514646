"""WHEP and WHIP test clients (aiortc peers), used by the tests and the load tests."""
