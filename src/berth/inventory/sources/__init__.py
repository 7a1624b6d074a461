"""Package sources: each module reads one package manager's records from an image's files.

A source has ``wants(path)``, which files of the image it reads, and ``packages(files, image,
warn)``, the packages they record. ``SOURCES`` lists them in order of priority.
"""

from __future__ import annotations

from berth.inventory.sources import apk, dpkg, npm, python

SOURCES = (dpkg, apk, python, npm)

__all__ = ["SOURCES"]
