"""crictl (kubernetes-sigs/cri-tools, built as shared/PEERS.md says; ``BERTH_CRICTL`` names it)
drives ``berth cri serve`` through a whole session: info, pull through a registries.conf mirror,
runp, create, start, ps, logs, exec -s, exec through the streaming server (plain, -i, -it in a
pseudo-terminal; over SPDY and WebSocket), attach -i, port-forward (both transports), stats, stop,
rm, stopp, rmp, rmi."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import urllib.request
from collections.abc import Callable
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

    argv = [CRICTL, "--runtime-endpoint", cri.endpoint, "--image-endpoint", cri.endpoint, "--timeout", "60s"]

    def crictl(*args: str) -> str:
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
    for transport in ("spdy", "websocket"):
        exec_ = [*argv, "exec", "--transport", transport]
        streamed = subprocess.run(
            [*exec_, cid, "sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True, text=True
        )
        assert (streamed.stdout, "err\n" in streamed.stderr, streamed.returncode) == ("out\n", True, 1)
        fed = subprocess.run([*exec_, "-i", cid, "cat"], input="fed\n", capture_output=True, text=True)
        assert fed.stdout == "fed\n"
        in_pty = subprocess.run(  # -it wants a terminal: script(1) gives it one
            ["script", "-qec", shlex.join([*exec_, "-it", cid, "sh", "-c", "tty; echo pty works"]),
             str(tmp_path / "typescript")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert "/dev/pts/" in in_pty.stdout and "pty works" in in_pty.stdout
    _attach_and_forward(crictl, argv, sid, str(pod), image, tmp_path)
    assert cid[:13] in crictl("stats")
    crictl("stop", cid)
    assert "Exited" in crictl("ps", "-a")
    crictl("rm", cid)
    crictl("stopp", sid)
    crictl("rmp", sid)
    assert crictl("pods", "-q").strip() == ""
    crictl("rmi", image)
    assert image.rsplit(":", 1)[0] not in crictl("images")


def _attach_and_forward(
    crictl: Callable[..., str], argv: list[str], sid: str, pod: str, image: str, tmp_path: Path
) -> None:
    """``attach -i`` to a ``cat`` (its stdin's end ends it), and ``port-forward`` to an httpd."""
    cat = tmp_path / "cat.json"
    cat.write_text(json.dumps({"metadata": {"name": "cat"}, "image": {"image": image}, "command": ["cat"],
                               "stdin": True, "stdin_once": True}))  # fmt: skip
    cat_id = crictl("create", sid, str(cat), pod).strip()
    crictl("start", cat_id)
    attached = subprocess.run(
        [*argv, "attach", "-i", cat_id], input="through attach\n", capture_output=True, text=True, timeout=120
    )
    assert "through attach" in attached.stdout
    web = tmp_path / "web.json"
    serve = "mkdir -p /www && echo forwarded >/www/index.html && exec httpd -f -p 8080 -h /www"
    web.write_text(json.dumps({"metadata": {"name": "web"}, "image": {"image": image},
                               "command": ["sh", "-c", serve]}))  # fmt: skip
    web_id = crictl("create", sid, str(web), pod).strip()
    crictl("start", web_id)
    for transport in ("spdy", "websocket"):
        with socket.socket() as probe:  # a free local port
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        forward = subprocess.Popen(
            [*argv, "port-forward", "--transport", transport, sid, f"{port}:8080"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert forward.stdout is not None and "Forwarding from" in forward.stdout.readline()
            body = _get_when_up(f"http://127.0.0.1:{port}/index.html")
            assert body == "forwarded\n"
        finally:
            forward.terminate()
            forward.wait(timeout=30)
    for ctr in (cat_id, web_id):
        crictl("rm", "-f", ctr)


def _get_when_up(url: str) -> str:
    """The body at ``url``, asking again while the server in the container is still starting."""
    for _ in range(50):
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                return str(reply.read().decode())
        except OSError:
            continue
    raise AssertionError(f"{url} never answered")
