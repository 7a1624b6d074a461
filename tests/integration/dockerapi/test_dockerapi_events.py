"""``GET /events`` in Docker's shape with filters, ``GET /system/df``, and clients that leave
in the middle of a stream while the service serves on."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import quote

from tests.integration.dockerapi.client import DockerAPI
from tests.integration.engine_cli.conftest import wait_for


def test_events_since_until_in_dockers_shape(api: DockerAPI) -> None:
    start = time.time()
    cid = api.create(
        Cmd=["sh", "-c", "exit 2"], name="evented", Labels={"team": "a"}, HostConfig={"NetworkMode": "none"}
    )
    api.post(f"/v1.44/containers/{cid}/start")
    api.post(f"/v1.44/containers/{cid}/wait")
    api.delete(f"/v1.44/containers/{cid}")
    api.post("/v1.44/volumes/create", {"Name": "evvol"})
    until = time.time() + 0.001
    answer = api.get(f"/v1.44/events?since={start - 0.001}&until={until}")
    docs = [json.loads(line) for line in answer.body.splitlines()]
    container = [(d["Action"], d["Actor"]["ID"]) for d in docs if d["Type"] == "container"]
    assert ("create", cid) in container
    assert ("start", cid) in container
    assert ("destroy", cid) in container
    [died] = [d for d in docs if d["Type"] == "container" and d["Action"] == "die"]
    assert died["Actor"]["Attributes"]["exitCode"] == "2"
    assert died["Actor"]["Attributes"]["name"] == "evented"
    assert died["Actor"]["Attributes"]["team"] == "a"
    assert (died["status"], died["id"], died["from"]) == ("die", cid, "localhost/busybox")
    assert died["timeNano"] // 1_000_000_000 == died["time"]
    assert {"Type": "volume", "Action": "create"}.items() <= docs[-1].items()
    only_die = json.dumps({"event": ["die"], "label": ["team=a"]})
    filtered = api.get(f"/v1.44/events?since={start - 0.001}&until={until}&filters={quote(only_die)}")
    assert [json.loads(line)["Action"] for line in filtered.body.splitlines()] == ["die"]
    assert api.get("/v1.44/events?since=yesterday").status == 400
    bad = json.dumps({"colour": ["red"]})
    assert api.get(f"/v1.44/events?filters={quote(bad)}").status == 400


def test_events_stream_new_ones(api: DockerAPI) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(api.path)
    with sock:
        sock.sendall(b"GET /v1.44/events HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 200")
        api.post("/v1.44/volumes/create", {"Name": "streamed"})
        seen = b""
        while b"streamed" not in seen:
            seen += sock.recv(4096)
    assert b'"Action": "create"' in seen


def test_system_df(api: DockerAPI) -> None:
    cid = api.create(Cmd=["true"], HostConfig={"NetworkMode": "none"})
    api.post("/v1.44/volumes/create", {"Name": "dfvol"})
    df = api.get("/v1.44/system/df").json()
    assert len(df["Images"]) == 1
    assert df["LayersSize"] == df["Images"][0]["Size"]
    assert [c["Id"] for c in df["Containers"]] == [cid]
    assert df["Containers"][0]["SizeRw"] >= 0
    [volume] = df["Volumes"]
    assert (volume["Name"], volume["UsageData"]["RefCount"]) == ("dfvol", 0)


def test_clients_leaving_mid_stream_leave_the_service_serving(api: DockerAPI) -> None:
    cid = api.create(
        Cmd=["sh", "-c", "while true; do echo tick; sleep 0.1; done"], HostConfig={"NetworkMode": "none"}
    )
    api.post(f"/v1.44/containers/{cid}/start")
    for method, path in (
        ("GET", f"/v1.44/containers/{cid}/logs?stdout=1&follow=1"),
        ("GET", f"/v1.44/containers/{cid}/stats"),
        ("POST", f"/v1.44/containers/{cid}/wait"),
        ("GET", "/v1.44/events"),
    ):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(60)
        sock.connect(api.path)
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        assert sock.recv(12) == b"HTTP/1.1 200"
        sock.close()  # gone in the middle
    sock, head = api.hijack(f"/v1.44/containers/{cid}/attach?stream=1&stdout=1")
    assert head.startswith(b"HTTP/1.1 101")
    sock.recv(16)
    sock.close()
    assert api.get("/_ping").status == 200
    assert api.get(f"/v1.44/containers/{cid}/json").json()["State"]["Running"]
    api.delete(f"/v1.44/containers/{cid}?force=1")
    wait_for(lambda: api.get("/v1.44/containers/json?all=1").json() == [], "the container's removal")
