"""The files kept from layer streams: whiteouts, opaque directories, replacements, history."""

from __future__ import annotations

from collections.abc import Callable

from berth.image.layers.entry import EntryType
from berth.inventory.layerfiles import Entries, Probe, collect_files

REG, DIR, SYM, LINK = EntryType.REGULAR, EntryType.DIR, EntryType.SYMLINK, EntryType.HARDLINK
Entry = tuple[EntryType, str, str, int, int, Callable[[], bytes]]


def layer(*items: tuple[EntryType, str] | tuple[EntryType, str, bytes | str]) -> Entries:
    out = []
    for kind, name, *rest in items:
        data = rest[0] if rest else b""
        link = data if isinstance(data, str) else ""
        body = data if isinstance(data, bytes) else b""
        out.append((kind, name, link, len(body), 0o644, lambda body=body: body))
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


def test_a_probe_keeps_what_it_extracts_from_the_files_whose_mode_it_wants() -> None:
    probe = Probe(
        lambda path, mode: bool(mode & 0o111), lambda data: data[:2] if data.startswith(b"GO") else None
    )

    def entry(kind: EntryType, name: str, mode: int, data: bytes = b"", link: str = "") -> Entry:
        return (kind, name, link, len(data), mode, lambda: data)

    files = collect_files(
        [
            [
                entry(REG, "bin/go", 0o755, b"GO binary"),
                entry(REG, "bin/sh", 0o755, b"ELF"),
                entry(REG, "lib/go.so", 0o644, b"GO library"),
                entry(LINK, "bin/go2", 0o755, link="bin/go"),
                entry(REG, "x.rec", 0o755, b"GO record"),
            ]
        ],
        wants,
        probe,
    )
    assert {path: kept.data for path, kept in files.items()} == {
        "bin/go": b"GO",
        "bin/go2": b"GO",
        "x.rec": b"GO record",
    }


def test_a_watch_notes_the_final_root_only() -> None:
    from berth.inventory.layerfiles import Noted, Watch
    from berth.inventory.policy.files import note

    def moded(kind: EntryType, name: str, mode: int, body: bytes = b"") -> Entry:
        return (kind, name, "", len(body), mode, lambda: body)

    noted: dict[str, Noted] = {}
    key = b"-----BEGIN PRIVATE KEY-----"
    collect_files(
        [
            [
                moded(REG, "bin/su", 0o4755),
                moded(REG, "etc/key.rec", 0o600, key),
                moded(REG, "gone/x", 0o777),
            ],
            [moded(REG, ".wh.gone", 0), moded(REG, "bin/su", 0o755), moded(REG, "srv/k", 0o2644, key)],
        ],
        wants,
        watch=Watch(note),
        noted=noted,
    )
    assert noted == {
        "etc/key.rec": Noted(0, 0o600, ("secret:private-key",)),
        "srv/k": Noted(1, 0o2644, ("setgid", "secret:private-key")),
    }
