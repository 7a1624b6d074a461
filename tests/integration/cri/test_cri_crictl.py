"""crictl (kubernetes-sigs/cri-tools, built as shared/PEERS.md says; ``BERTH_CRICTL`` names it)
drives ``berth cri serve`` through a whole session: info, pull through a registries.conf mirror,
runp, create, start, ps, logs, exec -s, stats, stop, rm, stopp, rmp, rmi."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.cri.conftest import IMAGE, Cri, connect, start_server, stop_server

CRICTL = os.environ.get("BERTH_CRICTL", "")

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not CRICTL or not Path(CRICTL).is_file(), reason="BERTH_CRICTL names no crictl"),
]


def test_a_crictl_session(cri: Cri, registry: str, tmp_path: Path) -> None:
    cri.berth("push", "--tls-verify=false", IMAGE, f"docker://{registry}/e2e-test-images/busybox:1.29")
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nprefix = "registry.k8s.io"\nlocation = "{registry}"\ninsecure = true\n')
    (tmp_path / "cri.toml").write_text(f'registries_conf = "{conf}"\n')
    stop_server(cri.process)
    cri.channel.close()
    cri.process = start_server(cri.berth, cri.socket, tmp_path / "cri.toml")
    cri.channel, cri.runtime, cri.images = connect(cri.socket)

    def crictl(*args: str) -> str:
        argv = [
            CRICTL,
            "--runtime-endpoint",
            cri.endpoint,
            "--image-endpoint",
            cri.endpoint,
            "--timeout",
            "60s",
        ]
        done = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"crictl {' '.join(args)}: {done.stderr}{done.stdout}"
        return done.stdout

    info = json.loads(crictl("info"))
    assert {c["type"]: c["status"] for c in info["status"]["conditions"]}["RuntimeReady"]
    image = "registry.k8s.io/e2e-test-images/busybox:1.29"
    assert "Image is up to date" in crictl("pull", image)
    assert image.rsplit(":", 1)[0] in crictl("images")

    logs = tmp_path / "logs"
    pod = tmp_path / "pod.json"
    pod.write_text(json.dumps({
        "metadata": {"name": "session", "namespace": "default", "uid": "session-uid"},
        "log_directory": str(logs),
    }))  # fmt: skip
    ctr = tmp_path / "ctr.json"
    ctr.write_text(json.dumps({
        "metadata": {"name": "talker"},
        "image": {"image": image},
        "command": ["sh", "-c", "echo hello crictl; exec sleep 1000"],
        "log_path": "talker.log",
    }))  # fmt: skip
    sid = crictl("runp", str(pod)).strip()
    cid = crictl("create", sid, str(ctr), str(pod)).strip()
    crictl("start", cid)
    assert crictl("ps", "-q").split() == [cid]
    assert cid[:13] in crictl("ps") and "Running" in crictl("ps")
    assert sid[:13] in crictl("pods")
    deadline_logs = [crictl("logs", cid) for _ in range(50)]
    assert any("hello crictl" in out for out in deadline_logs)
    assert crictl("exec", "-s", cid, "echo", "exec works").strip() == "exec works"  # crictl adds newlines
    assert cid[:13] in crictl("stats")
    crictl("stop", cid)
    assert "Exited" in crictl("ps", "-a")
    crictl("rm", cid)
    crictl("stopp", sid)
    crictl("rmp", sid)
    assert crictl("pods", "-q").strip() == ""
    crictl("rmi", image)
    assert image.rsplit(":", 1)[0] not in crictl("images")
