"""Push and pull between OCI layouts and a real docker-registry, digests preserved."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.distribution.client.errors import ManifestUnknown, RegistryError
from berth.distribution.transports import CopyOptions, TransportContext, copy
from berth.errors import NotFound
from berth.spec.platform import Platform
from tests.integration.registry_client.docker_registry import DockerRegistry
from tests.integration.registry_client.images import layout_entry, make_index_layout, make_layout

pytestmark = pytest.mark.timeout(120)


def test_push_then_pull_preserves_digests(
    tmp_path: Path, registry: DockerRegistry, ctx: TransportContext
) -> None:
    src = tmp_path / "src"
    digest = make_layout(src, "v1", [{"a.txt": b"hello"}, {"b.bin": bytes(range(256)) * 4096}])
    pushed = copy(f"oci:{src}:v1", f"docker://{registry.host}/test/app:v1", ctx)
    assert str(pushed.manifest.digest) == digest and pushed.copied == 3

    again = copy(f"oci:{src}:v1", f"docker://{registry.host}/test/app:v1", ctx)
    assert again.copied == 0 and again.skipped == 3  # HEAD says the registry has every blob

    dst = tmp_path / "dst"
    pulled = copy(f"docker://{registry.host}/test/app:v1", f"oci:{dst}:pulled", ctx)
    assert str(pulled.manifest.digest) == digest
    assert layout_entry(dst, "pulled")["digest"] == digest
    for blob in (src / "blobs/sha256").iterdir():
        assert (dst / "blobs/sha256" / blob.name).read_bytes() == blob.read_bytes()
    assert not (dst / ".berth-ingest").exists()


def test_registry_to_registry_mounts_and_tags_by_digest(
    tmp_path: Path, registry: DockerRegistry, ctx: TransportContext
) -> None:
    src = tmp_path / "src"
    digest = make_layout(src, "v1", [{"x": b"x" * 10_000_000}])  # above the monolithic limit: chunked
    copy(f"oci:{src}:v1", f"docker://{registry.host}/mount/a:v1", ctx)
    result = copy(f"docker://{registry.host}/mount/a:v1", f"docker://{registry.host}/mount/b:v2", ctx)
    assert str(result.manifest.digest) == digest
    pulled = copy(f"docker://{registry.host}/mount/b@{digest}", f"oci:{tmp_path / 'out'}", ctx)
    assert str(pulled.manifest.digest) == digest


def test_platform_selection_from_an_index(
    tmp_path: Path, registry: DockerRegistry, ctx: TransportContext
) -> None:
    src = tmp_path / "src"
    index_digest, per_platform = make_index_layout(
        src, "multi", [("amd64", ""), ("arm64", "v8"), ("arm", "v7")]
    )
    all_pushed = copy(
        f"oci:{src}:multi", f"docker://{registry.host}/multi/app:1", ctx, CopyOptions(all_platforms=True)
    )
    assert str(all_pushed.manifest.digest) == index_digest

    arm = copy(
        f"docker://{registry.host}/multi/app:1", f"oci:{tmp_path / 'arm'}:x", ctx,
        CopyOptions(platform=Platform.parse("linux/arm64")),
    )  # fmt: skip
    assert str(arm.manifest.digest) == per_platform["arm64/v8"]
    armv8 = copy(  # an ARMv8 CPU in 32-bit mode runs the v7 image
        f"docker://{registry.host}/multi/app:1", f"oci:{tmp_path / 'armv8'}:x", ctx,
        CopyOptions(platform=Platform.parse("linux/arm/v8")),
    )  # fmt: skip
    assert str(armv8.manifest.digest) == per_platform["arm/v7"]
    with pytest.raises(NotFound, match="no manifest for platform linux/s390x"):
        copy(f"docker://{registry.host}/multi/app:1", f"oci:{tmp_path / 's390x'}:x", ctx,
             CopyOptions(platform=Platform.parse("linux/s390x")))  # fmt: skip
    whole = copy(
        f"docker://{registry.host}/multi/app:1",
        f"oci:{tmp_path / 'all'}:all",
        ctx,
        CopyOptions(all_platforms=True),
    )
    assert str(whole.manifest.digest) == index_digest
    assert not (tmp_path / "s390x" / "index.json").exists()


def test_unknown_tag_and_unreachable_registry(
    tmp_path: Path, registry: DockerRegistry, ctx: TransportContext
) -> None:
    with pytest.raises(ManifestUnknown, match="manifest unknown"):
        copy(f"docker://{registry.host}/none/such:tag", f"oci:{tmp_path / 'o'}", ctx)
    assert not (tmp_path / "o").exists()
    with pytest.raises(RegistryError, match=r"cannot reach registry 127\.0\.0\.1:1"):
        copy("docker://127.0.0.1:1/a:b", f"oci:{tmp_path / 'o'}", ctx)
    secure = TransportContext(authfile=tmp_path / "auth.json", retry=ctx.retry)
    with pytest.raises(RegistryError, match="tls-verify=false"):
        copy(f"docker://{registry.host}/none/such:tag", f"oci:{tmp_path / 'o'}", secure)
