"""Image endpoints: list, inspect, history, tag, remove, prune, save and load, import, push to
and pull from Berth's registry on 127.0.0.1 with Docker's progress lines, auth, search."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.dockerapi.client import DockerAPI
from tests.integration.dockerapi.conftest import IMAGE
from tests.integration.engine_cli.conftest import Berth
from tests.integration.registry_server.peers import serve_cli


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``berth registry serve`` over plain HTTP on 127.0.0.1; yields ``127.0.0.1:PORT``."""
    with serve_cli(tmp_path_factory.mktemp("registry")) as addr:
        yield addr


def _lines(body: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_list_inspect_history(api: DockerAPI) -> None:
    [image] = api.get("/v1.44/images/json").json()
    assert image["RepoTags"] == [IMAGE]
    assert image["Id"].startswith("sha256:")
    assert image["Containers"] == 0
    doc = api.get(f"/v1.44/images/{IMAGE}/json").json()
    assert doc["Id"] == image["Id"]
    assert doc["Os"] == "linux"
    assert doc["RootFS"]["Type"] == "layers"
    by_id = api.get(f"/v1.44/images/{image['Id'][7:19]}/json").json()
    assert by_id["Id"] == image["Id"]
    history = api.get(f"/v1.44/images/{IMAGE}/history").json()
    assert history[0]["Id"] == image["Id"]
    assert history[0]["Tags"] == [IMAGE]
    missing = api.get("/v1.44/images/localhost/nothere:1/json")
    assert (missing.status, missing.message) == (404, "No such image: localhost/nothere:1")
    dangling = json.dumps({"dangling": ["true"]})
    assert api.get(f"/v1.44/images/json?filters={quote(dangling)}").json() == []


def test_tag_remove_prune(api: DockerAPI, berth: Berth) -> None:
    assert api.post(f"/v1.44/images/{IMAGE}/tag?repo=localhost/other&tag=2").status == 201
    assert "localhost/other" in berth("images").stdout
    assert api.delete("/v1.44/images/localhost/other:2").json() == [{"Untagged": "localhost/other:2"}]
    cid = api.create(Cmd=["true"], HostConfig={"NetworkMode": "none"})
    refused = api.delete(f"/v1.44/images/{IMAGE}")
    assert refused.status == 409
    assert "in use" in refused.message
    assert api.post("/v1.44/images/prune").json()["ImagesDeleted"] is None  # nothing untagged
    api.delete(f"/v1.44/containers/{cid}")
    everything = json.dumps({"dangling": ["false"]})
    pruned = api.post(f"/v1.44/images/prune?filters={quote(everything)}").json()
    assert {"Untagged": IMAGE} in pruned["ImagesDeleted"]
    assert api.get("/v1.44/images/json").json() == []


def test_save_then_load(api: DockerAPI, berth: Berth) -> None:
    archive = api.get(f"/v1.44/images/{IMAGE}/get")
    assert archive.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(archive.body)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [IMAGE]
    berth("rmi", IMAGE)
    loaded = api.request(
        "POST", "/v1.44/images/load", raw=archive.body, headers={"Content-Type": "application/x-tar"}
    )
    assert loaded.status == 200
    assert _lines(loaded.body) == [{"stream": f"Loaded image: {IMAGE}\n"}]
    assert api.get(f"/v1.44/images/{IMAGE}/json").status == 200
    both = api.get(f"/v1.44/images/get?names={quote(IMAGE)}")
    assert both.status == 200


def test_import_a_tarball(api: DockerAPI, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("greeting")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    answer = api.request(
        "POST", "/v1.44/images/create?fromSrc=-&repo=localhost/imported&tag=1", raw=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    )  # fmt: skip
    assert answer.status == 200
    [line] = _lines(answer.body)
    assert str(line["status"]).startswith("sha256:")
    assert api.get("/v1.44/images/localhost/imported:1/json").status == 200


def test_push_then_pull_with_progress(api: DockerAPI, berth: Berth, registry: str) -> None:
    remote = f"{registry}/dockerapi/busybox"
    assert api.post(f"/v1.44/images/{IMAGE}/tag?repo={remote}&tag=v1").status == 201
    auth = base64.urlsafe_b64encode(b"{}").decode()
    pushed = api.request("POST", f"/v1.44/images/{remote}/push?tag=v1", headers={"X-Registry-Auth": auth})
    assert pushed.status == 200
    lines = _lines(pushed.body)
    assert lines[0] == {"status": f"The push refers to repository [{remote}]"}
    assert any(line.get("status") == "Pushed" for line in lines)
    assert "error" not in json.dumps(lines)
    digest = lines[-1]["aux"]["Digest"]  # type: ignore[index]
    berth("rmi", f"{remote}:v1")
    pulled = api.post(f"/v1.44/images/create?fromImage={remote}&tag=v1")
    lines = _lines(pulled.body)
    assert lines[0] == {"status": "Pulling from dockerapi/busybox", "id": "v1"}
    assert {"status": f"Digest: {digest}"} in lines
    assert lines[-1] == {"status": f"Status: Image is up to date for {remote}:v1"} or lines[-1] == {
        "status": f"Status: Downloaded newer image for {remote}:v1"
    }
    assert api.get(f"/v1.44/images/{remote}:v1/json").status == 200


def test_pull_errors_come_as_dockers_error_line(api: DockerAPI, registry: str) -> None:
    answer = api.post(f"/v1.44/images/create?fromImage={registry}/no/such&tag=1")
    assert answer.status == 200
    last = _lines(answer.body)[-1]
    assert "errorDetail" in last
    assert str(last["error"])
    assert api.post("/v1.44/images/create?fromImage=bad%20name").status == 400
    assert api.post("/v1.44/images/create").status == 400
    bad_auth = api.request(
        "POST", f"/v1.44/images/create?fromImage={registry}/x", headers={"X-Registry-Auth": "!!"}
    )
    assert bad_auth.status == 400


def test_auth_and_search(api: DockerAPI, registry: str) -> None:
    ok = api.post("/v1.44/auth", {"username": "u", "password": "p", "serveraddress": registry})
    assert ok.json()["Status"] == "Login Succeeded"
    assert api.post("/v1.44/auth", {"username": "u"}).status == 400

    # Berth's registry has no v1 search: its catalog is searched, filtered by the term.
    auth = {"X-Registry-Auth": base64.urlsafe_b64encode(b"{}").decode()}
    for repo in ("found/busybox-search", "other/unrelated"):
        assert api.post(f"/v1.44/images/{IMAGE}/tag?repo={registry}/{repo}&tag=1").status == 201
        assert api.request("POST", f"/v1.44/images/{registry}/{repo}/push?tag=1", headers=auth).status == 200
    found = api.get(f"/v1.44/images/search?term={registry}/busybox-search").json()
    name = f"{registry}/found/busybox-search"
    assert found == [{"name": name, "description": "", "star_count": 0, "is_official": False,
                      "is_automated": False, "Name": name, "Description": ""}]  # fmt: skip
    official = quote(json.dumps({"is-official": ["true"]}))
    assert api.get(f"/v1.44/images/search?term={registry}/busybox&filters={official}").json() == []
    assert api.get(f"/v1.44/images/search?term={registry}/o&limit=1").json()[0]["name"].startswith(registry)
    assert api.get(f"/v1.44/images/search?term={registry}/x&limit=101").status == 400
    unknown = quote(json.dumps({"size": ["1"]}))
    assert api.get(f"/v1.44/images/search?term={registry}/x&filters={unknown}").status == 400
    unreachable = api.get("/v1.44/images/search?term=127.0.0.1:1/x")
    assert unreachable.status == 500 and "127.0.0.1:1" in unreachable.message


def test_commit_then_create_by_the_image_id(api: DockerAPI) -> None:
    cid = api.create(Cmd=["sh", "-c", "echo made > /made"], HostConfig={"NetworkMode": "none"})
    assert api.post(f"/v1.44/containers/{cid}/start").status == 204
    assert api.post(f"/v1.44/containers/{cid}/wait").json()["StatusCode"] == 0
    answer = api.post(f"/v1.44/commit?container={cid}&repo=committed&tag=1&changes=EXPOSE+8000",
                      {"Cmd": ["cat", "/made"], "Env": ["A=b"]})  # fmt: skip
    assert answer.status == 201
    image_id = answer.json()["Id"]
    config = api.get(f"/v1.44/images/{image_id}/json").json()["Config"]
    assert (config["Cmd"], "A=b" in config["Env"], "8000/tcp" in config["ExposedPorts"]) == (
        ["cat", "/made"],
        True,
        True,
    )
    again = api.create(image_id, HostConfig={"NetworkMode": "none"})  # by ID, as clients do after a build
    assert api.post(f"/v1.44/containers/{again}/start").status == 204
    assert api.post(f"/v1.44/containers/{again}/wait").json()["StatusCode"] == 0
    assert b"made" in api.get(f"/v1.44/containers/{again}/logs?stdout=1").body
    assert api.post("/v1.44/commit?container=nothere").status == 404
