"""The files kept from layer streams: whiteouts, opaque directories, replacements, history."""

from __future__ import annotations

from berth.image.layers.entry import EntryType
from berth.inventory.layerfiles import Entries, collect_files

REG, DIR, SYM, LINK = EntryType.REGULAR, EntryType.DIR, EntryType.SYMLINK, EntryType.HARDLINK


def layer(*items: tuple[EntryType, str] | tuple[EntryType, str, bytes | str]) -> Entries:
    out = []
    for kind, name, *rest in items:
        data = rest[0] if rest else b""
        link = data if isinstance(data, str) else ""
        body = data if isinstance(data, bytes) else b""
        out.append((kind, name, link, len(body), lambda body=body: body))
    return out


def wants(path: str) -> bool:
    return path.endswith(".rec")


def test_only_wanted_regular_files_are_kept_with_their_layer() -> None:
    files = collect_files(
        [
            layer((DIR, "./a/"), (REG, "./a/x.rec", b"1"), (REG, "a/big.bin", b"no")),
            layer((REG, "b.rec", b"2")),
        ],
        wants,
    )
    assert {p: (f.layer, f.data) for p, f in files.items()} == {"a/x.rec": (0, b"1"), "b.rec": (1, b"2")}


def test_a_rewrite_keeps_history_and_a_whiteout_ends_it() -> None:
    files = collect_files(
        [
            layer((REG, "x.rec", b"1")),
            layer((REG, "x.rec", b"2")),
            layer((REG, ".wh.x.rec")),
            layer((REG, "x.rec", b"3")),
        ],
        wants,
    )
    assert files["x.rec"].versions == [(3, b"3")]
    files = collect_files([layer((REG, "x.rec", b"1")), layer((REG, "x.rec", b"2"))], wants)
    assert files["x.rec"].versions == [(0, b"1"), (1, b"2")]


def test_whiteouts_of_directories_and_opaque_directories_hide_what_is_below() -> None:
    lower = layer(
        (REG, "d/a.rec", b"a"), (REG, "d/sub/b.rec", b"b"), (REG, "e/c.rec", b"c"), (REG, "f/d.rec", b"d")
    )
    upper = layer((REG, "d/.wh..wh..opq"), (REG, "d/new.rec", b"n"), (REG, ".wh.e"), (REG, "f/.wh.d.rec"))
    files = collect_files([lower, upper], wants)
    assert sorted(files) == ["d/new.rec"]


def test_entries_replacing_a_kept_file_or_its_directory_remove_it() -> None:
    lower = layer((REG, "s.rec", b"s"), (REG, "t.rec", b"t"), (REG, "dir/u.rec", b"u"))
    upper = layer((SYM, "s.rec", "elsewhere"), (DIR, "t.rec"), (REG, "dir", b""))
    assert collect_files([lower, upper], wants) == {}


def test_hard_links_take_their_targets_content() -> None:
    files = collect_files(
        [layer((REG, "a.rec", b"A")), layer((LINK, "b.rec", "a.rec"), (LINK, "c.rec", "gone"))], wants
    )
    assert {p: f.data for p, f in files.items()} == {"a.rec": b"A", "b.rec": b"A"}
