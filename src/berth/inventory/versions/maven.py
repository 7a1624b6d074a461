"""Maven versions, ordered as Maven's ComparableVersion orders them (Maven 3.x).

A version is a list of items: numbers, qualifiers (text) and sub-lists. ``.`` separates items,
``-`` and a change between digits and letters start a sub-list. Trailing "null" items (0, the
empty qualifier and its aliases ``ga``, ``final``, ``release``) are dropped from each list.
Qualifiers order alpha < beta < milestone < rc (= cr) < snapshot < (release) < sp < anything else
(alphabetically); ``a1``, ``b1``, ``m1`` are alpha 1, beta 1, milestone 1. A qualifier after a dot
counts as after a dash (Maven 3.9, MNG-7644). A number sorts after a qualifier and after a
sub-list; a sub-list after a qualifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from berth.inventory.versions import sign

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
_RELEASE_RANK = _QUALIFIERS.index("")


@dataclass(slots=True)
class _List:
    items: list[Item] = field(default_factory=list)

    def normalize(self) -> None:
        # Drop trailing null items; a non-null sub-list is stepped over, as Maven does.
        for index in range(len(self.items) - 1, -1, -1):
            item = self.items[index]
            if _is_null(item):
                del self.items[index]
            elif not isinstance(item, _List):
                break


Item = int | str | _List


def _is_null(item: Item) -> bool:
    if isinstance(item, _List):
        return not item.items
    return item in (0, "")


def _qualifier(text: str, followed_by_digit: bool) -> str:
    if followed_by_digit and text in _SHORT:
        return _SHORT[text]
    return _ALIASES.get(text, text)


def _qualifier_rank(text: str) -> tuple[int, str]:
    # Known qualifiers by their place; unknown ones after all of them, alphabetically.
    if text in _QUALIFIERS:
        return (_QUALIFIERS.index(text), "")
    return (len(_QUALIFIERS), text)


def parse(version: str) -> _List:
    """The item list of ``version`` (any text is a Maven version)."""
    text = version.lower()
    root = current = _List()
    lists = [root]
    start, digits = 0, False

    def item(end: str | int) -> Item:
        piece = text[start:end] if isinstance(end, int) else end
        return int(piece) if digits else _qualifier(piece, False)

    def open_list() -> _List:
        sub = _List()
        current.items.append(sub)
        lists.append(sub)
        return sub

    for index, char in enumerate(text):
        if char in ".-":
            current.items.append(0 if index == start else item(index))
            start = index + 1
            if char == "-":
                current = open_list()
        elif char.isdigit():
            if not digits and index > start:
                # A qualifier then a number: "1.0.x1" sorts as "1.0-x-1".
                current.items.append(_qualifier(text[start:index], True))
                start = index
                current = open_list()
            digits = True
        else:
            if index == start and index > 0 and text[index - 1] == ".":
                # MNG-7644: a qualifier after a dot sorts as after a dash ("1.0.x" as "1.0-x").
                current = open_list()
            elif digits and index > start:
                current.items.append(int(text[start:index]))
                start = index
                current = open_list()
            digits = False
    if len(text) > start:
        current.items.append(item(len(text)))
    for each in reversed(lists):
        each.normalize()
    return root


def _compare_to_null(item: Item) -> int:
    if isinstance(item, _List):
        return _compare_to_null(item.items[0]) if item.items else 0
    if isinstance(item, int):
        return 1 if item else 0
    return sign(_qualifier_rank(item)[0] - _RELEASE_RANK) or (1 if item not in _QUALIFIERS else 0)


def _compare_items(a: Item | None, b: Item | None) -> int:
    if a is None:
        return 0 if b is None else -_compare_to_null(b)
    if b is None:
        return _compare_to_null(a)
    if isinstance(a, int):
        return sign(a - b) if isinstance(b, int) else 1
    if isinstance(a, str):
        if isinstance(b, str):
            rank_a, rank_b = _qualifier_rank(a), _qualifier_rank(b)
            return (rank_a > rank_b) - (rank_a < rank_b)
        return -1
    if isinstance(b, int):
        return -1
    if isinstance(b, str):
        return 1
    for index in range(max(len(a.items), len(b.items))):
        left = a.items[index] if index < len(a.items) else None
        right = b.items[index] if index < len(b.items) else None
        result = _compare_items(left, right)
        if result:
            return result
    return 0


def compare(a: str, b: str) -> int:
    """Compare two Maven versions."""
    return _compare_items(parse(a), parse(b))
