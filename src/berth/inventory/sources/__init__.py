"""Package sources: each module reads one package manager's records from an image's files.

A source has ``wants(path)``, which files of the image it reads, and ``packages(image, warn)``,
the packages its files in ``image`` (an ``ImageFiles``) record. ``SOURCES`` lists every source;
``PROBE`` (a ``layerfiles.Probe``) keeps what the sources that read executables need of them.
"""

from __future__ import annotations

from berth.inventory.sources import apk, dpkg, golang, java, npm, python, rpm

SOURCES = (dpkg, apk, rpm, python, npm, java, golang)
#: The files picked by their content, not their name: Go executables (``golang``).
PROBE = golang.PROBE

__all__ = ["PROBE", "SOURCES"]
