"""``/containers/{id}/archive``: a path as a tar (GET), its stat (HEAD), a tar extracted (PUT),
confined to the container's root."""

from __future__ import annotations

import base64
import io
import json
import tarfile

from tests.integration.dockerapi.client import DockerAPI


def _tar(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _stat(answer_headers: dict[str, str]) -> dict[str, object]:
    return json.loads(base64.b64decode(answer_headers["x-docker-container-path-stat"]))  # type: ignore[no-any-return]


def test_get_head_and_put(api: DockerAPI) -> None:
    cid = api.create(
        Cmd=["sh", "-c", "mkdir -p /d/sub; echo one > /d/sub/f; sleep 300"],
        HostConfig={"NetworkMode": "none"},
    )
    api.post(f"/v1.44/containers/{cid}/start")
    # PUT first: a file the container will see
    put = api.request(
        "PUT", f"/v1.44/containers/{cid}/archive?path=/tmp", raw=_tar({"put.txt": b"from api\n"})
    )
    assert put.status == 200, put.body
    head = api.request("HEAD", f"/v1.44/containers/{cid}/archive?path=/tmp/put.txt")
    assert head.status == 200
    assert _stat(head.headers)["name"] == "put.txt"
    assert _stat(head.headers)["size"] == 9
    got = api.get(f"/v1.44/containers/{cid}/archive?path=/tmp/put.txt")
    with tarfile.open(fileobj=io.BytesIO(got.body)) as tar:
        member = tar.extractfile("put.txt")
        assert member is not None
        assert member.read() == b"from api\n"
    directory = api.get(f"/v1.44/containers/{cid}/archive?path=/d")
    assert int(_stat(directory.headers)["mode"]) & (1 << 31)  # Go's ModeDir
    with tarfile.open(fileobj=io.BytesIO(directory.body)) as tar:
        assert {"d", "d/sub", "d/sub/f"} <= set(tar.getnames())
    missing = api.get(f"/v1.44/containers/{cid}/archive?path=/no/such")
    assert missing.status == 404
    assert api.get(f"/v1.44/containers/{cid}/archive").status == 400
    not_dir = api.request("PUT", f"/v1.44/containers/{cid}/archive?path=/tmp/put.txt", raw=_tar({"x": b""}))
    assert not_dir.status == 400
    api.delete(f"/v1.44/containers/{cid}?force=1")


def test_put_cannot_escape_the_container(api: DockerAPI, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cid = api.create(Cmd=["sleep", "300"], HostConfig={"NetworkMode": "none"})
    api.post(f"/v1.44/containers/{cid}/start")
    escape = _tar({"../../../../../../../../../../" + str(tmp_path / "escaped").lstrip("/"): b"x"})
    answer = api.request("PUT", f"/v1.44/containers/{cid}/archive?path=/tmp", raw=escape)
    assert answer.status == 400
    assert not (tmp_path / "escaped").exists()
    api.delete(f"/v1.44/containers/{cid}?force=1")
