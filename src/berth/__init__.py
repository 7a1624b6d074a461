"""Berth: an OCI container stack (runtime, images, registry, engine).

This package's ``__init__`` stays empty of imports on purpose: ``berth-runtime`` imports
``berth.runtime`` on its hot path, and every import here would be paid on each container start.
"""

__version__ = "0.1.0"
