"""``commit_upper`` on a real overlay mount: additions, deletions (whiteouts) and a replaced
directory (opaque) become a layer on top of the base image, and the result unpacks as expected."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.errors import InvalidArgument, NotFound
from berth.image.commit import commit_upper
from berth.image.fsck import fsck
from berth.image.images import ImageStore
from berth.image.importer import import_image
from berth.image.layers import apply_layer
from tests.busybox import make_rootfs

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def images(tmp_path: Path) -> Iterator[ImageStore]:
    store = ImageStore(tmp_path / "store")
    yield store
    store.close()


@pytest.fixture
def base(images: ImageStore, tmp_path: Path) -> Path:
    """The busybox root imported as ``base:1``; returns the tree (the overlay's lower layer)."""
    rootfs = make_rootfs(tmp_path / "lower")
    (rootfs / "home/berth/old").write_text("old\n")
    import_image(images, rootfs, "base:1", changes=['CMD ["/bin/sh"]'])
    return rootfs


@pytest.fixture
def upper(base: Path, tmp_path: Path) -> Iterator[Path]:
    """An overlay over ``base`` (mounted as the snapshotter does), changed, then unmounted."""
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for d in (upper, work, merged):
        d.mkdir()
    options = f"lowerdir={base},upperdir={upper},workdir={work},index=off,redirect_dir=off,metacopy=off"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], check=True)
    try:
        (merged / "etc/added").write_text("new file\n")
        (merged / "etc/group").unlink()
        shutil.rmtree(merged / "home/berth")
        (merged / "home/berth").mkdir()
        (merged / "home/berth/fresh").write_text("fresh\n")
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    yield upper


def _unpack(images: ImageStore, name: str, into: Path) -> None:
    resolved = images.resolve(name)
    into.mkdir()
    for layer, diff_id in zip(resolved.manifest.layers, resolved.config.diff_ids, strict=True):
        with images.content.open(layer.digest) as blob:
            assert apply_layer(blob, into, media_type=layer.media_type).diff_id == diff_id


def test_commit_upper_adds_a_layer_with_whiteouts_and_opaque_dirs(
    images: ImageStore, upper: Path, tmp_path: Path
) -> None:
    stored = commit_upper(images, upper, "base:1", reference="base:2", changes=["USER 1000"], message="m")
    assert stored.name == "localhost/base:2"
    old, new = images.resolve("localhost/base:1"), images.resolve("localhost/base:2")
    assert new.manifest.layers[:-1] == old.manifest.layers
    assert new.config.diff_ids[:-1] == old.config.diff_ids and len(new.config.diff_ids) == 2
    assert new.config.config.user == "1000" and new.config.config.cmd == ("/bin/sh",)
    assert [h.comment for h in new.config.history] == ["", "m"]
    root = tmp_path / "unpacked"
    _unpack(images, "localhost/base:2", root)
    assert (root / "etc/added").read_text() == "new file\n"
    assert not (root / "etc/group").exists() and (root / "etc/passwd").exists()
    assert sorted(p.name for p in (root / "home/berth").iterdir()) == ["fresh"]
    assert (root / "bin/busybox").is_file()
    assert fsck(images.content, images) == []


def test_commit_without_a_name_is_untagged_and_bad_input_writes_nothing(
    images: ImageStore, upper: Path, tmp_path: Path
) -> None:
    before = {i.digest for i in images.content.list()}
    with pytest.raises(InvalidArgument):
        commit_upper(images, upper, "base:1", changes=["STOPSIGNAL NOPE"])
    with pytest.raises(InvalidArgument):
        commit_upper(images, upper, "base:1", reference="Bad:Ref:")
    with pytest.raises(NotFound):
        commit_upper(images, upper, "missing:1")
    with pytest.raises(NotFound):
        commit_upper(images, tmp_path / "no-upper", "base:1")
    assert {i.digest for i in images.content.list()} == before
    stored = commit_upper(images, upper, "base:1")
    assert stored.name.startswith("localhost/berth-untagged@sha256:")
