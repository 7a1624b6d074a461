"""Declared licences mapped to SPDX expressions."""

from __future__ import annotations

import pytest

from berth.inventory.licenses import single_id, to_spdx


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("GPL-2+", "GPL-2.0-or-later"),
        ("LGPL-2.1", "LGPL-2.1-only"),
        ("GPL-3.0-only", "GPL-3.0-only"),
        ("Expat", "MIT"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("GPL-2+ or Artistic-2.0", "GPL-2.0-or-later OR Artistic-2.0"),
        ("(MIT OR Apache-2.0) AND Zlib", "(MIT OR Apache-2.0) AND Zlib"),
        ("MPL-1.1+", "MPL-1.1+"),
        ("MIT License", "MIT"),
        ("public-domain", None),
        ("GPL-2+ with OpenSSL exception", None),
        ("or", None),
    ],
)
def test_to_spdx(declared: str, expected: str | None) -> None:
    assert to_spdx(declared) == expected


def test_single_id_only_for_one_licence() -> None:
    assert single_id("Expat") == "MIT"
    assert single_id("MIT OR ISC") is None
