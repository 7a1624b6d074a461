"""Inventory of images: what is inside them (a software bill of materials).

Make an SBOM of an image in the store, as SPDX 2.3 or CycloneDX 1.6 JSON::

    from berth.inventory.sbom import inventory
    from berth.inventory.formats import render
    inv = inventory(image_store, "docker.io/library/debian:12", warn=print)
    text = render(inv, "spdx-json")

``berth.inventory.layerfiles`` reads the layers as streams and keeps the few files the package
sources (``berth.inventory.sources``) need; ``berth.inventory.formats`` writes the documents.
"""
