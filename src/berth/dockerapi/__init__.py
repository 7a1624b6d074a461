"""The Docker Engine API (``berth system service``): Docker's HTTP API translated onto the engine.

A front end like ``berth.cli``: handlers decode Docker's JSON shapes, call the engine's own
functions (in a thread pool, so the service keeps serving while one blocks) and encode Docker's
answers; the engine never learns Docker's names. docs/docker-api.md says what is supported.
"""
