"""Runnable examples for systems that consume fusionhub's contracts."""
