"""ADD of a local archive and of a URL (a server on 127.0.0.1), and the WORKDIR and VOLUME
directories a RUN or COPY makes, as buildah 1.28 makes them."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.build.test_build_images import BASE, based
from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

__all__ = ["based"]

MODIFIED = 1_600_000_000


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving tmp_path/www (with Last-Modified); its base URL."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    os.utime(www / "tool.sh", (MODIFIED, MODIFIED))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def tarball(entries: dict[str, bytes | None], owner: int) -> bytes:
    """A tar of ``entries`` (None: a directory) owned by ``owner``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.uid = info.gid = owner
            info.mtime = MODIFIED
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o750
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o640
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def stat_in(berth: Berth, image: str, *paths: str) -> list[str]:
    """``path mode uid gid mtime`` of each path in ``image``."""
    out = berth("run", "--rm", "--network", "none", image, "stat", "-c", "%n %a %u %g %Y", *paths)
    return out.stdout.splitlines()


def test_add_unpacks_local_archives_and_fetches_urls(based: Berth, tmp_path: Path, served: str) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "plain.tar").write_bytes(tarball({"d": None, "d/f": b"plain\n"}, 1234))
    (ctx / "packed.tar.gz").write_bytes(gzip.compress(tarball({"g": b"gz\n"}, 0)))
    (ctx / "notes.gz").write_bytes(gzip.compress(b"not a tar\n"))
    (ctx / "Containerfile").write_text(
        f"FROM {BASE}\n"
        "ADD plain.tar /x/\n"
        "ADD --chown=1000:1000 packed.tar.gz notes.gz /y/\n"
        f"ADD {served}/tool.sh /z/\n"
        f"ADD --chmod=0755 --chown=1000 {served}/tool.sh /bin/tool\n"
    )
    based("build", "-q", "-t", "localhost/added:1", "--network", "none", str(ctx))
    # The archives' entries keep their owners, modes and mtimes (--chown makes only /y).
    assert stat_in(based, "localhost/added:1", "/x/d", "/x/d/f", "/y/g") == [
        f"/x/d 750 1234 1234 {MODIFIED}",
        f"/x/d/f 640 1234 1234 {MODIFIED}",
        f"/y/g 640 0 0 {MODIFIED}",
    ]
    made = [line.rsplit(" ", 1)[0] for line in stat_in(based, "localhost/added:1", "/y", "/y/notes.gz")]
    assert made == ["/y 755 1000 1000", "/y/notes.gz 644 1000 1000"]
    assert stat_in(based, "localhost/added:1", "/z/tool.sh", "/bin/tool") == [
        f"/z/tool.sh 600 0 0 {MODIFIED}",
        f"/bin/tool 755 1000 1000 {MODIFIED}",
    ]
    run = based("run", "--rm", "--network", "none", "localhost/added:1", "/bin/tool")
    assert run.stdout == "tool\n"


def test_a_missing_url_is_one_line(based: Berth, tmp_path: Path, served: str) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM {BASE}\nADD {served}/nope /n\n")
    proc = based("build", "--network", "none", str(ctx), check=False)
    assert proc.returncode == 125
    assert proc.stderr.strip() == f"berth: Containerfile:2: ADD {served}/nope: HTTP 404 File not found"


def test_workdir_and_volume_directories(based: Berth, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Containerfile").write_text(
        f"FROM {BASE}\n"
        "USER 1234\nWORKDIR /wa/deep\nVOLUME /va\n"
        "RUN true\n"
        "USER berth:extra\nWORKDIR /wb\n"
        "COPY a.txt /elsewhere/\n"
        "USER root\nRUN echo lost > /va/f\n"
        "WORKDIR /never\n"
    )
    based("build", "-q", "-t", "localhost/dirs:1", "--network", "none", str(ctx))
    script = "stat -c '%n %a %u %g' /wa /wa/deep /va /wb /never; ls -A /va"
    out = based("run", "--rm", "--network", "none", "--workdir", "/", "localhost/dirs:1", "sh", "-c", script)
    assert out.stdout.splitlines() == [
        "/wa 755 1234 1234",
        "/wa/deep 755 1234 1234",
        "/va 755 0 0",
        "/wb 755 1000 2000",
        "/never 755 0 0",  # made by the WORKDIR itself, as buildah 1.28 makes it
    ]
