"""GPG simple signing against Debian's skopeo 1.9.3 and podman 4.3: skopeo signs (``copy
--sign-by``) and Berth verifies under ``signedBy``; Berth signs and skopeo and podman verify, and
refuse a tampered signature."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.distribution.transports import CopyOptions, TransportContext, copy
from berth.spec.digest import Digest
from berth.trust.admission import policy_admission
from berth.trust.errors import PolicyRejected
from berth.trust.policy import parse_policy
from berth.trust.registries_d import load_registries_d, signature_url
from tests.integration.registry_client.images import make_layout
from tests.integration.trust import conftest as trust_fixtures
from tests.integration.trust.gpg_keys import GpgKey, gpg_key, lookaside_registries_d

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed"),
]
registry, ctx = trust_fixtures.registry, trust_fixtures.ctx  # Berth's registry, and settings for it
needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
needs_podman = pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")


@pytest.fixture(scope="module")
def key() -> Iterator[GpgKey]:
    with gpg_key("Peer signer") as made:
        yield made


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A $HOME whose registries.d (where skopeo and podman look) sets a lookaside of the test's."""
    lookaside_registries_d(tmp_path / "home/.config/containers/registries.d", tmp_path / "lookaside")
    return tmp_path / "home"


def _policy(tmp_path: Path, key: GpgKey) -> Path:
    path = tmp_path / "policy.json"
    req = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(key.public)}
    # Local sources (oci:) are accepted; every docker:// image needs the signature.
    path.write_text(
        json.dumps({"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {"": [req]}}})
    )
    return path


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=180)


def _env(home: Path, key: GpgKey) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "GNUPGHOME": str(key.home)}


@needs_skopeo
def test_skopeo_signs_berth_verifies(
    tmp_path: Path, registry: str, ctx: TransportContext, home: Path, key: GpgKey
) -> None:
    make_layout(tmp_path / "src", "v1", [{"f": b"skopeo-signed"}])
    ref = f"{registry}/gpgpeer/skopeo:v1"
    done = _run(["skopeo", "--policy", str(_policy(tmp_path, key)), "copy", "--dest-tls-verify=false",
                 "--sign-by", key.fingerprint, f"oci:{tmp_path / 'src'}:v1", f"docker://{ref}"],
                _env(home, key))  # fmt: skip
    assert done.returncode == 0, done.stderr
    registries = load_registries_d(home / ".config/containers/registries.d")
    policy = parse_policy(_policy(tmp_path, key).read_bytes())
    options = CopyOptions(admit=policy_admission(policy, None, registries))
    copy(f"docker://{ref}", f"oci:{tmp_path / 'out'}", ctx, options)
    # The same signature under another tag names the other tag: refused.
    other = f"{registry}/gpgpeer/skopeo:v2"
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{other}", ctx)
    with pytest.raises(PolicyRejected, match="identity mismatch"):
        copy(f"docker://{other}", f"oci:{tmp_path / 'out2'}", ctx, options)


def _berth_signs(tmp_path: Path, ref: str, home: Path, key: GpgKey) -> Path:
    """Push an image with ``berth copy --sign-by``; return its signature file."""
    make_layout(tmp_path / "src", "v1", [{"f": b"berth-signed"}])
    cmd = [sys.executable, "-m", "berth.cli.main", "--root", str(tmp_path / "root"), "--runroot",
           str(tmp_path / "run"), "copy", "--tls-verify=false", "--sign-by", key.fingerprint,
           f"oci:{tmp_path / 'src'}:v1", f"docker://{ref}"]  # fmt: skip
    done = _run(cmd, _env(home, key))
    assert done.returncode == 0, done.stderr
    digest = done.stdout.strip().splitlines()[-1]
    base = f"{tmp_path}/lookaside/{ref.split('/', 1)[1].rsplit(':', 1)[0]}"
    return Path(signature_url(base, Digest.parse(digest), 0))


def _tamper(signature: Path) -> None:
    blob = signature.read_bytes()
    signature.write_bytes(blob[:-40] + bytes(b ^ 1 for b in blob[-40:]))


@needs_skopeo
def test_berth_signs_skopeo_verifies(tmp_path: Path, registry: str, home: Path, key: GpgKey) -> None:
    ref = f"{registry}/gpgpeer/berth:v1"
    signature = _berth_signs(tmp_path, ref, home, key)
    cmd = ["skopeo", "--policy", str(_policy(tmp_path, key)), "copy", "--src-tls-verify=false",
           "--remove-signatures", f"docker://{ref}", f"oci:{tmp_path / 'sk'}:v1"]  # fmt: skip
    done = _run(cmd, _env(home, key))
    assert done.returncode == 0, done.stderr
    _tamper(signature)
    refused = _run([*cmd[:-1], f"oci:{tmp_path / 'sk2'}:v1"], _env(home, key))
    assert refused.returncode != 0 and "Source image rejected" in refused.stderr


@needs_podman
def test_berth_signs_podman_pull_verifies(tmp_path: Path, registry: str, home: Path, key: GpgKey) -> None:
    ref = f"{registry}/gpgpeer/podman:v1"
    signature = _berth_signs(tmp_path, ref, home, key)
    runroot = Path(tempfile.mkdtemp(prefix="berth-podman-"))  # podman wants a runroot under 50 characters
    conf = tmp_path / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    env = {**_env(home, key), "CONTAINERS_CONF": str(conf)}
    base = ["podman", "--root", str(tmp_path / "podman-root"), "--runroot", str(runroot), "--storage-driver",
            "vfs", "--events-backend", "file", "--cgroup-manager", "cgroupfs"]  # fmt: skip
    pull = [*base, "pull", "--tls-verify=false", "--signature-policy", str(_policy(tmp_path, key)), ref]
    try:
        done = _run(pull, env)
        assert done.returncode == 0, done.stderr
        assert _run([*base, "rmi", ref], env).returncode == 0
        _tamper(signature)
        refused = _run(pull, env)
        assert refused.returncode != 0 and "Source image rejected" in refused.stderr
    finally:
        _run([*base, "system", "reset", "--force"], env)
        shutil.rmtree(runroot, ignore_errors=True)
