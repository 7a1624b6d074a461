"""registries.conf parsing: prefixes (wildcards too), locations, mirrors, insecure and blocked
registries, the v1 format, search registries, short-name mode and aliases, and the merge rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.distribution import registries_conf
from berth.distribution.registries_conf import Endpoint, RegistriesConf
from berth.errors import InvalidArgument

CONF = """
unqualified-search-registries = ["quay.io", "docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.local:5000/hub"
insecure = true

[[registry]]
prefix = "docker.io/library/busybox"
location = "internal.example/bb"
[[registry.mirror]]
location = "bbmirror.example"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tagmirror.example/bb"
pull-from-mirror = "tag-only"

[[registry]]
location = "plain.local:5000"
insecure = true

[[registry]]
prefix = "evil.example"
location = "evil.example"
blocked = true

[[registry]]
prefix = "*.corp.example"
[[registry.mirror]]
location = "corp-mirror.example"

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"library/alpine" = "docker.io/alpine"
"""


def test_longest_prefix_mirrors_first_then_location() -> None:
    conf = registries_conf.parse(CONF)
    assert conf.pull_endpoints("docker.io/library/alpine", by_digest=False) == [
        (Endpoint("mirror.local:5000", True), "hub/library/alpine"),
        (Endpoint("docker.io", False), "library/alpine"),
    ]
    assert conf.push_endpoint("docker.io/library/alpine") == (Endpoint("docker.io"), "library/alpine")
    assert conf.pull_endpoints("quay.io/a/b", by_digest=False) == [(Endpoint("quay.io"), "a/b")]


def test_pull_from_mirror_per_mirror() -> None:
    conf = registries_conf.parse(CONF)
    assert conf.pull_endpoints("docker.io/library/busybox", by_digest=False) == [
        (Endpoint("tagmirror.example"), "bb"),
        (Endpoint("internal.example"), "bb"),
    ]
    assert conf.pull_endpoints("docker.io/library/busybox", by_digest=True) == [
        (Endpoint("bbmirror.example"), ""),
        (Endpoint("internal.example"), "bb"),
    ]


def test_mirror_by_digest_only_skips_mirrors_for_tags() -> None:
    conf = registries_conf.parse(
        '[[registry]]\nlocation = "a.example"\nmirror-by-digest-only = true\n'
        '[[registry.mirror]]\nlocation = "m.example"\n'
    )
    assert conf.pull_endpoints("a.example/x", by_digest=False) == [(Endpoint("a.example"), "x")]
    assert conf.pull_endpoints("a.example/x", by_digest=True)[0] == (Endpoint("m.example"), "x")


def test_wildcard_prefix_matches_subdomains_without_rewriting() -> None:
    conf = registries_conf.parse(CONF)
    assert conf.pull_endpoints("a.b.corp.example/team/app", by_digest=False) == [
        (Endpoint("corp-mirror.example"), "team/app"),
        (Endpoint("a.b.corp.example"), "team/app"),
    ]
    assert conf.find("corp.example/x") is None  # the bare domain is not a subdomain
    assert conf.find("x.corp.example.org/y") is None


def test_insecure_and_blocked() -> None:
    conf = registries_conf.parse(CONF, "/etc/containers/registries.conf")
    assert conf.is_insecure("plain.local:5000") and conf.is_insecure("mirror.local:5000")
    assert not conf.is_insecure("docker.io")
    with pytest.raises(
        InvalidArgument,
        match=re.escape("registry evil.example is blocked in /etc/containers/registries.conf"),
    ):
        conf.pull_endpoints("evil.example/x", by_digest=False)


def test_global_settings() -> None:
    conf = registries_conf.parse(CONF, "main.conf")
    assert conf.search == ("quay.io", "docker.io") and conf.search_origin == "main.conf"
    assert conf.mode == "enforcing"
    assert conf.aliases["fedora"].value == "registry.fedoraproject.org/fedora"
    assert conf.aliases["library/alpine"].value == "docker.io/library/alpine"  # normalized
    assert conf.helpers == ("containers-auth.json",)
    assert RegistriesConf().mode == "permissive"


def test_v1_format() -> None:
    conf = registries_conf.parse(
        "[registries.search]\nregistries = ['r1.example', 'r2.example']\n"
        "[registries.insecure]\nregistries = ['r3.example', 'r4.example']\n"
        "[registries.block]\nregistries = ['r4.example']\n"
    )
    assert conf.search == ("r1.example", "r2.example")
    assert conf.is_insecure("r3.example")
    with pytest.raises(InvalidArgument, match="blocked"):
        conf.pull_endpoints("r4.example/x", by_digest=False)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[registry]]\nprefix = 3\n", "prefix must be a string"),
        ("registry = 1\n", "array of tables"),
        ("[[registry]]\nlocation='a'\ninsecure='yes'\n", "insecure must be true or false"),
        ("[[registry]]\nlocation='a'\npull-from-mirror='all'\n", r"belongs in a \[\[registry.mirror"),
        ("[[registry]]\nlocation='a'\n[[registry.mirror]]\nlocation='m'\npull-from-mirror='x'\n", "one of"),
        (
            "[[registry]]\nlocation='a'\nmirror-by-digest-only=true\n"
            "[[registry.mirror]]\nlocation='m'\npull-from-mirror='all'\n",
            "mirror-by-digest-only",
        ),
        ("[[registry]]\nlocation='a'\n[[registry.mirror]]\ninsecure=true\n", "mirror #1: location is unset"),
        ("[[registry]]\nprefix='a.example'\n", "location is unset"),
        ("[[registry]]\ninsecure=true\n", "neither location nor prefix"),
        ("[[registry]]\nprefix='*.a.example/ns'\n", "wildcard"),
        ("[[registry]]\nlocation='https://a.example'\n", "URI schemes"),
        (
            "[[registry]]\nprefix='a.example/x'\nlocation='b.example'\n"
            "[[registry]]\nprefix='a.example/y'\nlocation='b.example'\ninsecure=true\n",
            "conflicting 'insecure'",
        ),
        ("unqualified-search-registries = ['a.example/ns']\n", "want host"),
        ("unqualified-search-registries = 'a.example'\n", "array of strings"),
        ("short-name-mode = 'prompt'\n", "short-name-mode must be one of"),
        ("[aliases]\n'quay.io/x' = 'quay.io/x'\n", "must be a short name"),
        ("[aliases]\n'x:1' = 'quay.io/x'\n", "must be a short name"),
        ("[aliases]\n'x' = 'y'\n", "must name a registry"),
        ("[aliases]\n'x' = 'quay.io/x:1'\n", "without tag or digest"),
        ("[registries.search]\nregistries=['a.example']\n[[registry]]\nlocation='b'\n", "mixing"),
        ("[[registry\n", "test.conf"),
    ],
)
def test_bad_files_name_the_file_and_problem(text: str, problem: str) -> None:
    with pytest.raises(InvalidArgument, match=problem) as caught:
        registries_conf.parse(text, "test.conf")
    message = str(caught.value)
    assert message.startswith("test.conf: ") and "\n" not in message


def test_drop_ins_must_be_v2() -> None:
    with pytest.raises(InvalidArgument, match="v2 format"):
        registries_conf.parse("[registries.search]\nregistries=['a.example']\n", "d.conf", v2_only=True)


def test_within_one_file_the_first_entry_for_a_prefix_wins() -> None:
    conf = registries_conf.parse(
        "[[registry]]\nprefix='a.example'\nlocation='one.example'\n"
        "[[registry]]\nprefix='a.example'\nlocation='two.example'\n"
    )
    assert conf.push_endpoint("a.example/x") == (Endpoint("one.example"), "x")


def test_merge_rules() -> None:
    main = registries_conf.parse(CONF, "main.conf")
    drop_in = registries_conf.parse(
        "unqualified-search-registries = []\n"
        "[[registry]]\nprefix = 'docker.io'\nlocation = 'hub.internal'\n"
        "[aliases]\n'fedora' = ''\n'ubi' = 'registry.access.redhat.com/ubi9'\n",
        "d.conf",
    )
    merged = main.merged(drop_in)
    assert merged.files == ("main.conf", "d.conf")
    assert merged.search == () and merged.search_origin == "d.conf"  # an empty list still overrides
    assert merged.mode == "enforcing"  # d.conf does not set it
    assert merged.pull_endpoints("docker.io/library/alpine", False) == [
        (Endpoint("hub.internal"), "library/alpine")
    ]
    assert merged.find("plain.local:5000/x") is not None  # other entries stay
    assert merged.aliases["fedora"].value is None and merged.aliases["fedora"].origin == "d.conf"
    assert merged.aliases["ubi"].value == "registry.access.redhat.com/ubi9"


_PREFIXES = st.sampled_from(["a.example", "a.example/ns", "b.example", "*.c.example"])
_FILES = st.lists(st.lists(st.tuples(_PREFIXES, st.integers(0, 9)), max_size=4), min_size=1, max_size=5)


@given(_FILES)
def test_merging_files_keeps_the_last_files_entry_per_prefix(files: list[list[tuple[str, int]]]) -> None:
    confs = []
    for n, entries in enumerate(files):
        text = "".join(f"[[registry]]\nprefix='{p}'\nlocation='loc{n}-{i}.example'\n" for p, i in entries)
        confs.append(registries_conf.parse(text, f"{n}.conf"))
    merged = RegistriesConf()
    for conf in confs:
        merged = merged.merged(conf)
    expected: dict[str, str] = {}
    for n, entries in enumerate(files):
        first_in_file: dict[str, str] = {}
        for p, i in entries:
            first_in_file.setdefault(p, f"loc{n}-{i}.example")
        expected.update(first_in_file)
    assert {e.prefix: e.location for e in merged.registries} == expected
    assert [e.prefix for e in merged.registries] == sorted(expected)


_COMPONENT = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)


@given(_COMPONENT, _COMPONENT, st.sampled_from(["", "/x", ":5000/x", "@sha256"]), _COMPONENT)
def test_a_prefix_matches_only_at_a_separator(host: str, ns: str, rest: str, extra: str) -> None:
    prefix = f"{host}.example/{ns}"
    conf = registries_conf.parse(f"[[registry]]\nlocation = '{prefix}'\n")
    assert conf.find(prefix + rest) is not None
    assert conf.find(prefix + extra) is None  # "ns" + "extra" is another repository
    wild = registries_conf.parse(f"[[registry]]\nprefix = '*.{host}.example'\n")
    assert wild.find(f"{extra}.{host}.example/{ns}") is not None
    assert wild.find(f"{host}.example/{ns}") is None
