"""Package sources: each module reads one package manager's records from an image's files.

A source has ``wants(path)``, which files of the image it reads, and ``packages(image, warn)``,
the packages its files in ``image`` (an ``ImageFiles``) record. ``SOURCES`` lists every source.
"""

from __future__ import annotations

from berth.inventory.sources import apk, dpkg, java, npm, python, rpm

SOURCES = (dpkg, apk, rpm, python, npm, java)

__all__ = ["SOURCES"]
