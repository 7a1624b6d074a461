"""Version comparison by scheme: dpkg against ``dpkg --compare-versions``, PEP 440 against
``packaging.version``, known orders for apk, semver and Maven, and the order laws for all."""

from __future__ import annotations

import shutil
import subprocess
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.inventory.versions import SCHEMES, VersionError, apk, compare, dpkg, maven, pep440, semver


def chars(alphabet: str, min_size: int = 0, max_size: int = 6) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(alphabet), min_size=min_size, max_size=max_size)


# Small alphabets so that generated versions often share prefixes and meet at the edges.
DPKG = st.builds(
    lambda epoch, upstream, rest, revision: (
        (f"{epoch}:" if epoch is not None else "") + upstream + rest + (f"-{revision}" if revision else "")
    ),
    st.one_of(st.none(), st.integers(0, 2)),
    chars("019", 1, 2),
    chars("0129.+~a"),
    chars("019.+~b", 0, 3),
)
APK = st.builds(
    lambda numbers, letter, suffixes, revision: (
        ".".join(numbers) + letter + "".join(suffixes) + (f"-r{revision}" if revision is not None else "")
    ),
    st.lists(chars("0129", 1, 2), min_size=1, max_size=3),
    st.sampled_from(["", "a", "b"]),
    st.lists(
        st.builds(lambda s, n: f"_{s}{n}", st.sampled_from(["alpha", "rc", "p", "git"]), chars("01", 0, 1)),
        max_size=2,
    ),
    st.one_of(st.none(), st.integers(0, 3)),
)
PEP440 = st.builds(
    lambda epoch, release, pre, post, dev, local: epoch + release + pre + post + dev + local,
    st.sampled_from(["", "1!"]),
    st.lists(st.sampled_from(["0", "1", "2", "10"]), min_size=1, max_size=3).map(".".join),
    st.sampled_from(["", "a1", "b0", "rc2", "-alpha", ".pre3", "c1"]),
    st.sampled_from(["", ".post1", "-2", "post0", ".rev"]),
    st.sampled_from(["", ".dev0", "dev3"]),
    st.sampled_from(["", "+a", "+1", "+a.2", "+ubuntu-1"]),
)
IDENTIFIERS = st.sampled_from(["alpha", "1", "2", "beta", "0", "x-y"])
SEMVER = st.builds(
    lambda prefix, core, pre, build: prefix + core + pre + build,
    st.sampled_from(["", "v"]),
    st.lists(st.sampled_from(["0", "1", "10"]), min_size=3, max_size=3).map(".".join),
    st.one_of(st.just(""), st.lists(IDENTIFIERS, min_size=1, max_size=3).map(lambda p: "-" + ".".join(p))),
    st.sampled_from(["", "+build.1", "+incompatible"]),
)  # fmt: skip
# Maven's order is not transitive for versions that start with a letter ("b" < "0-alpha" < "0" < "b"),
# so the laws are checked over versions that start with a number, as published ones do.
MAVEN = st.builds(str.__add__, chars("019", 1, 2), chars("0129.-abcmrsp", 0, 7))
STRATEGIES = {"dpkg": DPKG, "apk": APK, "pep440": PEP440, "semver": SEMVER, "maven": MAVEN}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_order_laws_hold(scheme: str) -> None:
    @settings(max_examples=300, deadline=None)
    @given(STRATEGIES[scheme], STRATEGIES[scheme], STRATEGIES[scheme])
    def laws(a: str, b: str, c: str) -> None:
        assert compare(scheme, a, a) == 0
        assert compare(scheme, a, b) == -compare(scheme, b, a)  # antisymmetry
        ordered = sorted([a, b, c], key=_sort_key(scheme))
        for low, high in pairwise(ordered):
            assert compare(scheme, low, high) <= 0
        assert compare(scheme, ordered[0], ordered[2]) <= 0  # transitivity

    laws()


def _sort_key(scheme: str):  # type: ignore[no-untyped-def]
    from functools import cmp_to_key

    return cmp_to_key(lambda x, y: compare(scheme, x, y))


def _dpkg_oracle(pairs: list[tuple[str, str]]) -> list[int]:
    """``dpkg --compare-versions`` of each pair, one shell for all of them."""
    script = (
        'while read -r a b; do if dpkg --compare-versions "$a" lt "$b"; then echo -1; '
        'elif dpkg --compare-versions "$a" eq "$b"; then echo 0; else echo 1; fi; done'
    )
    lines = "".join(f"{a} {b}\n" for a, b in pairs)
    run = subprocess.run(["sh", "-c", script], input=lines, capture_output=True, text=True, check=True)
    return [int(line) for line in run.stdout.split()]


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
@settings(max_examples=25, deadline=None)
@given(st.lists(DPKG, min_size=2, max_size=6, unique=True))
def test_dpkg_agrees_with_dpkg_compare_versions(versions: list[str]) -> None:
    pairs = [(a, b) for a in versions for b in versions]
    assert [dpkg.compare(a, b) for a, b in pairs] == _dpkg_oracle(pairs)


def test_dpkg_edges() -> None:
    ordered = ["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0-0.1", "1.0a", "1.0+b1", "1.0.1", "1:0.1", "2:0~rc1"]
    assert all(dpkg.compare(a, b) == -1 for a, b in pairwise(ordered))
    assert dpkg.compare("1.0", "1.0-0") == 0
    assert dpkg.compare("0:1.0-1", "1.0-1") == 0
    assert dpkg.compare("2.36-9+deb12u4", "2.36-9+deb12u10") == -1
    with pytest.raises(VersionError, match="epoch"):
        dpkg.compare("x:1", "1")


@settings(max_examples=300, deadline=None)
@given(PEP440, PEP440)
def test_pep440_agrees_with_packaging(a: str, b: str) -> None:
    version = pytest.importorskip("packaging.version").Version
    expected = (version(a) > version(b)) - (version(a) < version(b))
    assert pep440.compare(a, b) == expected


def test_pep440_rejects_what_is_no_version() -> None:
    with pytest.raises(VersionError, match="not a PEP 440 version"):
        pep440.compare("1.0-foo", "1.0")


def test_apk_order() -> None:
    ordered = ["1.0_alpha", "1.0_beta2", "1.0_rc1", "1.0", "1.0-r1", "1.0_p1", "1.0a", "1.0.1", "1.01.0",
               "1.1", "1.2_git20200101", "1.10"]  # fmt: skip
    wrong = [(a, b) for a, b in pairwise(ordered) if apk.compare(a, b) != -1]
    assert not wrong
    assert apk.compare("2.36-r0", "2.36") == 1
    assert apk.compare("1.02", "1.1") == -1  # a leading zero compares as text
    with pytest.raises(VersionError, match="unexpected"):
        apk.compare("1.0-1", "1.0")


def test_semver_order_and_go_pseudo_versions() -> None:
    # SemVer 2.0.0 section 11.4's example, then Go's pseudo-versions around their base.
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "v1.2.3", "v1.2.4-0.20191109021931-daa7c04131f5",
               "v1.2.4-0.20200101000000-aaaaaaaaaaaa", "v1.2.4"]  # fmt: skip
    assert all(semver.compare(a, b) == -1 for a, b in pairwise(ordered))
    assert semver.compare("v2.0.0+incompatible", "2.0.0") == 0
    with pytest.raises(VersionError, match="not a semantic version"):
        semver.compare("1.2", "1.2.0")


def test_maven_orders_as_comparable_version() -> None:
    # The two ordered lists of Maven's ComparableVersion tests (facts about its order).
    qualifiers = ["1-alpha2snapshot", "1-alpha2", "1-alpha-123", "1-beta-2", "1-beta123", "1-m2", "1-m11",
                  "1-rc", "1-cr2", "1-rc123", "1-SNAPSHOT", "1", "1-sp", "1-sp2", "1-sp123", "1-abc",
                  "1-def", "1-pom-1", "1-1-snapshot", "1-1", "1-2", "1-123"]  # fmt: skip
    numbers = ["2.0", "2.0.a", "2-1", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c", "2.1-1",
               "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11", "11",
               "11.a", "11b", "11c", "11m"]  # fmt: skip
    for ordered in (qualifiers, numbers):
        for i, a in enumerate(ordered):
            assert [maven.compare(a, b) for b in ordered] == [(i > j) - (i < j) for j in range(len(ordered))]
    for a, b in [("1", "1.0.0"), ("1", "1-0"), ("1", "1-ga"), ("1.0-final", "1"), ("1cr", "1rc"),
                 ("1.0alpha1", "1.0-a1"), ("1.0Alpha1", "1.0-alpha1")]:  # fmt: skip
        assert maven.compare(a, b) == 0, (a, b)
