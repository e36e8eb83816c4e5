"""HTTPS serving: TLS material and the hardened uvicorn server."""
