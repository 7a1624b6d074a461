"""Exec endpoints: create, start on the hijacked connection (multiplexed, with stdin, with a
TTY), detached, inspect and resize."""

from __future__ import annotations

import socket

from tests.integration.dockerapi.client import DockerAPI, demultiplex, read_all
from tests.integration.engine_cli.conftest import wait_for


def _running(api: DockerAPI) -> str:
    cid = api.create(Cmd=["sleep", "300"], HostConfig={"NetworkMode": "none"})
    assert api.post(f"/v1.44/containers/{cid}/start").status == 204
    return cid


def _start(api: DockerAPI, exec_id: str, body: bytes = b'{"Detach": false}') -> tuple[socket.socket, bytes]:
    """Start the exec on a hijacked connection; the socket and the answer's head (read first, as
    docker does before it sends any input)."""
    return api.hijack(f"/v1.44/exec/{exec_id}/start", body)


def test_exec_output_streams_and_exit_code(api: DockerAPI) -> None:
    cid = _running(api)
    made = api.post(
        f"/v1.44/containers/{cid}/exec",
        {"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 5"], "AttachStdout": True, "AttachStderr": True},
    )
    assert made.status == 201
    exec_id = made.json()["Id"]
    sock, head = _start(api, exec_id)
    with sock:
        body = read_all(sock)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED")
    assert demultiplex(body) == {1: b"out\n", 2: b"err\n"}
    doc = api.get(f"/v1.44/exec/{exec_id}/json").json()
    assert (doc["ExitCode"], doc["Running"], doc["ContainerID"]) == (5, False, cid)
    assert doc["ProcessConfig"]["entrypoint"] == "sh"
    assert api.post(f"/v1.44/exec/{exec_id}/start", {}).status == 409  # once only


def test_exec_with_stdin_and_a_half_close(api: DockerAPI) -> None:
    cid = _running(api)
    exec_id = api.post(
        f"/v1.44/containers/{cid}/exec", {"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True}
    ).json()["Id"]
    sock, _ = _start(api, exec_id)
    with sock:
        sock.sendall(b"through cat\n")
        sock.shutdown(socket.SHUT_WR)
        body = read_all(sock)
    assert demultiplex(body) == {1: b"through cat\n"}


def test_exec_with_a_tty_is_raw_and_resizable(api: DockerAPI) -> None:
    cid = _running(api)
    exec_id = api.post(
        f"/v1.44/containers/{cid}/exec",
        {"Cmd": ["sh", "-c", "read x; stty size"], "Tty": True, "AttachStdin": True, "AttachStdout": True},
    ).json()["Id"]
    sock, head = _start(api, exec_id, b'{"Detach": false, "Tty": true}')
    with sock:
        wait_for(lambda: api.get(f"/v1.44/exec/{exec_id}/json").json()["Pid"] > 0, "the exec to start")
        assert api.post(f"/v1.44/exec/{exec_id}/resize?h=33&w=77").status == 201
        sock.sendall(b"go\r")
        body = read_all(sock)
    assert b"application/vnd.docker.raw-stream" in head
    assert b"33 77" in body


def test_a_tty_exec_started_without_tty_is_multiplexed(api: DockerAPI) -> None:
    """dockerd frames by the start's ``Tty``: a TTY exec started without it (docker-py's
    ``exec_start`` default) comes as stdout frames."""
    cid = _running(api)
    exec_id = api.post(
        f"/v1.44/containers/{cid}/exec", {"Cmd": ["printf", "framed"], "Tty": True, "AttachStdout": True}
    ).json()["Id"]
    sock, head = _start(api, exec_id, b'{"Detach": false, "Tty": false}')
    with sock:
        body = read_all(sock)
    assert b"application/vnd.docker.multiplexed-stream" in head
    assert demultiplex(body) == {1: b"framed"}


def test_a_detached_exec_runs_on(api: DockerAPI) -> None:
    cid = _running(api)
    exec_id = api.post(f"/v1.44/containers/{cid}/exec", {"Cmd": ["sh", "-c", "exit 3"]}).json()["Id"]
    started = api.post(f"/v1.44/exec/{exec_id}/start", {"Detach": True})
    assert (started.status, started.body) == (200, b"")  # dockerd's: no body
    wait_for(lambda: api.get(f"/v1.44/exec/{exec_id}/json").json()["ExitCode"] == 3, "the exec's exit")


def test_exec_errors(api: DockerAPI) -> None:
    cid = api.create(Cmd=["true"], HostConfig={"NetworkMode": "none"})
    assert api.post(f"/v1.44/containers/{cid}/exec", {"Cmd": ["true"]}).status == 409  # not running
    running = _running(api)
    assert api.post(f"/v1.44/containers/{running}/exec", {"Cmd": "true"}).status == 400  # not a list
    assert api.post(f"/v1.44/containers/{running}/exec", {}).status == 400
    assert api.get("/v1.44/exec/nothere/json").status == 404
    missing = api.post(f"/v1.44/containers/{running}/exec", {"Cmd": ["/no/such/program"]}).json()["Id"]
    # as dockerd: the exec ends at once with the shell's status for a missing command
    assert api.post(f"/v1.44/exec/{missing}/start", {"Detach": True}).status == 200
    ended = api.get(f"/v1.44/exec/{missing}/json").json()
    assert (ended["Running"], ended["ExitCode"]) == (False, 127)
