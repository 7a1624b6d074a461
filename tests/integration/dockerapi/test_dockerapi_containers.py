"""Container endpoints over the service's socket: create, the lifecycle, list and inspect in
Docker's shapes, logs and attach streams, and the same containers seen by ``berth``."""

from __future__ import annotations

import io
import json
import tarfile
import time
from urllib.parse import quote

from tests.integration.dockerapi.client import DockerAPI, demultiplex, read_all
from tests.integration.engine_cli.conftest import Berth, wait_for

#: No network: the tests of the API need none, and a container starts faster without.
OFFLINE = {"HostConfig": {"NetworkMode": "none"}}


def _wait(api: DockerAPI, cid: str, condition: str = "not-running") -> int:
    answer = api.post(f"/v1.44/containers/{cid}/wait?condition={condition}")
    assert answer.status == 200, answer.body
    return int(answer.json()["StatusCode"])


def test_create_start_wait_logs_remove(api: DockerAPI) -> None:
    cid = api.create(Cmd=["sh", "-c", "echo out; echo err >&2; exit 3"], name="one", **OFFLINE)
    assert api.post(f"/v1.44/containers/{cid}/start").status == 204
    assert _wait(api, cid) == 3
    logs = api.get(f"/v1.44/containers/{cid}/logs?stdout=1&stderr=1")
    assert logs.headers["content-type"] == "application/vnd.docker.multiplexed-stream"
    assert demultiplex(logs.body) == {1: b"out\n", 2: b"err\n"}
    only_err = api.get(f"/v1.41/containers/{cid}/logs?stderr=1&timestamps=1")
    assert only_err.headers["content-type"] == "application/vnd.docker.raw-stream"
    assert demultiplex(only_err.body)[2].endswith(b"Z err\n")
    assert api.get(f"/v1.44/containers/{cid}/logs").status == 400  # no stream chosen
    assert api.delete(f"/v1.44/containers/{cid}").status == 204
    assert api.get(f"/v1.44/containers/{cid}/json").status == 404


def test_a_tty_container_logs_raw(api: DockerAPI) -> None:
    cid = api.create(Cmd=["echo", "hi"], Tty=True, **OFFLINE)
    api.post(f"/v1.44/containers/{cid}/start")
    assert _wait(api, cid) == 0
    logs = api.get(f"/v1.44/containers/{cid}/logs?stdout=1&tail=1")
    assert logs.headers["content-type"] == "application/vnd.docker.raw-stream"
    assert logs.body.replace(b"\r", b"") == b"hi\n"


def test_inspect_and_list_in_dockers_shapes(api: DockerAPI, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cid = api.create(
        Cmd=["sleep", "300"],
        name="shaped",
        Labels={"com.docker.compose.project": "p1"},
        Env=["A=1"],
        HostConfig={
            "NetworkMode": "none",
            "Binds": [f"{tmp_path}:/data:ro"],
            "Tmpfs": {"/scratch": "size=1m"},
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
            "Memory": 64 * 1024 * 1024,
            "NanoCpus": 500_000_000,
            "CapDrop": ["NET_RAW"],
        },
    )
    doc = api.get(f"/v1.44/containers/{cid}/json").json()
    assert doc["Name"] == "/shaped"
    assert doc["State"]["Status"] == "created"
    assert doc["Config"]["Labels"] == {"com.docker.compose.project": "p1"}
    assert "A=1" in doc["Config"]["Env"]
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert doc["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert doc["HostConfig"]["NanoCpus"] == 500_000_000
    assert doc["HostConfig"]["Binds"] == [f"{tmp_path}:/data:ro"]
    assert doc["HostConfig"]["Tmpfs"] == {"/scratch": "size=1m"}
    assert doc["Image"].startswith("sha256:")
    assert api.get("/v1.44/containers/json").json() == []  # not running
    api.post(f"/v1.44/containers/{cid}/start")
    running = api.get(f"/v1.44/containers/{cid}/json").json()["State"]
    assert (running["Status"], running["Running"]) == ("running", True)
    assert running["Pid"] > 0
    [entry] = api.get("/v1.44/containers/json").json()
    assert (entry["Id"], entry["Names"], entry["State"]) == (cid, ["/shaped"], "running")
    assert entry["Labels"] == {"com.docker.compose.project": "p1"}
    assert entry["Command"] == "sleep 300"
    label = json.dumps({"label": ["com.docker.compose.project=p1"]})
    assert [c["Id"] for c in api.get(f"/v1.44/containers/json?filters={quote(label)}").json()] == [cid]
    other = json.dumps({"label": {"com.docker.compose.project=p2": True}})  # the older map form
    assert api.get(f"/v1.44/containers/json?filters={quote(other)}").json() == []
    by_name = json.dumps({"name": ["^/shaped$"]})
    assert len(api.get(f"/v1.44/containers/json?filters={quote(by_name)}").json()) == 1
    bad = json.dumps({"volume": ["x"]})
    assert api.get(f"/v1.44/containers/json?filters={quote(bad)}").status == 400
    assert api.post(f"/v1.44/containers/{cid}/kill?signal=KILL").status == 204
    assert _wait(api, cid) == 137


def test_lifecycle_verbs_and_their_status_codes(api: DockerAPI) -> None:
    cid = api.create(Cmd=["sleep", "300"], name="verbs", StopTimeout=1, **OFFLINE)
    assert api.post(f"/v1.44/containers/{cid}/stop").status == 304  # never started
    assert api.post(f"/v1.44/containers/{cid}/kill").status == 409
    assert api.post(f"/v1.44/containers/{cid}/pause").status == 500  # podman's answer (dockerd: 409)
    assert api.post(f"/v1.44/containers/{cid}/start").status == 204
    assert api.post(f"/v1.44/containers/{cid}/start").status == 304
    assert api.post(f"/v1.44/containers/{cid}/pause").status == 204
    assert api.get(f"/v1.44/containers/{cid}/json").json()["State"]["Status"] == "paused"
    assert api.post(f"/v1.44/containers/{cid}/unpause").status == 204
    top = api.get(f"/v1.44/containers/{cid}/top").json()
    assert "PID" in top["Titles"]
    assert any("sleep" in " ".join(p) for p in top["Processes"])
    refused = api.delete(f"/v1.44/containers/{cid}")  # running, no force: podman's 500 (dockerd: 409)
    assert refused.status == 500 and "running" in refused.json()["message"]
    assert api.post(f"/v1.44/containers/{cid}/rename?name=renamed").status == 204
    assert api.post("/v1.44/containers/renamed/restart?t=0").status == 204
    assert api.get("/v1.44/containers/renamed/json").json()["State"]["Running"]
    assert api.post("/v1.44/containers/renamed/stop?t=0").status == 204
    assert api.post("/v1.44/containers/renamed/stop").status == 304
    assert api.delete("/v1.44/containers/renamed?force=1").status == 204


def test_wait_next_exit_set_before_the_start(api: DockerAPI) -> None:
    import threading

    cid = api.create(Cmd=["sh", "-c", "exit 7"], HostConfig={"NetworkMode": "none", "AutoRemove": True})
    codes: list[int] = []
    waiter = threading.Thread(target=lambda: codes.append(_wait(api, cid, "removed")))
    waiter.start()
    time.sleep(0.2)  # lets the wait be set first, as docker run sets it; not a timing assertion
    api.post(f"/v1.44/containers/{cid}/start")
    waiter.join(timeout=60)
    assert codes == [7]
    assert api.get(f"/v1.44/containers/{cid}/json").status == 404


def test_attach_before_start_gets_the_output_then_eof(api: DockerAPI) -> None:
    cid = api.create(Cmd=["sh", "-c", "echo a; echo b >&2"], **OFFLINE)
    sock, head = api.hijack(f"/v1.44/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
    with sock:
        assert head.startswith(b"HTTP/1.1 101 UPGRADED"), head
        assert b"Upgrade: tcp" in head
        assert api.post(f"/v1.44/containers/{cid}/start").status == 204
        assert demultiplex(read_all(sock)) == {1: b"a\n", 2: b"b\n"}
    assert _wait(api, cid) == 0


def test_attach_with_stdin_to_a_running_container(api: DockerAPI) -> None:
    cid = api.create(Cmd=["sh", "-c", "read line; echo got $line"], OpenStdin=True, **OFFLINE)
    api.post(f"/v1.44/containers/{cid}/start")
    sock, head = api.hijack(f"/v1.44/containers/{cid}/attach?stream=1&stdin=1&stdout=1")
    with sock:
        assert head.startswith(b"HTTP/1.1 101"), head
        sock.sendall(b"hello\n")
        sock.shutdown(1)  # the half-close docker sends at the end of its stdin: output still comes
        assert demultiplex(read_all(sock)) == {1: b"got hello\n"}
    assert api.post(f"/v1.44/containers/{cid}/attach?stdout=1").status == 409  # exited


def test_logs_follow_until_the_container_exits(api: DockerAPI) -> None:
    cid = api.create(Cmd=["sh", "-c", "echo 1; sleep 0.5; echo 2"], **OFFLINE)
    api.post(f"/v1.44/containers/{cid}/start")
    logs = api.get(f"/v1.44/containers/{cid}/logs?stdout=1&follow=1")
    assert demultiplex(logs.body) == {1: b"1\n2\n"}


def test_stats_changes_export_update(api: DockerAPI) -> None:
    cid = api.create(Cmd=["sh", "-c", "touch /new; sleep 300"], **OFFLINE)
    api.post(f"/v1.44/containers/{cid}/start")
    wait_for(
        lambda: any(c["Path"] == "/new" for c in api.get(f"/v1.44/containers/{cid}/changes").json()), "/new"
    )
    assert {"Path": "/new", "Kind": 1} in api.get(f"/v1.44/containers/{cid}/changes").json()
    sample = api.get(f"/v1.44/containers/{cid}/stats?stream=false").json()
    assert sample["id"] == cid
    assert sample["memory_stats"]["usage"] > 0
    assert sample["cpu_stats"]["system_cpu_usage"] >= sample["precpu_stats"]["system_cpu_usage"]
    one = api.get(f"/v1.44/containers/{cid}/stats?stream=0&one-shot=1").json()
    assert one["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert api.post(f"/v1.44/containers/{cid}/update", {"Memory": 128 * 1024 * 1024}).status == 200
    assert api.get(f"/v1.44/containers/{cid}/json").json()["HostConfig"]["Memory"] == 128 * 1024 * 1024
    assert api.post(f"/v1.44/containers/{cid}/update", {"CpuShares": 512, "CpusetCpus": "0"}).status == 200
    host = api.get(f"/v1.44/containers/{cid}/json").json()["HostConfig"]
    assert (host["CpuShares"], host["CpusetCpus"], host["Memory"]) == (512, "0", 128 * 1024 * 1024)
    tar = api.get(f"/v1.44/containers/{cid}/export")
    assert tar.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(tar.body)) as archive:
        names = archive.getnames()
    assert any(n.lstrip("./") == "new" for n in names)
    assert any(n.lstrip("./") == "bin/busybox" for n in names)
    api.delete(f"/v1.44/containers/{cid}?force=1")


def test_prune_removes_stopped_containers(api: DockerAPI) -> None:
    done = api.create(Cmd=["true"], Labels={"k": "v"}, **OFFLINE)
    api.post(f"/v1.44/containers/{done}/start")
    _wait(api, done)
    kept = api.create(Cmd=["true"], **OFFLINE)
    api.post(f"/v1.44/containers/{kept}/start")
    _wait(api, kept)
    label = json.dumps({"label": ["k=v"]})
    assert api.post(f"/v1.44/containers/prune?filters={quote(label)}").json()["ContainersDeleted"] == [done]
    assert [c["Id"] for c in api.get("/v1.44/containers/json?all=1").json()] == [kept]


def test_api_and_berth_see_the_same_containers(api: DockerAPI, berth: Berth) -> None:
    cid = api.create(Cmd=["true"], name="from-api", **OFFLINE)
    assert "from-api" in berth("ps", "-a").stdout
    made = berth(
        "create", "--name", "from-berth", "--network", "none", "localhost/busybox", "true"
    ).stdout.strip()
    names = [c["Names"] for c in api.get("/v1.44/containers/json?all=1").json()]
    assert sorted(names) == [["/from-api"], ["/from-berth"]]
    assert api.get(f"/v1.44/containers/{made[:12]}/json").json()["Id"] == made
    berth("rm", cid)


def test_log_drivers_made_through_the_api(api: DockerAPI, berth: Berth) -> None:
    plain = api.create(Cmd=["true"], name="plain", **OFFLINE)
    # dockerd's default name, recorded so: the engine's inspect says it too
    assert berth.inspect("plain")["HostConfig"]["LogConfig"]["Type"] == "json-file"
    made = berth(
        "create", "--name", "native", "--network", "none", "localhost/busybox", "true"
    ).stdout.strip()
    assert berth.inspect("native")["HostConfig"]["LogConfig"]["Type"] == "k8s-file"
    # the same log under the name clients read logs from, as podman's service answers
    assert api.get(f"/v1.44/containers/{made}/json").json()["HostConfig"]["LogConfig"]["Type"] == "json-file"
    quiet = api.create(
        Cmd=["echo", "unlogged"], HostConfig={"NetworkMode": "none", "LogConfig": {"Type": "none"}}
    )
    assert api.get(f"/v1.44/containers/{quiet}/json").json()["HostConfig"]["LogConfig"]["Type"] == "none"
    assert api.post(f"/v1.44/containers/{quiet}/start").status == 204
    assert _wait(api, quiet) == 0
    unread = api.get(f"/v1.44/containers/{quiet}/logs?stdout=1")
    assert (unread.status, unread.message) == (501, "configured logging driver does not support reading")
    refused = api.post(
        "/v1.44/containers/create",
        {"Image": "localhost/busybox", "HostConfig": {"LogConfig": {"Type": "syslog"}}},
    )
    assert (refused.status, refused.message) == (400, "logger: no log driver named 'syslog' is registered")
    for cid in (plain, made, quiet):
        assert api.delete(f"/v1.44/containers/{cid}").status == 204


def test_a_container_on_the_default_network_has_an_address(api: DockerAPI) -> None:
    cid = api.create(Cmd=["sleep", "300"], HostConfig={"PortBindings": {"80/tcp": [{"HostPort": ""}]}})
    assert api.post(f"/v1.44/containers/{cid}/start").status == 204
    doc = api.get(f"/v1.44/containers/{cid}/json").json()
    assert doc["NetworkSettings"]["IPAddress"]
    [binding] = doc["NetworkSettings"]["Ports"]["80/tcp"]
    assert int(binding["HostPort"]) > 0
    api.delete(f"/v1.44/containers/{cid}?force=1")
