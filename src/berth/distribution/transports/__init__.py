"""Image transports and the copier: move an image between registries, layouts, archives and the store.

    from berth.distribution.transports import copy
    result = copy("docker://127.0.0.1:5000/app:1", "oci:/tmp/app:1", tls_verify=False)
    result.manifest.digest

``copy`` is the synchronous entry point (it runs its own event loop); ``copy_image`` is the async
core over any ``ImageSource`` and ``ImageDestination``.
"""

from __future__ import annotations

from berth.distribution.transports.base import ImageDestination, ImageSource, RawManifest
from berth.distribution.transports.copy import CopyOptions, CopyProgress, CopyResult, copy_image
from berth.distribution.transports.names import ImageName, parse_image_name
from berth.distribution.transports.open import TransportContext, copy, open_destination, open_source

__all__ = [
    "CopyOptions",
    "CopyProgress",
    "CopyResult",
    "ImageDestination",
    "ImageName",
    "ImageSource",
    "RawManifest",
    "TransportContext",
    "copy",
    "copy_image",
    "open_destination",
    "open_source",
    "parse_image_name",
]
