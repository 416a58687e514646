"""HTTP API: REST routes, auth, WebSocket events, metrics, OpenAPI."""
