"""Declared licences as SPDX licence expressions (SPDX 2.3 annex D), where they can be.

Packages name licences their own way: Debian's DEP-5 short names (``GPL-2+``, ``Expat``,
``BSD-3-clause``), PyPI classifiers, SPDX expressions in npm. ``to_spdx`` maps a name or an
expression made of ``and``/``or`` and parentheses onto SPDX identifiers it knows; anything else
(``public-domain``, a ``with`` exception phrase) gives ``None``, and the formats then write it as
a ``LicenseRef-`` or a plain licence name.
"""

from __future__ import annotations

import re

#: SPDX licence list identifiers this module emits (each a real list entry, so CycloneDX's schema
#: enumeration accepts it as an ``id``).
_KNOWN = {
    i.lower(): i
    for i in (
        "0BSD", "AFL-2.1", "Apache-1.0", "Apache-1.1", "Apache-2.0", "Artistic-1.0", "Artistic-2.0",
        "BSD-2-Clause", "BSD-3-Clause", "BSD-4-Clause", "BSL-1.0", "CC-BY-3.0", "CC-BY-4.0",
        "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC0-1.0", "CDDL-1.0", "curl", "EPL-1.0", "EPL-2.0", "ISC",
        "MIT", "MIT-0", "MPL-1.1", "MPL-2.0", "OpenSSL", "PSF-2.0", "Python-2.0", "Unlicense",
        "WTFPL", "X11", "Zlib", "ZPL-2.1",
    )
}  # fmt: skip
#: Debian's and PyPI classifiers' names for some of them.
_ALIASES = {
    "expat": "MIT", "mit license": "MIT", "bsd license": "BSD-3-Clause", "isc license (iscl)": "ISC",
    "apache software license": "Apache-2.0", "python software foundation license": "PSF-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0", "zlib/libpng license": "Zlib",
}  # fmt: skip
#: The GNU family, whose SPDX identifiers say -only or -or-later (SPDX licence list 3.x).
_GNU = re.compile(r"^(A?GPL|LGPL|GFDL)-?(\d(?:\.\d)?)(\+|-only|-or-later)?$", re.IGNORECASE)
_OPERATORS = {"and": "AND", "or": "OR"}


def _identifier(token: str) -> str | None:
    gnu = _GNU.match(token)
    if gnu:
        family, version, suffix = gnu.groups()
        version = version if "." in version else version + ".0"
        later = suffix is not None and suffix.lower() in ("+", "-or-later")
        return f"{family.upper()}-{version}-{'or-later' if later else 'only'}"
    plus = token.endswith("+")
    base = token[:-1] if plus else token
    known = _KNOWN.get(base.lower()) or _ALIASES.get(base.lower())
    return None if known is None else known + ("+" if plus else "")


def to_spdx(declared: str) -> str | None:
    """``declared`` as an SPDX licence expression, or ``None`` if a part of it is not known."""
    if declared.lower() in _ALIASES:
        return _ALIASES[declared.lower()]
    out = []
    for token in re.findall(r"\(|\)|[^\s()]+", declared):
        if token in "()":
            out.append(token)
        elif token.lower() in _OPERATORS:
            out.append(_OPERATORS[token.lower()])
        else:
            identifier = _identifier(token.rstrip(","))
            if identifier is None or token.endswith(","):
                return None
            out.append(identifier)
    if not out or out[0] in ("AND", "OR") or out[-1] in ("AND", "OR"):
        return None
    return " ".join(out).replace("( ", "(").replace(" )", ")")


def single_id(declared: str) -> str | None:
    """The SPDX identifier ``declared`` names when it is one licence (not an expression)."""
    expression = to_spdx(declared)
    return expression if expression is not None and " " not in expression and "+" not in expression else None
