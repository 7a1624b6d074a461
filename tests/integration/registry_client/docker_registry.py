"""Run Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1 for client tests.

``DockerRegistry`` writes a temporary config (filesystem storage under the given directory, a free
loopback port, optional htpasswd or token auth), starts the server, waits until ``/v2/`` answers,
and stops it on ``close()`` (or at the end of a ``with`` block).
"""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def htpasswd_line(user: str, password: str) -> str:
    """One htpasswd entry with a bcrypt hash (the only kind distribution accepts)."""
    import bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"


class DockerRegistry:
    """A running docker-registry; ``host`` is ``127.0.0.1:PORT``."""

    def __init__(self, root: Path, auth_yaml: str = "") -> None:
        if not Path(BINARY).exists():
            pytest.skip("docker-registry is not installed")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.log = open(root / "registry.log", "wb")  # noqa: SIM115 - closed in close()
        for _ in range(3):  # a port found free can be taken before the server binds it: try another
            self.port = free_port()
            self.host = f"127.0.0.1:{self.port}"
            config = root / "config.yml"
            config.write_text(
                "version: 0.1\n"
                "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {self.host}\n"
                f"{auth_yaml}"
            )
            self.proc = subprocess.Popen(
                [BINARY, "serve", str(config)], stdout=self.log, stderr=subprocess.STDOUT
            )
            try:
                if self._wait_ready():
                    return
            except BaseException:
                self.close()
                raise
        self.close()
        raise RuntimeError(f"docker-registry did not start: {(root / 'registry.log').read_text()}")

    def _wait_ready(self) -> bool:
        """True once ``/v2/`` answers; False if the server exited (e.g. its port was taken)."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/v2/")
                conn.getresponse().read()
                conn.close()
                return True
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start within 15 s")

    def __enter__(self) -> DockerRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server and reap it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def basic_auth_yaml(htpasswd: Path) -> str:
    """The ``auth:`` section for htpasswd (Basic) authentication."""
    return f"auth:\n  htpasswd:\n    realm: berth-test\n    path: {htpasswd}\n"


def token_auth_yaml(realm: str, issuer: str, service: str, cert: Path) -> str:
    """The ``auth:`` section for token authentication with tokens signed by ``cert``'s key."""
    return (
        "auth:\n  token:\n"
        f"    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n"
        f"    rootcertbundle: {cert}\n"
    )
