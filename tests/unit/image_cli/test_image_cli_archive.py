"""``save``/``load``: both archive formats round-trip, are told apart, and a truncated or foreign
archive leaves nothing in the store."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from berth.distribution.archive import DOCKER_ARCHIVE, OCI_ARCHIVE, detect_format, load, save
from berth.errors import InvalidArgument, NotFound
from berth.image.fsck import fsck
from berth.image.images import ImageStore
from berth.image.importer import import_image, is_untagged


def _images(root: Path) -> ImageStore:
    return ImageStore(root / "images")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A storage root holding busybox-like image ``app:1``."""
    root = tmp_path / "src"
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin/sh").write_bytes(b"\x7fELF" + bytes(4000))
    images = _images(root)
    import_image(images, tree, "app:1", changes=['CMD ["/bin/sh"]'])
    images.close()
    return root


def _state(root: Path) -> tuple[list[str], list[str]]:
    images = _images(root)
    try:
        assert fsck(images.content, images) == []
        return [r.name for r in images.list()], [str(i.digest) for i in images.content.list()]
    finally:
        images.close()


@pytest.mark.parametrize("fmt", [DOCKER_ARCHIVE, OCI_ARCHIVE])
def test_round_trip_keeps_the_image_id_and_name(source: Path, tmp_path: Path, fmt: str) -> None:
    archive = tmp_path / "app.tar"
    save(source, "localhost/app:1", archive, fmt)  # import names a short name under localhost/
    assert detect_format(archive) == fmt
    dest = tmp_path / "dest"
    assert load(dest, archive) == ["localhost/app:1"]
    src_images, dst_images = _images(source), _images(dest)
    try:
        want, got = src_images.resolve("localhost/app:1"), dst_images.resolve("localhost/app:1")
        assert got.manifest.config.digest == want.manifest.config.digest  # same image ID
        assert got.config.config.cmd == ("/bin/sh",)
        if fmt == OCI_ARCHIVE:  # the manifest itself travels: same digest
            assert got.descriptor.digest == want.descriptor.digest
    finally:
        src_images.close()
        dst_images.close()


def test_untagged_image_saves_and_loads_untagged(tmp_path: Path) -> None:
    root = tmp_path / "src"
    (tmp_path / "t").mkdir()
    (tmp_path / "t/f").write_text("x")
    images = _images(root)
    stored = import_image(images, tmp_path / "t")
    images.close()
    for fmt in (DOCKER_ARCHIVE, OCI_ARCHIVE):
        archive = tmp_path / f"{fmt}.tar"
        save(root, stored.name, archive, fmt)
        (name,) = load(tmp_path / f"dest-{fmt}", archive)
        assert is_untagged(name)


def test_docker_archive_with_several_tags_and_images(source: Path, tmp_path: Path) -> None:
    single = tmp_path / "one.tar"
    save(source, "localhost/app:1", single, DOCKER_ARCHIVE)
    with tarfile.open(single) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    entry = json.loads(members["manifest.json"])[0]
    entries = [{**entry, "RepoTags": ["app:1", "localhost/other:2"]}, {**entry, "RepoTags": []}]
    members["manifest.json"] = json.dumps(entries).encode()
    multi = tmp_path / "multi.tar"
    with tarfile.open(multi, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "dest"
    # the untagged second entry is the same image: no untagged duplicate is kept
    assert load(dest, multi) == ["docker.io/library/app:1", "localhost/other:2", "docker.io/library/app:1"]
    names, _ = _state(dest)
    assert names == ["docker.io/library/app:1", "localhost/other:2"]


@pytest.mark.parametrize("fmt", [DOCKER_ARCHIVE, OCI_ARCHIVE])
@pytest.mark.parametrize("keep", [0.3, 0.9, 0.9999])
def test_truncated_archive_leaves_nothing(source: Path, tmp_path: Path, fmt: str, keep: float) -> None:
    archive = tmp_path / "app.tar"
    save(source, "localhost/app:1", archive, fmt)
    with tarfile.open(archive) as tar:  # cut inside the members, not in the trailing padding
        end = max(m.offset_data + m.size for m in tar.getmembers())
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: min(int(end * keep), end - 1)])
    dest = tmp_path / "dest"
    with pytest.raises(InvalidArgument):
        load(dest, cut)
    assert _state(dest) == ([], [])


def test_not_an_archive_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"hello" * 300)
    with pytest.raises(InvalidArgument, match="cannot read archive"):
        load(tmp_path / "dest", junk)
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        info = tarfile.TarInfo("etc/hostname")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InvalidArgument, match="neither a docker-archive nor an oci-archive"):
        load(tmp_path / "dest", plain)
    with pytest.raises(NotFound):
        load(tmp_path / "dest", tmp_path / "missing.tar")
    assert _state(tmp_path / "dest") == ([], [])


def test_save_of_an_unknown_image_writes_no_file(source: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        save(source, "nope:1", tmp_path / "x.tar", DOCKER_ARCHIVE)
    assert not (tmp_path / "x.tar").exists()
    with pytest.raises(InvalidArgument, match="unknown archive format"):
        save(source, "localhost/app:1", tmp_path / "x.tar", "tarball")
