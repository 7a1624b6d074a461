"""``berth pull`` and ``podman pull`` side by side on a host set up only through
/etc/containers/registries.conf: the same reference comes from the same registry and gets the same
name (a mirror taken, an insecure registry allowed, an alias resolved, a search registry used, a
blocked registry refused, an ambiguous short name refused in enforcing mode).

Both tools run in a private mount namespace where a test file is bind-mounted over
/etc/containers/registries.conf, an empty directory over registries.conf.d (and over /etc/berth if
the host has one) and a tmpfs over /var/cache (podman's alias cache): the host's files are never
touched. Each registry holds different content under the same repository names, so the manifest
digest a tool ends up with says which registry served it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.registry_server.peers import run, serve_cli, write_oci_layout

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
    pytest.mark.skipif(
        not Path("/etc/containers/registries.conf").is_file()
        or not Path("/etc/containers/registries.conf.d").is_dir(),
        reason="no /etc/containers/registries.conf(.d) to stand in for",
    ),
]

# $1 the test's registries.conf, $2 an empty directory; then the command.
_PRIVATE_ETC = """
mount --bind "$1" /etc/containers/registries.conf &&
mount --bind "$2" /etc/containers/registries.conf.d &&
mount -t tmpfs tmpfs /var/cache &&
if [ -d /etc/berth ]; then mount --bind "$2" /etc/berth; fi &&
shift 2 && exec "$@"
"""


@dataclass
class Side:
    """One tool's outcome: exit code, output, and the error's text."""

    ok: bool
    out: str
    err: str


class Host:
    """Runs podman and berth, each on a private store, with only the test's registries.conf."""

    def __init__(self, tmp: Path, runroot: Path) -> None:
        self.tmp = tmp
        self.empty = tmp / "empty"
        self.empty.mkdir()
        self.conf = tmp / "registries.conf"
        home = tmp / "home"  # no ~/.config/containers here
        home.mkdir()
        drop = ("BERTH_REGISTRIES_CONF", "CONTAINERS_REGISTRIES_CONF", "REGISTRY_AUTH_FILE")
        self.env = {k: v for k, v in os.environ.items() if k not in drop} | {"HOME": str(home)}
        self.podman_base = ["podman", "--root", str(tmp / "podman-root"), "--runroot", str(runroot)]
        self.podman_base += ["--storage-driver", "vfs", "--events-backend", "file"]
        broot = tmp / "berth-root"
        self.berth_base = [sys.executable, "-m", "berth.cli.main", "--root", str(broot)]
        self.berth_base += ["--runroot", str(broot / "run")]

    def _run(self, command: list[str]) -> Side:
        done = subprocess.run(
            [
                "unshare",
                "-m",
                "--",
                "sh",
                "-c",
                _PRIVATE_ETC,
                "sh",
                str(self.conf),
                str(self.empty),
                *command,
            ],
            env=self.env,
            stdin=subprocess.DEVNULL,  # no terminal: the short-name mode's non-interactive rules
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        return Side(done.returncode == 0, done.stdout, done.stderr.strip())

    def podman(self, *args: str) -> Side:
        return self._run([*self.podman_base, *args])

    def berth(self, *args: str) -> Side:
        return self._run([*self.berth_base, *args])

    def podman_digest(self, name: str) -> str:
        side = self.podman("image", "inspect", "--format", "{{.Digest}}", name)
        assert side.ok, side.err
        return side.out.strip()

    def podman_names(self) -> set[str]:
        side = self.podman("images", "--format", "json")
        assert side.ok, side.err
        return {name for image in json.loads(side.out) for name in image.get("Names") or []}

    def berth_digest(self, name: str) -> str:
        side = self.berth("image", "inspect", name)
        assert side.ok, f"berth has no image {name}: {side.err}"
        (image,) = json.loads(side.out)
        return str(image["Digest"])

    def berth_names(self) -> set[str]:
        side = self.berth("images", "--format", "json")
        assert side.ok, side.err
        return {name for image in json.loads(side.out) for name in image.get("Names") or []}


@dataclass
class Registries:
    primary: str  # plain HTTP, marked insecure
    mirror: str  # plain HTTP, a mirror of the primary
    digests: dict[str, str]  # "REGISTRY/REPO:TAG" -> manifest digest of what that registry holds


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    # podman refuses a runroot longer than 50 characters; pytest's tmp_path is longer.
    runroot = Path(tempfile.mkdtemp(prefix="berth-podman-"))
    try:
        yield Host(tmp_path, runroot)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[Registries]:
    with serve_cli(tmp_path / "primary") as primary, serve_cli(tmp_path / "mirror") as mirror:
        digests = {}
        images = [
            (mirror, "cache/team/app:v1"),
            (primary, "team/app:v1"),
            (primary, "direct/hello:latest"),
            (primary, "direct/world:latest"),
            (primary, "private/secret:v1"),
        ]
        for n, (registry, repo) in enumerate(images):
            layout = tmp_path / f"layout{n}"
            layout.mkdir()
            digest = write_oci_layout(layout, files={"which": f"{registry}/{repo}\n".encode()})
            # skopeo pushes with the host's configuration, which these fully qualified names ignore
            run(
                "skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{registry}/{repo}"
            )
            digests[f"{registry}/{repo}"] = digest
        yield Registries(primary, mirror, digests)


def _conf(reg: Registries, search: list[str], mode: str) -> str:
    return f"""
unqualified-search-registries = {json.dumps(search)}
short-name-mode = "{mode}"

[[registry]]
location = "{reg.primary}"
insecure = true
[[registry.mirror]]
location = "{reg.mirror}/cache"
insecure = true

[[registry]]
location = "{reg.primary}/direct"
insecure = true

[[registry]]
location = "{reg.primary}/private"
insecure = true
blocked = true

[aliases]
"hello" = "{reg.primary}/direct/hello"
"""


def _same_pull(host: Host, reference: str, name: str, served_by: str) -> None:
    """Both tools pull ``reference``, store it as ``name``, and got what ``served_by`` holds."""
    podman = host.podman("pull", reference)
    assert podman.ok, f"podman pull {reference}: {podman.err}"
    berth = host.berth("pull", "-q", reference)
    assert berth.ok, f"berth pull {reference}: {berth.err}"
    assert name in host.podman_names() and name in host.berth_names()
    assert host.podman_digest(name) == host.berth_digest(name) == served_by


def test_pulls_resolve_as_podmans_do(host: Host, registries: Registries) -> None:
    reg = registries
    host.conf.write_text(_conf(reg, [reg.primary], "enforcing"))

    # the mirror is taken: the primary holds other content under the same name
    name = f"{reg.primary}/team/app:v1"
    _same_pull(host, name, name, reg.digests[f"{reg.mirror}/cache/team/app:v1"])
    assert reg.digests[name] != reg.digests[f"{reg.mirror}/cache/team/app:v1"]

    # an insecure (plain HTTP) registry is allowed without --tls-verify=false, no mirror for it
    name = f"{reg.primary}/direct/world:latest"
    _same_pull(host, name, name, reg.digests[name])

    # an alias resolves a short name, tag added
    name = f"{reg.primary}/direct/hello:latest"
    _same_pull(host, "hello", name, reg.digests[name])

    # the one search registry completes a short name (enforcing mode: one candidate is no ambiguity)
    assert host.berth("rmi", f"{reg.primary}/direct/world:latest").ok
    _same_pull(
        host,
        "direct/world",
        f"{reg.primary}/direct/world:latest",
        reg.digests[name.replace("hello", "world")],
    )

    # a blocked registry is refused by both, and nothing is stored
    for side in (
        host.podman("pull", f"{reg.primary}/private/secret:v1"),
        host.berth("pull", f"{reg.primary}/private/secret:v1"),
    ):
        assert not side.ok and "blocked" in side.err
    assert not any("private" in n for n in host.podman_names() | host.berth_names())

    info = json.loads(host.berth("info").out)
    podman_info = json.loads(host.podman("info", "--format", "json").out)
    assert info["registries"] == podman_info["registries"]
    assert info["registriesConf"]["files"] == ["/etc/containers/registries.conf"]


def test_ambiguous_short_names_follow_the_mode(host: Host, registries: Registries) -> None:
    reg = registries
    # enforcing, two search registries, no terminal: both refuse rather than guess
    host.conf.write_text(_conf(reg, [reg.mirror, reg.primary], "enforcing"))
    podman, berth = host.podman("pull", "direct/world"), host.berth("pull", "direct/world")
    assert not podman.ok and "TTY" in podman.err
    assert not berth.ok and "ambiguous" in berth.err and len(berth.err.splitlines()) == 1

    # permissive: both try the search registries in order; the mirror lacks it, the primary serves it
    host.conf.write_text(_conf(reg, [reg.mirror, reg.primary], "permissive"))
    name = f"{reg.primary}/direct/world:latest"
    _same_pull(host, "direct/world", name, reg.digests[name])
