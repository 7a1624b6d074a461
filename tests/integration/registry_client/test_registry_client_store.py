"""``berth pull`` / ``berth push`` through Berth's image store, and the CLI's output."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.cli.main import main as berth_main
from berth.distribution.transports import TransportContext, copy
from berth.image.images import ImageStore
from tests.integration.registry_client.docker_registry import DockerRegistry
from tests.integration.registry_client.images import make_index_layout, make_layout

pytestmark = pytest.mark.timeout(120)


def test_pull_records_image_under_normalized_name_and_push_back(
    tmp_path: Path, registry: DockerRegistry, ctx: TransportContext, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = make_layout(tmp_path / "src", "v1", [{"f": b"one"}, {"g": b"two"}])
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{registry.host}/store/app:v1", ctx)
    root = tmp_path / "root"
    flags = ["--tls-verify=false", "--authfile", str(tmp_path / "auth.json")]
    assert berth_main(["--root", str(root), "pull", *flags, f"{registry.host}/store/app:v1"]) == 0
    assert capsys.readouterr().out.strip() == digest
    images = ImageStore(root / "images")
    try:
        image = images.get(f"{registry.host}/store/app:v1")
        assert image.name == f"{registry.host}/store/app:v1" and str(image.target.digest) == digest
        assert images.resolve(image.name).manifest.layers[0].size > 0
    finally:
        images.close()
    # A second pull finds every blob in the store already.
    again = copy(f"docker://{registry.host}/store/app:v1", f"berth:{registry.host}/store/app:v1", ctx)
    assert again.copied == 0 and again.skipped == 3

    assert berth_main(["--root", str(root), "push", "-q", *flags, f"{registry.host}/store/app:v1",
                       f"{registry.host}/store/copy:v2"]) == 0  # fmt: skip
    assert capsys.readouterr().out == ""
    pulled = copy(f"docker://{registry.host}/store/copy:v2", f"oci:{tmp_path / 'out'}", ctx)
    assert str(pulled.manifest.digest) == digest


def test_pull_platform_flag_and_errors(
    tmp_path: Path, registry: DockerRegistry, ctx: TransportContext, capsys: pytest.CaptureFixture[str]
) -> None:
    _, per = make_index_layout(tmp_path / "src", "m", [("amd64", ""), ("arm64", "v8")])
    copy(f"oci:{tmp_path / 'src'}:m", f"docker://{registry.host}/store/multi:1", ctx)  # host platform only
    from berth.distribution.transports import CopyOptions

    copy(
        f"oci:{tmp_path / 'src'}:m",
        f"docker://{registry.host}/store/multi:1",
        ctx,
        CopyOptions(all_platforms=True),
    )
    root = tmp_path / "root"
    flags = ["--tls-verify=false", "--authfile", str(tmp_path / "auth.json")]
    assert (
        berth_main(
            [
                "--root",
                str(root),
                "pull",
                *flags,
                "--platform",
                "linux/arm64",
                f"{registry.host}/store/multi:1",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == per["arm64/v8"]
    assert berth_main(["--root", str(root), "pull", *flags, f"{registry.host}/store/none:1"]) == 125
    err = capsys.readouterr().err
    # As podman: the reference it tries, then the error on one line.
    assert err.splitlines()[0] == f"Trying to pull {registry.host}/store/none:1..."
    assert err.splitlines()[1].startswith("berth: manifest unknown") and err.count("\n") == 2
    assert berth_main(["copy", "bogus", "oci:/x"]) == 125
    assert "invalid image name" in capsys.readouterr().err


def test_corrupt_layer_leaves_the_store_without_blob_or_record(tmp_path: Path, ctx: TransportContext) -> None:
    import json

    from berth.errors import DigestMismatch, NotFound

    src = tmp_path / "src"
    digest = make_layout(src, "v1", [{"f": b"fine"}])
    manifest = json.loads((src / "blobs/sha256" / digest.split(":")[1]).read_text())
    layer_digest = manifest["layers"][0]["digest"]
    layer = src / "blobs/sha256" / layer_digest.split(":")[1]
    data = bytearray(layer.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    layer.write_bytes(bytes(data))
    with pytest.raises(DigestMismatch):
        copy(f"oci:{src}:v1", "berth:example.com/corrupt:v1", ctx)
    images = ImageStore(tmp_path / "root/images")
    try:
        assert not images.content.exists(layer_digest)
        assert images.content.ingests() == []
        with pytest.raises(NotFound):
            images.get("example.com/corrupt:v1")
    finally:
        images.close()


def test_pull_and_push_all_platforms_keep_the_index(
    tmp_path: Path, registry: DockerRegistry, ctx: TransportContext, capsys: pytest.CaptureFixture[str]
) -> None:
    from berth.distribution.transports import CopyOptions

    index_digest, _ = make_index_layout(tmp_path / "src", "m", [("amd64", ""), ("arm64", "v8")])
    copy(
        f"oci:{tmp_path / 'src'}:m",
        f"docker://{registry.host}/store/idx:1",
        ctx,
        CopyOptions(all_platforms=True),
    )
    root = tmp_path / "root"
    flags = ["--tls-verify=false", "--authfile", str(tmp_path / "auth.json"), "--all-platforms"]
    assert berth_main(["--root", str(root), "pull", *flags, f"{registry.host}/store/idx:1"]) == 0
    assert capsys.readouterr().out.strip() == index_digest
    assert berth_main(["--root", str(root), "push", *flags, f"{registry.host}/store/idx:1",
                       f"{registry.host}/store/idx-copy:1"]) == 0  # fmt: skip
    assert capsys.readouterr().out.strip() == index_digest
