"""Image trust: sigstore/cosign keys, simple-signing payloads, signatures, and containers-policy.json.

The engine and the CLI call into this package where an image comes in; it reads images through
``berth.image`` and registries through ``berth.distribution``.
"""
