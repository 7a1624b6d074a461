"""The registry server: the OCI Distribution Spec over aiohttp (``berth registry serve``)."""

from __future__ import annotations

from berth.distribution.server.app import Registry, make_app
from berth.distribution.server.config import RegistryConfig, TokenConfig, build_config, read_config_file
from berth.distribution.server.serve import run, serve

__all__ = [
    "Registry",
    "RegistryConfig",
    "TokenConfig",
    "build_config",
    "make_app",
    "read_config_file",
    "run",
    "serve",
]
