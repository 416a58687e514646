"""Shared fixtures. Fixtures for a given area live in that area's conftest.py."""
