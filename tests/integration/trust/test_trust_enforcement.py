"""The signature policy wherever an image comes in besides ``pull``/``copy``: an image ``run`` or
``create`` must pull (the engine's pull, which ``kube play`` uses too) and ``load``. A refused image
leaves nothing in the store; each verdict is also a ``signature`` event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from berth.distribution.transports import TransportContext, copy
from berth.engine.config import load_config
from berth.engine.images.pull import pull_image
from berth.events import log_path, read_events
from berth.trust.errors import PolicyRejected
from tests.integration.registry_client.images import make_layout
from tests.integration.trust.conftest import assert_store_empty

pytestmark = [pytest.mark.timeout(180)]


def _user_policy(home: Path, doc: dict[str, object]) -> None:
    """``doc`` as $HOME/.config/containers/policy.json, where podman and Berth look first."""
    where = home / ".config/containers"
    where.mkdir(parents=True)
    (where / "policy.json").write_text(json.dumps(doc))


def test_engine_pull_obeys_the_policy(
    tmp_path: Path, registry: str, ctx: TransportContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = f"{registry}/enforce/app:v1"
    make_layout(tmp_path / "src", "v1", [{"f": b"enforced"}])
    copy(f"oci:{tmp_path / 'src'}:v1", f"docker://{ref}", ctx)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _user_policy(tmp_path / "home", {"default": [{"type": "reject"}]})
    config = load_config(str(tmp_path / "root"), str(tmp_path / "run"))
    with pytest.raises(PolicyRejected, match="rejected by policy"):
        pull_image(config, ref, tls_verify=False)
    assert_store_empty(tmp_path / "root")
    (event,) = [e for e in read_events(log_path(tmp_path / "root")) if e["Type"] == "signature"]
    assert (event["Status"], event["Name"]) == ("rejected", ref)
    assert event["Attributes"]["reason"] == "rejected by policy"
    (tmp_path / "home/.config/containers/policy.json").write_text(
        '{"default": [{"type": "insecureAcceptAnything"}]}'
    )
    assert pull_image(config, ref, tls_verify=False) == ref
    statuses = [e["Status"] for e in read_events(log_path(tmp_path / "root")) if e["Type"] == "signature"]
    assert statuses == ["rejected", "accepted"]


def test_load_obeys_the_policy(tmp_path: Path, ctx: TransportContext) -> None:
    make_layout(tmp_path / "src", "v1", [{"f": b"archived"}])
    archive = tmp_path / "image.tar"
    copy(f"oci:{tmp_path / 'src'}:v1", f"oci-archive:{archive}:localhost/archived:v1", ctx)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}],
                                  "transports": {"oci-archive": {"": [{"type": "reject"}]}}}))  # fmt: skip
    root = tmp_path / "root"
    cmd = [sys.executable, "-m", "berth.cli.main", "--root", str(root), "--runroot", str(tmp_path / "run"),
           "load", "--signature-policy", str(policy), "-i", str(archive)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip() == f"berth: oci-archive: is rejected by {policy}: rejected by policy"
    assert_store_empty(root)
