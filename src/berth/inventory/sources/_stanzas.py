"""Field: value stanzas, as dpkg (deb-control(5), deb822), DEP-5 copyright files and Python's core
metadata (RFC 822 headers) write them: a line per field, continuation lines indented, stanzas
separated by blank lines."""

from __future__ import annotations

from berth.inventory.sources._common import RecordError

Stanza = list[tuple[str, str]]


def stanzas(text: str, path: str, first_only: bool = False) -> list[Stanza]:
    """The stanzas of ``text`` as (field, value) pairs in order; a continuation line is joined to
    its field's value with a newline. ``RecordError`` naming ``path`` and the line if one is neither
    a field nor a continuation. ``first_only`` stops at the first blank line (a message's body)."""
    found: list[Stanza] = []
    current: Stanza = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if current:
                found.append(current)
                current = []
                if first_only:
                    break
            continue
        if line[0] in " \t":
            if not current:
                raise RecordError(f"{path}: line {number}: continuation line with no field")
            key, value = current[-1]
            current[-1] = (key, value + "\n" + line.strip())
            continue
        key, sep, value = line.partition(":")
        if not sep or not key or " " in key:
            raise RecordError(f"{path}: line {number}: not a 'Field: value' line")
        current.append((key, value.strip()))
    if current:
        found.append(current)
    return found


def first(stanza: Stanza, key: str) -> str:
    """The value of the first field named ``key`` (field names compare case-insensitively), or ""."""
    key = key.lower()
    return next((value for name, value in stanza if name.lower() == key), "")


def every(stanza: Stanza, key: str) -> list[str]:
    """The values of every field named ``key``, in order."""
    key = key.lower()
    return [value for name, value in stanza if name.lower() == key]
