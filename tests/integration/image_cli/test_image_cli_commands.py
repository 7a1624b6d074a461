"""The image commands end to end through ``berth``'s entry point, on a temporary storage root."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from berth.cli.main import main
from berth.image.fsck import fsck
from berth.image.images import ImageStore
from tests.busybox import make_rootfs

pytestmark = pytest.mark.timeout(120)


class Berth:
    """Runs ``berth --root R --runroot RR ...`` in-process and keeps stdout, stderr and status."""

    def __init__(self, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root, self.runroot, self.capsys = tmp / "root", tmp / "run", capsys
        self.out = self.err = ""

    def __call__(self, *args: str) -> int:
        self.capsys.readouterr()
        code = main(["--root", str(self.root), "--runroot", str(self.runroot), *args])
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    def ok(self, *args: str) -> str:
        code = self(*args)
        assert code == 0, self.err
        return self.out

    def fails(self, *args: str) -> str:
        assert self(*args) == 125
        assert self.err.count("\n") == 1 and self.err.startswith("berth: "), self.err
        return self.err

    def store_state(self) -> tuple[list[str], int]:
        images = ImageStore(self.root / "images")
        try:
            assert fsck(images.content, images) == []
            assert images.content.ingests() == []
            return [r.name for r in images.list()], len(list(images.content.list()))
        finally:
            images.close()


@pytest.fixture
def berth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Berth:
    return Berth(tmp_path, capsys)


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


def test_import_list_inspect_history(berth: Berth, rootfs: Path) -> None:
    image_id = berth.ok(
        "import", str(rootfs), "bb:1", "-c", 'CMD ["/bin/sh"]', "-c", "ENV A=1", "-m", "first"
    )
    image_id = image_id.strip().removeprefix("sha256:")
    table = berth.ok("images").splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert table[1].split()[:3] == ["localhost/bb", "1", image_id[:12]]
    assert berth.ok("images", "-q").split() == [image_id[:12]]
    assert berth.ok("image", "ls", "-q", "--no-trunc").split() == [f"sha256:{image_id}"]
    assert "sha256:" in berth.ok("images", "--digests").splitlines()[1]
    (listed,) = json.loads(berth.ok("images", "--format", "json"))
    assert listed["Id"] == image_id and listed["RepoTags"] == ["localhost/bb:1"]
    (inspected,) = json.loads(berth.ok("image", "inspect", image_id[:6]))
    assert inspected["Id"] == image_id
    assert inspected["RepoDigests"] == [f"localhost/bb@{inspected['Digest']}"]
    assert inspected["Config"] == {"Env": ["A=1"], "Cmd": ["/bin/sh"]}
    assert inspected["RootFS"]["Type"] == "layers" and len(inspected["RootFS"]["Layers"]) == 1
    assert inspected["Os"] == "linux" and inspected["Size"] > 0 and inspected["Comment"] == "first"
    history = berth.ok("history", "bb:1").splitlines()
    assert history[1].startswith(image_id[:12]) and history[1].rstrip().endswith("first")
    (step,) = json.loads(berth.ok("image", "history", "--format", "json", "bb:1"))
    assert step["comment"] == "first" and step["size"] > 0


def test_tag_and_rmi(berth: Berth, rootfs: Path) -> None:
    image_id = berth.ok("import", str(rootfs), "bb:1").strip().removeprefix("sha256:")
    berth.ok("tag", "bb:1", "localhost/bb:2", "bb:3")
    assert len(berth.ok("images").splitlines()) == 4
    assert berth.ok("rmi", "bb:3") == "Untagged: localhost/bb:3\n"
    assert "several names" in berth.fails("rmi", image_id[:12])
    out = berth.ok("image", "rm", "-f", image_id[:12])
    assert out.splitlines()[-1] == f"Deleted: {image_id}"
    assert berth.store_state() == ([], 0)  # the blobs went with the last record


def test_tag_moving_a_name_keeps_the_old_image_untagged_and_prune_removes_it(
    berth: Berth, rootfs: Path
) -> None:
    old = berth.ok("import", str(rootfs), "bb:1").strip().removeprefix("sha256:")
    berth.ok("import", str(rootfs), "bb:1", "-c", "USER 1000")
    rows = [line.split() for line in berth.ok("images").splitlines()[1:]]
    assert ["<none>", "<none>", old[:12]] in [r[:3] for r in rows]
    assert berth.ok("image", "prune") == f"{old}\n"
    assert len(berth.ok("images", "-q").split()) == 1
    berth.ok("image", "prune", "-a")
    assert berth.store_state() == ([], 0)


def test_unknown_image_and_bad_reference(berth: Berth, rootfs: Path) -> None:
    assert "nope:1: image not known" in berth.fails("image", "inspect", "nope:1")
    assert "image not known" in berth.fails("rmi", "deadbeef")
    assert "image not known" in berth.fails("history", "nope")
    assert "image not known" in berth.fails("save", "-o", str(berth.root.parent / "x.tar"), "nope")
    assert "invalid reference" in berth.fails("import", str(rootfs), "UPPER/Case:1")
    berth.ok("import", str(rootfs), "bb:1")
    assert "invalid reference" in berth.fails("tag", "bb:1", "bad::tag")
    assert berth.store_state()[0] == ["localhost/bb:1"]


def test_import_bad_input_leaves_nothing(berth: Berth, tmp_path: Path) -> None:
    assert "does not exist" in berth.fails("import", str(tmp_path / "missing.tar"), "x:1")
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(gzip.compress(b"\x00not a tar" * 1000)[:-40])
    berth.fails("import", str(corrupt), "x:1")
    assert "invalid change" in berth.fails("import", str(tmp_path), "x:1", "-c", "EXPOSE whale")
    assert berth.store_state() == ([], 0)


def test_fsck_reports_a_corrupt_blob_and_repairs(berth: Berth, rootfs: Path) -> None:
    berth.ok("import", str(rootfs), "bb:1")
    assert berth.ok("image", "fsck") == "image store is consistent\n"
    images = ImageStore(berth.root / "images")
    layer = images.resolve("localhost/bb:1").manifest.layers[0]
    images.close()
    blob = berth.root / "images/blobs/sha256" / layer.digest.encoded
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as fh:
        fh.seek(100)
        fh.write(b"corruption")
    assert "1 problem" in berth.fails("image", "fsck")
    assert f"blob {layer.digest} is corrupt" in berth.out
    berth.fails("image", "fsck", "--repair")
    berth.fails("image", "fsck")
    assert "is missing" in berth.out  # the image now lacks its layer


def _run_berth(berth: Berth, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "berth.cli.main", "--root", str(berth.root), "--runroot", str(berth.runroot)]
    return subprocess.run([*cmd, *args], input=stdin, capture_output=True, check=False, timeout=60)


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_save_load_through_files_and_pipes(berth: Berth, rootfs: Path, tmp_path: Path, fmt: str) -> None:
    berth.ok("import", str(rootfs), "bb:1", "-c", "WORKDIR /tmp")
    archive = tmp_path / "bb.tar"
    berth.ok("save", "--format", fmt, "-o", str(archive), "bb:1")
    piped = _run_berth(berth, "save", "--format", fmt, "bb:1")
    assert piped.returncode == 0, piped.stderr
    with tarfile.open(fileobj=io.BytesIO(piped.stdout)) as tar:
        assert ("manifest.json" if fmt == "docker-archive" else "index.json") in tar.getnames()
    berth.ok("rmi", "bb:1")
    assert berth.ok("load", "-i", str(archive)) == "Loaded image: localhost/bb:1\n"
    berth.ok("rmi", "bb:1")
    loaded = _run_berth(berth, "load", stdin=piped.stdout)
    assert loaded.returncode == 0 and loaded.stdout == b"Loaded image: localhost/bb:1\n"
    (inspected,) = json.loads(berth.ok("image", "inspect", "bb:1"))
    assert inspected["Config"]["WorkingDir"] == "/tmp"
    assert "holds one image" in berth.fails(
        "save", "--format", "oci-archive", "-o", str(archive), "bb:1", "x:1"
    )


def test_save_several_tags_and_several_images(berth: Berth, rootfs: Path, tmp_path: Path) -> None:
    first = berth.ok("import", str(rootfs), "bb:1").strip().removeprefix("sha256:")
    berth.ok("import", str(rootfs), "localhost/other:2", "-c", "USER 1")
    tags = tmp_path / "tags.tar"
    berth.ok("save", "-o", str(tags), "bb:1", "bb:extra", "localhost/more:3")
    with tarfile.open(tags) as tar:
        (entry,) = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert entry["RepoTags"] == ["localhost/bb:1", "bb:extra", "localhost/more:3"]
    multi = tmp_path / "multi.tar"
    berth.ok("save", "-m", "-o", str(multi), "bb:1", "localhost/other:2", first[:12], "bb:1")
    with tarfile.open(multi) as tar:
        entries = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        repositories = json.loads(tar.extractfile("repositories").read())  # type: ignore[union-attr]
    assert [e["RepoTags"] for e in entries] == [["localhost/bb:1"], ["localhost/other:2"]]
    assert set(repositories) == {"localhost/bb", "localhost/other"}
    berth.ok("image", "prune", "-a")
    assert (
        berth.ok("load", "-i", str(multi))
        == "Loaded image: localhost/bb:1\nLoaded image: localhost/other:2\n"
    )
    assert berth.ok("load", "-i", str(tags)).count("docker.io/library/bb:extra") == 1
    assert "invalid reference" in berth.fails("save", "-o", str(tags), "bb:1", "Bad:Tag:")


def test_load_of_a_truncated_archive_leaves_nothing(berth: Berth, rootfs: Path, tmp_path: Path) -> None:
    berth.ok("import", str(rootfs), "bb:1")
    archive = tmp_path / "bb.tar"
    berth.ok("save", "-o", str(archive), "bb:1")
    berth.ok("rmi", "bb:1")
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    assert "cannot read archive" in berth.fails("load", "-i", str(cut))
    assert berth.store_state() == ([], 0)


def test_rmi_refuses_an_image_a_container_uses_and_commit_makes_a_layer(berth: Berth, rootfs: Path) -> None:
    berth.ok("import", str(rootfs), "bb:1")
    berth.ok("create", "--name", "c1", "--network", "none", "bb:1", "/bin/true")
    try:
        assert "in use by container(s) c1" in berth.fails("rmi", "bb:1")
        berth.ok("image", "prune", "-a")
        assert berth.store_state()[0] == ["localhost/bb:1"]  # prune keeps used images
        root = next((berth.root / "snapshots/active").iterdir()) / "rootfs"
        (root / "etc/committed").write_text("yes\n")
        (root / "etc/group").unlink()
        image_id = berth.ok("commit", "c1", "bb:2", "-c", "USER berth", "-m", "from c1").strip()
        (inspected,) = json.loads(berth.ok("image", "inspect", "bb:2"))
        assert inspected["Id"] == image_id.removeprefix("sha256:")
        assert inspected["Config"]["User"] == "berth" and len(inspected["RootFS"]["Layers"]) == 2
        assert [h.get("comment", "") for h in inspected["History"]] == ["", "from c1"]
        images = ImageStore(berth.root / "images")
        top = images.resolve("localhost/bb:2").manifest.layers[-1]
        data = gzip.decompress(images.content.read(top.digest))
        images.close()
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            names = set(tar.getnames())
        assert {"etc/committed", "etc/.wh.group"} <= names
        assert "no such container" in berth.fails("commit", "nope", "bb:3")
        out = berth.ok("rmi", "-f", "bb:1")
        assert out.splitlines()[-1].startswith("Deleted: ")
        assert "c1" not in berth.ok("ps", "-a")
        snapshots = berth.root / "snapshots/snapshots"
        assert len(list(snapshots.iterdir())) == 1  # bb:2 still lists the base layer
        berth.ok("rmi", "bb:2")
        assert list(snapshots.iterdir()) == []  # unpacked layers go with the last image using them
        assert berth.store_state() == ([], 0)
    finally:
        berth("rm", "-f", "c1")


def test_import_from_standard_input(berth: Berth, rootfs: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(rootfs, arcname=".")
    done = _run_berth(berth, "import", "-", "piped:1", "-m", "from a pipe", stdin=buf.getvalue())
    assert done.returncode == 0, done.stderr
    (inspected,) = json.loads(berth.ok("image", "inspect", "piped:1"))
    assert inspected["History"][0]["created_by"] == "berth import standard input"
    empty = _run_berth(berth, "import", "-", "empty:1", stdin=b"")
    assert empty.returncode == 125 and empty.stderr == b"berth: standard input is empty, not a tarball\n"
    assert berth.store_state()[0] == ["localhost/piped:1"]


def test_commit_pauses_a_running_container_and_image_exists(berth: Berth, rootfs: Path) -> None:
    berth.ok("import", str(rootfs), "bb:1")
    berth.ok("run", "-d", "--name", "busy", "--network", "none", "bb:1", "sleep", "60")
    try:
        berth.ok("commit", "-p", "-q", "busy", "bb:snap")
        assert " Up " in berth.ok("ps", "-a")  # running again after the commit
        assert berth("image", "exists", "bb:snap") == 0
        assert berth("image", "exists", "nope:1") == 1 and berth.err == ""
    finally:
        berth("rm", "-f", "busy")


def test_images_filters(berth: Berth, rootfs: Path) -> None:
    a = berth.ok("import", str(rootfs), "docker.io/app:1", "-c", "LABEL tier=web").strip()[7:19]
    b = berth.ok("import", str(rootfs), "localhost/db:2", "-c", "LABEL tier=db").strip()[7:19]
    c = berth.ok("import", str(rootfs)).strip()[7:19]
    assert berth.ok("images", "-q", "-f", "dangling=true").split() == [c]
    assert sorted(berth.ok("images", "-q", "--filter", "dangling=false").split()) == sorted([a, b])
    assert berth.ok("images", "-q", "-f", "label=tier=web").split() == [a]
    assert sorted(berth.ok("images", "-q", "-f", "label=tier").split()) == sorted([a, b])
    assert berth.ok("images", "-q", "-f", "reference=app").split() == [a]
    assert berth.ok("images", "-q", "localhost/*").split() == [b]
    assert berth.ok("images", "-q", "-f", "reference=db").split() == [b]  # made here: short name too
    assert berth.ok("images", "-q", "-f", "reference=db:2", "-f", "label=tier=web").split() == []
    assert "invalid filter" in berth.fails("images", "-f", "since=app:1")
    assert "invalid filter" in berth.fails("images", "-f", "dangling=maybe")


def test_a_container_keeps_its_image_after_the_name_moves(berth: Berth, rootfs: Path, tmp_path: Path) -> None:
    old_id = berth.ok("import", str(rootfs), "bb:1").strip()
    berth.ok("create", "--name", "c1", "--network", "none", "bb:1", "/bin/true")
    try:
        (inspected,) = json.loads(berth.ok("inspect", "c1"))
        assert (inspected["Image"], inspected["ImageName"]) == (old_id.removeprefix("sha256:"), "bb:1")
        assert inspected["ImageDigest"].startswith("sha256:")
        other = tmp_path / "other"
        (other / "etc").mkdir(parents=True)
        (other / "etc/other").write_text("x\n")
        berth.ok("import", str(other), "bb:1")  # the name moves; the old image is now untagged
        berth.ok("image", "prune")  # dangling, but c1 uses it
        assert old_id.removeprefix("sha256:")[:12] in berth.ok("images", "-q").split()
        assert "in use by container(s) c1" in berth.fails("rmi", old_id)
    finally:
        berth("rm", "-f", "c1")
    berth.ok("image", "prune")
    assert old_id.removeprefix("sha256:")[:12] not in berth.ok("images", "-q").split()


def test_a_container_made_before_schema_2_is_matched_by_its_layers(berth: Berth, rootfs: Path) -> None:
    import sqlite3

    berth.ok("import", str(rootfs), "bb:1")
    berth.ok("create", "--name", "old", "--network", "none", "bb:1", "/bin/true")
    try:
        db = sqlite3.connect(berth.root / "berth.db")
        db.execute("UPDATE containers SET image_id = '', image_digest = ''")  # as schema 1 left it
        db.commit()
        db.close()
        assert "in use by container(s) old" in berth.fails("rmi", "bb:1")
    finally:
        berth("rm", "-f", "old")
    berth.ok("rmi", "bb:1")
