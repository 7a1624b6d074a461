"""The Docker API's pure parts: versions, create requests as the engine's options, frames, the
event shape, and the application's error handling (an in-process server, no root)."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from berth.dockerapi.app import Router, make_app
from berth.dockerapi.container_config import create_options, more_networks
from berth.dockerapi.errors import ApiError
from berth.dockerapi.events import docker_event
from berth.dockerapi.streams import frame
from berth.dockerapi.versions import parse_version
from berth.engine.config import load_config
from berth.errors import NotFound


def test_versions() -> None:
    assert parse_version("1.41") == (1, 41)
    assert parse_version("1.24") == (1, 24)
    for text, words in (("1.45", "too new"), ("1.23", "too old"), ("one", "invalid API version")):
        with pytest.raises(ApiError) as err:
            parse_version(text)
        assert err.value.status == 400
        assert words in err.value.message


def test_a_create_request_as_options(tmp_path: Path) -> None:
    body = {
        "Image": "localhost/app:1",
        "Cmd": "serve",
        "Entrypoint": ["/bin/app"],
        "Env": ["A=1"],
        "Labels": {"k": "v"},
        "Tty": True,
        "OpenStdin": True,
        "StopTimeout": 3,
        "Volumes": {"/anon": {}},
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000, "Retries": 4},
        "HostConfig": {
            "Binds": [f"{tmp_path}:/data:ro"],
            "Mounts": [
                {"Type": "volume", "Source": "named", "Target": "/named"},
                {"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1024, "Mode": 0o1777}},
            ],
            "Tmpfs": {"/run": "size=1m"},
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
            "Memory": 1 << 26,
            "NanoCpus": 1_500_000_000,
            "CapAdd": ["NET_ADMIN"],
            "SecurityOpt": ["no-new-privileges"],
            "NetworkMode": "default",
            "AutoRemove": True,
        },
        "NetworkingConfig": {"EndpointsConfig": {"appnet": {"Aliases": ["web"]}}},
    }
    opts = create_options(body, "web")
    assert (opts.image, opts.name, opts.command, opts.entrypoint) == (
        "localhost/app:1",
        "web",
        ["serve"],
        ["/bin/app"],
    )
    assert opts.volumes == [f"{tmp_path}:/data:ro", "named:/named", "/anon"]
    assert opts.tmpfs == ["/run:size=1m", "/scratch:size=1024,mode=1777"]
    assert opts.publish == ["127.0.0.1:8080:80/tcp"]
    assert (opts.restart, opts.memory, opts.cpus) == ("on-failure:2", str(1 << 26), "1.5")
    assert (opts.network, opts.remove, opts.tty, opts.interactive, opts.stop_timeout) == (
        "appnet",
        True,
        True,
        True,
        3,
    )
    assert (opts.health_test, opts.health_interval, opts.health_retries) == (["CMD-SHELL", "true"], 2.0, 4)
    assert opts.pull == "never"
    assert opts.network_alias == ["web"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Image": "x", "Env": "A=1"}, "invalid Env: want a list of strings"),
        ({"Image": "x", "HostConfig": []}, "invalid HostConfig: want a JSON object"),
        (
            {"Image": "x", "HostConfig": {"AutoRemove": 1}},
            "invalid HostConfig.AutoRemove: want true or false",
        ),
        ({"Image": "x", "HostConfig": {"Mounts": [{"Type": "npipe", "Target": "/x"}]}}, "not supported"),
        ({"Image": "x", "HostConfig": {"Mounts": [{"Type": "bind", "Target": "/x"}]}}, "needs a Source"),
        ({"Image": "x", "HostConfig": {"PortBindings": {"80/tcp": "8080"}}}, "want a list of objects"),
    ],
)
def test_bad_create_requests(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiError) as err:
        create_options(body, "")
    assert err.value.status == 400
    assert message in err.value.message


def test_an_empty_host_port_gets_a_free_one() -> None:
    [published] = create_options({"Image": "x", "HostConfig": {"PortBindings": {"53/udp": [{}]}}}, "").publish
    host, container = published.split(":")
    assert int(host) > 0 and container == "53/udp"


def test_frames() -> None:
    assert frame(1, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert struct.unpack(">BxxxL", frame(2, b"x" * 70000)[:8]) == (2, 70000)


def test_events_in_dockers_shape() -> None:
    event = {"ID": "c" * 64, "Image": "img", "Name": "n", "Status": "died", "Time": "2026-01-01T00:00:01.5Z",
             "Type": "container", "ContainerExitCode": 3, "Attributes": {"label": "x"}}  # fmt: skip
    doc = docker_event(event)
    assert (doc["Type"], doc["Action"], doc["status"], doc["from"]) == ("container", "die", "die", "img")
    assert doc["Actor"] == {
        "ID": "c" * 64,
        "Attributes": {"label": "x", "image": "img", "name": "n", "exitCode": "3"},
    }
    assert (doc["time"], doc["timeNano"]) == (1767225601, 1767225601_500000000)
    volume = docker_event({"Name": "v", "Status": "remove", "Time": "2026-01-01T00:00:00Z", "Type": "volume"})
    assert (volume["Action"], volume["Actor"]["ID"]) == ("destroy", "v")


def _failing_routes(router: Router) -> None:
    async def boom(request: web.Request) -> web.StreamResponse:
        raise RuntimeError("unforeseen")

    async def missing(request: web.Request) -> web.StreamResponse:
        raise NotFound("no such thing: x")

    router.add("GET", "/boom", boom)
    router.add("GET", "/missing", missing)


def test_errors_are_dockers_and_the_app_serves_on(tmp_path: Path) -> None:
    async def run() -> None:
        app = make_app(load_config(str(tmp_path / "root"), str(tmp_path / "run")), [_failing_routes])
        async with TestClient(TestServer(app)) as client:
            boom = await client.get("/v1.44/boom")
            assert boom.status == 500
            assert (await boom.json())["message"] == "internal error: RuntimeError: unforeseen"
            missing = await client.get("/missing")
            assert (missing.status, await missing.json()) == (404, {"message": "no such thing: x"})
            nowhere = await client.get("/v1.41/nowhere")
            assert (nowhere.status, await nowhere.json()) == (404, {"message": "page not found"})
            too_new = await client.get("/v9.0/boom")
            assert too_new.status == 400

    asyncio.run(run())


def test_more_endpoints_are_networks_to_connect() -> None:
    from berth.engine.networks.bridge import NO_REQUEST, EndpointRequest

    fixed = {
        "IPAMConfig": {"IPv4Address": "10.1.0.5", "IPv6Address": "fd00::5"},
        "MacAddress": "02:00:00:00:00:01",
    }
    body = {
        "NetworkingConfig": {
            "EndpointsConfig": {"a": {"Aliases": ["x"], **fixed}, "b": {"Aliases": ["y"]}, "c": fixed}
        }
    }
    own = create_options({"Image": "i", **body}, "")
    assert (own.network, own.ip, own.ip6, own.mac_address) == (
        "a",
        "10.1.0.5",
        "fd00::5",
        "02:00:00:00:00:01",
    )
    asked = EndpointRequest(("10.1.0.5", "fd00::5"), "02:00:00:00:00:01")
    assert more_networks(body) == {"b": (["y"], NO_REQUEST), "c": ([], asked)}
    assert more_networks({"HostConfig": {"NetworkMode": "c"}, **body}) == {
        "a": (["x"], asked),
        "b": (["y"], NO_REQUEST),
    }
    assert more_networks({"NetworkingConfig": {"EndpointsConfig": {"bridge": {}}}}) == {}
    # the older top-level MacAddress, which docker-py sends
    assert (
        create_options({"Image": "i", "MacAddress": "02:00:00:00:00:02"}, "").mac_address
        == "02:00:00:00:00:02"
    )


def test_log_drivers() -> None:
    def driver(log_config: dict[str, str] | None) -> str:
        host = {} if log_config is None else {"LogConfig": log_config}
        return create_options({"Image": "i", "HostConfig": host}, "").log_driver

    assert driver(None) == driver({"Type": ""}) == "json-file"  # dockerd's default
    assert [driver({"Type": t}) for t in ("json-file", "k8s-file", "none")] == [
        "json-file",
        "k8s-file",
        "none",
    ]
    with pytest.raises(ApiError) as err:
        driver({"Type": "syslog"})
    assert (err.value.status, str(err.value)) == (400, "logger: no log driver named 'syslog' is registered")


def test_keys_match_in_any_case_as_go_decodes_them() -> None:
    opts = create_options(
        {"Image": "i", "HostConfig": {"CPURealtimePeriod": 1000, "cpurealtimeruntime": 500}}, ""
    )
    assert (opts.cpu_rt_period, opts.cpu_rt_runtime) == (1000, 500)
