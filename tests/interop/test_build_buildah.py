"""``berth build`` and Debian's buildah 1.28 build the same Containerfiles to the same images.

Both start from one busybox base (``berth import``; buildah pulls Berth's ``oci-archive`` of it).
Each case is built by both; the image configs must match (the fields the issue names, buildah's
``io.buildah.version`` label aside) and so must the final file trees, read from each image's layers
(buildah's pushed to a ``dir:``) as buildah's conformance tests read them: every layer's tar entries
in order, whiteouts applied, then path, type, mode, owner, size, content digest, link target and
xattrs (mtimes aside). Each
image then runs: ``berth run`` prints what ``podman run`` of buildah's prints. Heredocs (which
buildah 1.28 lacks) are checked against a tree written by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from berth.image.images import ImageStore
from tests.busybox import make_rootfs
from tests.integration.engine_cli.conftest import Berth

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(600),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(
        not (shutil.which("buildah") and shutil.which("podman")), reason="needs buildah, podman"
    ),
]

BASE = "localhost/busybox:build-base"
CONFIG_FIELDS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "User",
    "WorkingDir",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
)
Tree = dict[str, tuple[object, ...]]


@dataclass
class Buildah:
    """buildah (and podman, for running its images) on private storage: vfs, runc, no ulimits."""

    root: Path
    runroot: Path
    conf: Path

    def storage(self) -> list[str]:
        return ["--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", "vfs"]

    def __call__(self, *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
        return _run(["buildah", *self.storage(), *map(str, args)], {**self.env, **(env or {})}, cwd)

    def podman(self, *args: str) -> str:
        argv = ["podman", *self.storage(), "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
        return _run([*argv, "--events-backend", "none", *args], self.env)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(self.conf)}


def _run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(argv[:6])}... exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


@dataclass
class Peers:
    berth: Berth
    buildah: Buildah
    work: Path


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    work = tmp_path_factory.mktemp("build-buildah")
    berth = Berth(work / "berth-root", work / "berth-run", make_rootfs(work / "rootfs"))
    # buildah's runroot holds sockets: keep its path short.
    runroot = Path(tempfile.mkdtemp(prefix="bh-", dir="/tmp"))
    conf = work / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    buildah = Buildah(work / "buildah-root", runroot, conf)
    try:
        berth("import", str(berth.rootfs), BASE)
        archive = work / "base.tar"
        berth("save", "--format", "oci-archive", "-o", str(archive), BASE)
        buildah("pull", f"oci-archive:{archive}")
        yield Peers(berth, buildah, work)
    finally:
        berth.cleanup()
        subprocess.run(["buildah", *buildah.storage(), "rm", "--all"], capture_output=True, check=False)
        shutil.rmtree(runroot, ignore_errors=True)
        shutil.rmtree(work / "buildah-root", ignore_errors=True)


# -- reading images ---------------------------------------------------------------------------


def fold_layers(layers: Iterable[bytes]) -> Tree:
    """The final tree of ``layers`` (tar bytes, any compression tarfile reads), whiteouts applied."""
    tree: Tree = {}
    for blob in layers:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
            for member in tar:
                _apply_entry(tree, tar, member)
    return tree


def _apply_entry(tree: Tree, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    path = posixpath.normpath(member.name.lstrip("/")).removeprefix("./")
    parent, base = posixpath.split(path)
    if base == ".wh..wh..opq":
        for other in [p for p in tree if p.startswith(parent + "/")]:
            del tree[other]
        return
    if base.startswith(".wh."):
        gone = posixpath.join(parent, base[4:])
        for other in [p for p in tree if p == gone or p.startswith(gone + "/")]:
            del tree[other]
        return
    if path == ".":
        path = "/"
    if not member.isdir():
        for other in [p for p in tree if p.startswith(path + "/")]:
            del tree[other]
    xattrs = tuple(sorted((k, v) for k, v in member.pax_headers.items() if k.startswith("SCHILY.xattr.")))
    if member.isfile():
        data = tar.extractfile(member)
        digest = hashlib.sha256(data.read() if data else b"").hexdigest()
        facts: tuple[object, ...] = ("file", member.size, digest, "")
    elif member.islnk():
        target = posixpath.normpath(member.linkname.lstrip("/")).removeprefix("./")
        facts = (*tree[target][:1], *tree[target][1:4]) if target in tree else ("link", 0, "", target)
    else:
        kind = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.FIFOTYPE: "fifo"}
        facts = (kind.get(member.type, member.type), 0, "", member.linkname if member.issym() else "")
    tree[path] = (*facts, oct(member.mode & 0o7777), member.uid, member.gid, xattrs)


def berth_image(berth: Berth, name: str) -> tuple[dict[str, Any], Tree]:
    store = ImageStore(berth.root / "images")
    try:
        image = store.resolve(name)
        config = json.loads(store.content.read(image.manifest.config.digest))
        tree = fold_layers(
            store.content.read(layer.digest, max_size=1 << 30) for layer in image.manifest.layers
        )
    finally:
        store.close()
    return config, tree


def buildah_image(buildah: Buildah, name: str, work: Path) -> tuple[dict[str, Any], Tree]:
    # The dir: transport keeps the manifest and config as stored (oci: would convert a Docker
    # config, dropping its Healthcheck, OnBuild and Shell).
    pushed = work / "pushed"
    shutil.rmtree(pushed, ignore_errors=True)
    buildah("push", name, f"dir:{pushed}")

    def blob(digest: str) -> bytes:
        return (pushed / digest.partition(":")[2]).read_bytes()

    manifest = json.loads((pushed / "manifest.json").read_text())
    config = json.loads(blob(manifest["config"]["digest"]))
    return config, fold_layers(blob(layer["digest"]) for layer in manifest["layers"])


def compared_config(config: dict[str, Any]) -> dict[str, Any]:
    """The fields of an image config both builders must agree on (absent and empty alike)."""
    inner = config.get("config") or {}
    picked = {key: inner.get(key) or None for key in CONFIG_FIELDS}
    labels = {k: v for k, v in (picked["Labels"] or {}).items() if k != "io.buildah.version"}
    picked["Labels"] = labels or None
    return picked


# -- the cases --------------------------------------------------------------------------------


@dataclass
class Case:
    containerfile: str
    files: dict[str, str] = field(default_factory=dict)
    build_args: tuple[str, ...] = ()
    fmt: str = "oci"
    target: str = ""
    #: The context's symbolic links: path -> target.
    links: dict[str, str] = field(default_factory=dict)
    #: The builders' environment beyond their own (``--build-arg NAME`` reads it).
    env: dict[str, str] = field(default_factory=dict)


CONFIG = """\
ARG BASE={base}
ARG UNUSED=1
FROM $BASE AS first
ARG WHO=world
ARG TARGETARCH
ENV GREETING="hello $WHO" HOME=/root
LABEL org.example.a=b "with space"=yes
WORKDIR /app
RUN echo "$TARGETARCH $GREETING" > arch.txt
RUN ["/bin/sh", "-c", "echo exec form > exec.txt"]
USER 1000:1000
EXPOSE 80 53/udp
VOLUME /data /cache
HEALTHCHECK --interval=5s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
STOPSIGNAL SIGUSR1
ONBUILD RUN echo triggered > /tmp/onbuild
ENTRYPOINT ["/bin/cat"]
CMD ["/app/arch.txt", "/app/exec.txt"]
"""

COPIES = """\
FROM {base}
WORKDIR /srv
COPY *.txt ./
COPY --chown=1000:1000 dir /srv/dir/
COPY --chmod=0750 script.sh /usr/local/bin/
COPY --chown=berth:extra keep.log /logs/
COPY . /all/
ADD files.tar /unpacked/
RUN cat /srv/a.txt > /srv/copied
USER berth
RUN touch /tmp/as-berth
CMD find /srv /all /unpacked /logs -exec stat -c "%n %A %u %g %s" {{}} + | sort
"""

STAGES = """\
FROM {base} AS builder
RUN mkdir -p /out && echo built > /out/result && ln -s result /out/link && mkfifo /out/fifo
FROM {base} AS unused
RUN exit 1
FROM {base}
COPY --from=builder /out /opt/out
COPY --from=0 --chown=1000 /out/result /opt/result2
RUN ln /opt/result2 /opt/hardlink && rm /opt/out/fifo
CMD ["/bin/cat", "/opt/out/result", "/opt/hardlink"]
"""

# Parser and config forms: `# escape=` (for continuations: buildah 1.28 keeps `\` as the escape
# in words, see docs/build.md), ARG in FROM, ENV's ${V:-w} and ${V:+w} and several pairs,
# LABEL quoting, EXPOSE forms, USER uid:gid, relative WORKDIRs, a shell-form ENTRYPOINT with a CMD,
# and a --build-arg given without a value (taken from the environment).
LANGUAGE = """\
# escape=`
ARG TAG=build-base
FROM localhost/busybox:${{TAG}}
ARG FROMENV
ARG EMPTY
ENV A=${{FROMENV:-unset}} B=${{EMPTY:-dflt}} C=${{FROMENV:+alt}} D=${{EMPTY:+never}} `
    E="two words" F=last
ENV G $A and $F
ENV SWAP=old
ENV SWAP=new BEFORE=$SWAP
LABEL "a b"="c d" e='f "g"' "k"=l
LABEL multi=one `
      other="two"
EXPOSE 80/udp 443
WORKDIR /w
WORKDIR rel
WORKDIR ../up
RUN echo "$A|$B|$C|$D|$E|$F|$G" > env.txt && pwd > pwd.txt
USER 1234:5678
RUN touch /tmp/by-1234
ENTRYPOINT echo "$A $E" && pwd && id -u && id -g && cat env.txt
CMD ["ignored"]
"""

# Trees: COPY --from an image, of a symlink, of a directory's contents, with a name's owner and a
# mode; an ADDed tar with a hard link; files and directories deleted (whiteouts) and made again
# in later steps; .dockerignore (no .containerignore).
TREES = """\
FROM {base}
COPY --from={base} /etc/passwd /from-image/passwd
COPY link.txt /copied/
COPY tree/ /contents/
COPY tree /whole/
COPY --chown=berth:extra --chmod=0640 a.txt /owned/a.txt
ADD files.tar /unpacked/
RUN rm /etc/group /bin/vi && rm -r /home/berth /unpacked/etc/link
RUN echo one > /re && mkdir -p /dir/sub && touch /dir/sub/f /dir/g
RUN rm -r /re /dir
RUN echo two > /re && mkdir /dir && touch /dir/h
COPY . /all/
COPY a.txt /home/berth/again
CMD ["/bin/cat", "/re", "/copied/link.txt", "/contents/c.txt"]
"""

TREE_FILES = {
    "a.txt": "a\n",
    "tree/c.txt": "c\n",
    "tree/sub/d.txt": "d\n",
    "skip.log": "skipped\n",
    ".dockerignore": "*.log\n",
}

# --target of a middle stage: the later one is not built.
TARGET = """\
FROM {base} AS first
RUN echo first > /first
FROM first AS middle
ENV STAGE=middle
RUN echo middle > /middle
CMD ["/bin/cat", "/first", "/middle"]
WORKDIR /mid
FROM middle
RUN exit 1
"""

# buildah 1.28 makes each WORKDIR's directory at once, as the USER of the moment, even with no
# tree step after it.
WORKDIRS = """\
FROM {base}
WORKDIR /a
USER 1000
WORKDIR b
WORKDIR /c
COPY x sub/x
WORKDIR /d
USER 0
WORKDIR /e
ENV X=1
RUN pwd > /e/pwd
WORKDIR /f
CMD ["/bin/cat", "/e/pwd", "/c/sub/x"]
"""

CONTEXT_FILES = {
    "a.txt": "a\n",
    "b.txt": "b\n",
    "dir/c.txt": "c\n",
    "dir/sub/d.bin": "d" * 5000,
    "skip.log": "skipped\n",
    "keep.log": "kept\n",
    "script.sh": "#!/bin/sh\necho script\n",
    ".containerignore": "*.log\n!keep.log\n",
}

CASES = {
    "config-oci": Case(CONFIG, build_args=("WHO=builders",)),
    "config-docker": Case(CONFIG, fmt="docker"),
    "copies": Case(COPIES, CONTEXT_FILES),
    "stages": Case(STAGES),
    "language": Case(LANGUAGE, build_args=("FROMENV",), env={"FROMENV": "from-env"}),
    "trees": Case(TREES, TREE_FILES, links={"link.txt": "a.txt", "tree/sub/link": "../c.txt"}),
    "target": Case(TARGET, target="middle"),
    "workdirs": Case(WORKDIRS, {"x": "x\n"}),
}


def make_context(where: Path, case: Case) -> Path:
    ctx = where / "ctx"
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir(parents=True)
    (ctx / "Containerfile").write_text(case.containerfile.format(base=BASE))
    for rel, text in case.files.items():
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(text)
    for rel, target in case.links.items():
        (ctx / rel).symlink_to(target)
    if (ctx / "script.sh").exists():
        os.chmod(ctx / "script.sh", 0o644)
    write_tarball(ctx / "files.tar")
    return ctx


def write_tarball(path: Path) -> None:
    """A tar for ADD: its own `./` entry, owners, modes, a symlink, an xattr."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, kind: bytes, mode: int, uid: int = 0, data: bytes = b"", **extra: Any) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid, info.size, info.mtime = (
                kind,
                mode,
                uid,
                uid,
                len(data),
                1_600_000_000,
            )
            for key, value in extra.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("./", tarfile.DIRTYPE, 0o750, uid=1000)
        add("./etc/", tarfile.DIRTYPE, 0o755)
        add("./etc/hello", tarfile.REGTYPE, 0o640, uid=1000, data=b"hello\n")
        add("./etc/link", tarfile.SYMTYPE, 0o777, linkname="hello")
        add("./etc/hard", tarfile.LNKTYPE, 0o640, uid=1000, linkname="./etc/hello")
        add("./tagged", tarfile.REGTYPE, 0o600, data=b"x", pax_headers={"SCHILY.xattr.user.note": "yes"})


def build_both(peers: Peers, case: Case, tag: str) -> None:
    ctx = make_context(peers.work, case)
    args = [f"--build-arg={a}" for a in case.build_args]
    args += ["--target", case.target] if case.target else []
    berth_argv = ["build", "-q", "--network", "none", "--format", case.fmt, *args, "-t", tag, str(ctx)]
    _run(peers.berth.argv(*berth_argv), {**peers.berth.env, **case.env})
    peers.buildah(
        "build", "-q", "--runtime", "runc", "--network", "none", "--pull-never",
        "--format", case.fmt, *args, "-t", tag, ctx, env=case.env,
    )  # fmt: skip


def assert_same_image(peers: Peers, tag: str) -> None:
    berth_config, berth_tree = berth_image(peers.berth, tag)
    buildah_config, buildah_tree = buildah_image(peers.buildah, tag, peers.work)
    assert compared_config(berth_config) == compared_config(buildah_config)
    differ = {
        path: (berth_tree.get(path), buildah_tree.get(path))
        for path in sorted(berth_tree.keys() | buildah_tree.keys())
        if berth_tree.get(path) != buildah_tree.get(path)
    }
    assert differ == {}, "trees differ (berth, buildah):\n" + "\n".join(
        f"{p}: {d}" for p, d in differ.items()
    )


def assert_same_output(peers: Peers, tag: str) -> None:
    ours = peers.berth("run", "--rm", "--network", "none", tag).stdout
    theirs = peers.buildah.podman("run", "--rm", "--network", "none", tag)
    assert ours == theirs


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_image_as_buildah(peers: Peers, name: str) -> None:
    tag = f"localhost/case-{name}:1"
    build_both(peers, CASES[name], tag)
    assert_same_image(peers, tag)
    assert_same_output(peers, tag)


def test_onbuild_triggers_run_in_a_child_build(peers: Peers) -> None:
    parent = "localhost/onbuild-parent:1"
    build_both(peers, CASES["config-docker"], parent)
    child = Case(f'FROM {parent}\nUSER 0\nRUN cat /tmp/onbuild > /child\nCMD ["/child"]\n', fmt="docker")
    build_both(peers, child, "localhost/onbuild-child:1")
    assert_same_image(peers, "localhost/onbuild-child:1")


HEREDOCS = """\
FROM {base}
ARG WHO=you
RUN <<EOF
echo one > /h1
echo "$WHO" >> /h1
EOF
COPY <<EOT <<'RAW' /docs/
hello $WHO
EOT
not $WHO
RAW
"""


def test_heredocs_against_a_tree_written_by_hand(peers: Peers) -> None:
    ctx = make_context(peers.work, Case(HEREDOCS))
    peers.berth("build", "-q", "--network", "none", "-t", "localhost/heredocs:1", str(ctx), timeout=300)
    _, base = berth_image(peers.berth, BASE)
    _, built = berth_image(peers.berth, "localhost/heredocs:1")

    def file(text: bytes, mode: str = "0o644") -> tuple[object, ...]:
        return ("file", len(text), hashlib.sha256(text).hexdigest(), "", mode, 0, 0, ())

    added = {path: facts for path, facts in built.items() if base.get(path) != facts}
    assert added == {
        "etc/hostname": file(b"", "0o755"),  # buildah's RUN leaves its mount points
        "run": ("dir", 0, "", "", "0o755", 0, 0, ()),
        "h1": file(b"one\nyou\n"),
        "docs": ("dir", 0, "", "", "0o755", 0, 0, ()),
        "docs/EOT": file(b"hello you\n"),
        "docs/RAW": file(b"not $WHO\n"),
    }
