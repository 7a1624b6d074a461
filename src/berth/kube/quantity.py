"""Kubernetes resource quantities (``500m``, ``64Mi``, ``1.5``, ``1e3``): apimachinery's
``resource.Quantity`` grammar, read exactly with ``fractions``."""

from __future__ import annotations

import re
from fractions import Fraction

from berth.errors import InvalidArgument

# apimachinery quantity.go: <signedNumber><suffix>, suffix binarySI | decimalSI | decimalExponent
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_SUFFIXES = {
    "": Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
    "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}  # fmt: skip


def parse_quantity(text: str, path: str) -> Fraction:
    """The value of quantity ``text``; ``InvalidArgument`` naming ``path`` if it is none or negative."""
    match = _QUANTITY.match(text)
    if match is None:
        raise InvalidArgument(f"{path}: invalid quantity {text!r}")
    number, suffix = match.group(1), match.group(2) or ""
    value = Fraction(number)
    value *= Fraction(10) ** int(suffix[1:]) if suffix[:1] in ("e", "E") else _SUFFIXES[suffix]
    if value < 0:
        raise InvalidArgument(f"{path}: must not be negative")
    return value


def milli_value(value: Fraction) -> int:
    """Thousandths, rounded up (``Quantity.MilliValue``): CPU cores as millicores."""
    return -((-value * 1000) // 1)


def whole_value(value: Fraction) -> int:
    """The value rounded up to a whole number (``Quantity.Value``): memory in bytes."""
    return -(-value // 1)


def format_millicores(millis: int) -> str:
    """Millicores as ``kube generate`` writes them: ``500m``, or ``2`` for whole cores."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_bytes(size: int) -> str:
    """Bytes in the largest binary unit that divides them (``64Mi``), as ``kube generate`` writes."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        factor = int(_SUFFIXES[suffix])
        if size and size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)
