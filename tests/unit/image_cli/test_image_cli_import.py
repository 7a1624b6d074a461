"""``import_image``: tarballs (every compression) and directories become one-layer images; bad
input leaves nothing in the store."""

from __future__ import annotations

import gzip
import io
import os
import socket
import tarfile
from pathlib import Path

import pytest
import zstandard

from berth.errors import InvalidArgument, NotFound
from berth.image.fsck import fsck
from berth.image.images import ImageStore
from berth.image.importer import import_image, is_untagged, record_image, untagged_name
from berth.image.layers import InvalidLayer
from berth.spec import mediatypes
from berth.spec.digest import Digest
from berth.spec.manifest import ImageManifest


@pytest.fixture
def images(tmp_path: Path) -> ImageStore:
    store = ImageStore(tmp_path / "store")
    yield store
    store.close()


def _tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin/tool").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "bin/tool").chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("box\n")
    (root / "bin/alias").symlink_to("tool")
    return root


def _tar_bytes(root: Path, prefix: str = "./") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(root, arcname=prefix or ".")
    return buf.getvalue()


def _layer_names(images: ImageStore, name: str) -> dict[str, tarfile.TarInfo]:
    resolved = images.resolve(name)
    (layer,) = resolved.manifest.layers
    assert layer.media_type == mediatypes.OCI_LAYER_GZIP
    data = gzip.decompress(images.content.read(layer.digest, max_size=1 << 30))
    assert Digest.of(data) == resolved.config.diff_ids[0]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def _assert_empty(images: ImageStore) -> None:
    assert images.list() == []
    assert list(images.content.list()) == []
    assert images.content.ingests() == []
    assert fsck(images.content, images) == []


COMPRESSORS = {
    "plain": lambda b: b,
    "gzip": gzip.compress,
    "xz": lambda b: __import__("lzma").compress(b),
    "bzip2": lambda b: __import__("bz2").compress(b),
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_tarball_in_any_compression_becomes_a_gzip_layer(
    images: ImageStore, tmp_path: Path, kind: str
) -> None:
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(COMPRESSORS[kind](_tar_bytes(_tree(tmp_path / "root"))))
    stored = import_image(images, tarball, "box:1", changes=['CMD ["/bin/tool"]'], message="hello")
    assert stored.name == "localhost/box:1"
    names = _layer_names(images, "localhost/box:1")
    assert set(names) == {"bin", "bin/tool", "bin/alias", "etc", "etc/hostname"}  # "./" dropped
    assert names["bin/tool"].mode == 0o755 and names["bin/alias"].linkname == "tool"
    config = images.resolve("localhost/box:1").config
    assert config.config.cmd == ("/bin/tool",)
    assert config.history[0].comment == "hello" and config.created
    assert stored.image_id == images.resolve("localhost/box:1").manifest.config.digest.encoded


def test_directory_import_and_absolute_names(images: ImageStore, tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    import_image(images, root, "dir:1")
    assert "bin/tool" in _layer_names(images, "localhost/dir:1")
    tarball = tmp_path / "abs.tar"
    tarball.write_bytes(_tar_bytes(root, prefix="/"))
    import_image(images, tarball, "abs:1")
    assert "etc/hostname" in _layer_names(images, "localhost/abs:1")


def test_without_a_reference_the_image_is_untagged(images: ImageStore, tmp_path: Path) -> None:
    stored = import_image(images, _tree(tmp_path / "root"))
    assert is_untagged(stored.name) and stored.name == untagged_name(stored.manifest.digest)
    assert images.get(stored.name).target == stored.manifest


def test_missing_source(images: ImageStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        import_image(images, tmp_path / "nope.tar", "x:1")
    _assert_empty(images)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"this is not a tar archive at all" * 40,
        gzip.compress(b"x" * 10000)[:-20],  # truncated gzip
        b"\xfd7zXZ\x00garbage",  # xz magic, corrupt stream
    ],
)
def test_corrupt_tarball_leaves_nothing(images: ImageStore, tmp_path: Path, content: bytes) -> None:
    tarball = tmp_path / "bad.tar"
    tarball.write_bytes(content)
    with pytest.raises(InvalidLayer):
        import_image(images, tarball, "bad:1")
    _assert_empty(images)


def test_truncated_tarball_leaves_nothing(images: ImageStore, tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    (root / "big").write_bytes(b"z" * 50000)
    tarball = tmp_path / "cut.tar.gz"
    tarball.write_bytes(gzip.compress(_tar_bytes(root)[:30000]))
    with pytest.raises(InvalidLayer, match="truncated"):
        import_image(images, tarball, "cut:1")
    _assert_empty(images)


def test_dotdot_entry_is_refused(images: ImageStore, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    tarball = tmp_path / "evil.tar"
    tarball.write_bytes(buf.getvalue())
    with pytest.raises(InvalidLayer, match=r"'\.\.'"):
        import_image(images, tarball, "evil:1")
    _assert_empty(images)


@pytest.mark.parametrize(("reference", "changes"), [("Not_A/Valid:Ref:", []), ("ok:1", ["EXPOSE banana"])])
def test_bad_reference_or_change_is_refused_before_anything_is_written(
    images: ImageStore, tmp_path: Path, reference: str, changes: list[str]
) -> None:
    with pytest.raises(InvalidArgument):
        import_image(images, _tree(tmp_path / "root"), reference, changes=changes)
    _assert_empty(images)


def test_a_name_moved_to_another_image_leaves_the_old_one_untagged(
    images: ImageStore, tmp_path: Path
) -> None:
    first = import_image(images, _tree(tmp_path / "a"), "app:1")
    second = import_image(images, _tree(tmp_path / "b"), "app:1", changes=["USER 1"])
    assert images.get("localhost/app:1").target == second.manifest
    assert images.get(untagged_name(first.manifest.digest)).target == first.manifest
    # naming the untagged image drops its untagged record
    record_image(images, "localhost/app:0", first.manifest)
    assert {r.name for r in images.list()} == {"localhost/app:1", "localhost/app:0"}
    ImageManifest.parse(images.content.read(second.manifest.digest))


def test_hard_links_keep_their_relative_targets(images: ImageStore, tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    os.link(root / "bin/tool", root / "bin/tool2")
    tarball = tmp_path / "links.tar"
    tarball.write_bytes(_tar_bytes(root))  # tarfile writes the second name as a link to "./bin/tool"
    import_image(images, tarball, "links:1")
    names = _layer_names(images, "localhost/links:1")
    assert names["bin/tool2"].islnk() and names["bin/tool2"].linkname == "bin/tool"


def test_a_socket_in_a_directory_is_skipped(images: ImageStore, tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "etc/sock"))
        import_image(images, root, "sock:1")  # tar cannot hold a socket; Docker skips them too
    names = _layer_names(images, "localhost/sock:1")
    assert "etc/hostname" in names and "etc/sock" not in names
