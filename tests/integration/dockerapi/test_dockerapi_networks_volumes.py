"""Network and volume endpoints: create, list, inspect, remove, prune, and containers on them."""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import quote

from tests.integration.dockerapi.client import DockerAPI, demultiplex
from tests.integration.engine_cli.conftest import Berth


def test_network_create_list_inspect_remove(api: DockerAPI, berth: Berth) -> None:
    made = api.post("/v1.44/networks/create", {"Name": "appnet", "Labels": {"k": "v"}})
    assert made.status == 201, made.body
    net_id = made.json()["Id"]
    assert api.post("/v1.44/networks/create", {"Name": "appnet"}).status == 409
    names = [n["Name"] for n in api.get("/v1.44/networks").json()]
    assert {"appnet", "bridge", "host", "none"} <= set(names)
    custom = json.dumps({"type": ["custom"]})
    assert [n["Name"] for n in api.get(f"/v1.44/networks?filters={quote(custom)}").json()] == ["appnet"]
    doc = api.get(f"/v1.44/networks/{net_id[:12]}").json()
    assert (doc["Name"], doc["Driver"], doc["Labels"]) == ("appnet", "bridge", {"k": "v"})
    [ipam] = doc["IPAM"]["Config"]
    assert ipam["Subnet"].endswith("/24")
    # a container on it, named through NetworkingConfig as docker-compose names it
    cid = api.create(
        Cmd=["sleep", "300"], NetworkingConfig={"EndpointsConfig": {"appnet": {"Aliases": ["web"]}}}
    )
    api.post(f"/v1.44/containers/{cid}/start")
    assert cid in api.get("/v1.44/networks/appnet").json()["Containers"]
    inspected = api.get(f"/v1.44/containers/{cid}/json").json()
    assert list(inspected["NetworkSettings"]["Networks"]) == ["appnet"]
    assert api.delete("/v1.44/networks/appnet").status == 403  # in use
    assert api.post("/v1.44/networks/appnet/connect", {"Container": cid}).status == 200  # its own
    # one more network, at once: found there by its aliases, off it again with disconnect
    assert api.post("/v1.44/networks/create", {"Name": "backnet"}).status == 201
    peer = api.create(Cmd=["sleep", "300"], HostConfig={"NetworkMode": "backnet"})
    api.post(f"/v1.44/containers/{peer}/start")
    joined = api.post(
        "/v1.44/networks/backnet/connect", {"Container": cid, "EndpointConfig": {"Aliases": ["db"]}}
    )
    assert joined.status == 200
    assert api.post("/v1.44/networks/backnet/connect", {"Container": cid}).status == 409  # already on it
    inspected = api.get(f"/v1.44/containers/{cid}/json").json()
    assert sorted(inspected["NetworkSettings"]["Networks"]) == ["appnet", "backnet"]
    assert "db" in inspected["NetworkSettings"]["Networks"]["backnet"]["Aliases"]
    assert _exec(api, cid, ["httpd", "-p", "8080", "-h", "/etc"]) == 0  # busybox httpd goes to the background
    assert _exec(api, peer, ["wget", "-qO", "-", "http://db:8080/hostname"]) == 0
    assert api.post("/v1.44/networks/backnet/disconnect", {"Container": cid}).status == 200
    assert api.post("/v1.44/networks/backnet/disconnect", {"Container": cid}).status == 404
    assert cid not in api.get("/v1.44/networks/backnet").json()["Containers"]
    api.delete(f"/v1.44/containers/{peer}?force=1")
    assert api.delete("/v1.44/networks/backnet").status == 204
    api.delete(f"/v1.44/containers/{cid}?force=1")
    assert api.delete("/v1.44/networks/bridge").status == 403
    assert api.delete("/v1.44/networks/appnet").status == 204
    assert api.get("/v1.44/networks/appnet").status == 404
    assert "appnet" not in berth("network", "ls").stdout


def test_network_prune_and_bad_input(api: DockerAPI) -> None:
    assert api.post("/v1.44/networks/create", {"Name": "spare"}).status == 201
    assert api.post("/v1.44/networks/create", {"Name": "x", "Driver": "overlay"}).status == 400
    assert api.post("/v1.44/networks/create", {"Name": 5}).status == 400
    assert api.post("/v1.44/networks/create", {}).status == 400
    assert api.post("/v1.44/networks/prune").json()["NetworksDeleted"] == ["spare"]


def test_two_containers_on_a_network_reach_each_other_by_name(api: DockerAPI) -> None:
    api.post("/v1.44/networks/create", {"Name": "talk"})
    server = api.create(name="server", Cmd=["sleep", "300"], HostConfig={"NetworkMode": "talk"})
    api.post(f"/v1.44/containers/{server}/start")
    client = api.create(
        Cmd=["ping", "-c", "1", "-W", "5", "server"],
        HostConfig={"NetworkMode": "talk", "CapAdd": ["NET_RAW"]},
    )
    api.post(f"/v1.44/containers/{client}/start")
    code = api.post(f"/v1.44/containers/{client}/wait").json()["StatusCode"]
    logs = demultiplex(api.get(f"/v1.44/containers/{client}/logs?stdout=1&stderr=1").body)
    assert code == 0, logs
    for cid in (client, server):
        api.delete(f"/v1.44/containers/{cid}?force=1")
    assert api.delete("/v1.44/networks/talk").status == 204


def test_an_internal_ipv6_network_as_docker_py_makes_it(api: DockerAPI) -> None:
    """``Internal`` and ``EnableIPv6`` with an IPv6 pool (docker-py's ``IPAMPool`` form, with a
    range and a gateway): inspect shows them, a container takes its IPv6 address from the range,
    and a neighbour reaches it there."""
    pool = {"Subnet": "fd0b:e47::/64", "IPRange": "fd0b:e47::/96", "Gateway": "fd0b:e47::ffff"}
    body = {
        "Name": "inner6",
        "Internal": True,
        "EnableIPv6": True,
        "IPAM": {"Driver": "default", "Config": [pool]},
    }
    assert api.post("/v1.44/networks/create", body).status == 201
    doc = api.get("/v1.44/networks/inner6").json()
    assert (doc["Internal"], doc["EnableIPv6"]) == (True, True)
    assert doc["IPAM"]["Config"][1] == pool and doc["IPAM"]["Config"][0]["Subnet"].endswith("/24")
    server = api.create(Cmd=["sleep", "300"], HostConfig={"NetworkMode": "inner6"})
    api.post(f"/v1.44/containers/{server}/start")
    settings = api.get(f"/v1.44/containers/{server}/json").json()["NetworkSettings"]["Networks"]["inner6"]
    address = settings["GlobalIPv6Address"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(pool["IPRange"])
    assert (settings["GlobalIPv6PrefixLen"], settings["IPv6Gateway"]) == (64, "fd0b:e47::ffff")
    assert api.get("/v1.44/networks/inner6").json()["Containers"][server]["IPv6Address"] == f"{address}/64"
    client = api.create(
        Cmd=["ping", "-6", "-c", "1", "-W", "5", address],
        HostConfig={"NetworkMode": "inner6", "CapAdd": ["NET_RAW"]},
    )
    api.post(f"/v1.44/containers/{client}/start")
    code = api.post(f"/v1.44/containers/{client}/wait").json()["StatusCode"]
    assert code == 0, demultiplex(api.get(f"/v1.44/containers/{client}/logs?stdout=1&stderr=1").body)
    for cid in (client, server):
        api.delete(f"/v1.44/containers/{cid}?force=1")
    assert api.delete("/v1.44/networks/inner6").status == 204
    two_v4 = {"Name": "bad", "IPAM": {"Config": [{"Subnet": "10.251.1.0/24"}, {"Subnet": "10.251.2.0/24"}]}}
    assert api.post("/v1.44/networks/create", two_v4).status == 400
    aux = {
        "Name": "bad",
        "IPAM": {"Config": [{"Subnet": "10.251.1.0/24", "AuxiliaryAddresses": {"a": "10.251.1.5"}}]},
    }
    assert api.post("/v1.44/networks/create", aux).status == 400
    outside = {"Name": "bad", "IPAM": {"Config": [{"Subnet": "10.251.1.0/24", "IPRange": "10.251.2.0/25"}]}}
    assert api.post("/v1.44/networks/create", outside).status == 400


def test_fixed_addresses_and_mac_addresses_as_docker_py_asks_for_them(api: DockerAPI, berth: Berth) -> None:
    """``IPAMConfig`` addresses and ``MacAddress`` of an endpoint, at create (the own network, and
    one more in ``EndpointsConfig``) and at connect; inspect shows them, the interfaces have them."""
    ipam = {"Config": [{"Subnet": "10.251.7.0/24"}, {"Subnet": "fd0b:e48::/64"}]}
    assert (
        api.post("/v1.44/networks/create", {"Name": "fixed", "EnableIPv6": True, "IPAM": ipam}).status == 201
    )
    assert (
        api.post(
            "/v1.44/networks/create", {"Name": "fixed2", "IPAM": {"Config": [{"Subnet": "10.251.8.0/24"}]}}
        ).status
        == 201
    )
    fixed_ips = {"IPv4Address": "10.251.7.23", "IPv6Address": "fd0b:e48::f00d"}
    endpoints = {
        "fixed": {"IPAMConfig": fixed_ips, "MacAddress": "02:42:ac:11:00:0a"},
        "fixed2": {"IPAMConfig": {"IPv4Address": "10.251.8.9"}},
    }
    cid = api.create(
        Cmd=["sleep", "300"],
        HostConfig={"NetworkMode": "fixed"},
        NetworkingConfig={"EndpointsConfig": endpoints},
    )
    api.post(f"/v1.44/containers/{cid}/start")
    networks = api.get(f"/v1.44/containers/{cid}/json").json()["NetworkSettings"]["Networks"]
    own, other = networks["fixed"], networks["fixed2"]
    assert own["IPAMConfig"] == {"IPv4Address": "10.251.7.23", "IPv6Address": "fd0b:e48::f00d"}
    assert (own["IPAddress"], own["GlobalIPv6Address"], own["MacAddress"]) == (
        "10.251.7.23",
        "fd0b:e48::f00d",
        "02:42:ac:11:00:0a",
    )
    assert (other["IPAMConfig"], other["IPAddress"]) == ({"IPv4Address": "10.251.8.9"}, "10.251.8.9")
    # connect a created container with a MAC address: inspect shows it before the start, the interface after
    late = api.create(Cmd=["cat", "/sys/class/net/eth1/address"], **{"HostConfig": {"NetworkMode": "fixed2"}})
    asked = {
        "Container": late,
        "EndpointConfig": {"MacAddress": "02:42:ac:11:00:02", "IPAMConfig": {"IPv4Address": "10.251.7.99"}},
    }
    assert api.post("/v1.44/networks/fixed/connect", asked).status == 200
    before = api.get(f"/v1.44/containers/{late}/json").json()["NetworkSettings"]["Networks"]["fixed"]
    assert (before["MacAddress"], before["IPAMConfig"]) == (
        "02:42:ac:11:00:02",
        {"IPv4Address": "10.251.7.99"},
    )
    api.post(f"/v1.44/containers/{late}/start")
    assert api.post(f"/v1.44/containers/{late}/wait").json()["StatusCode"] == 0
    assert demultiplex(api.get(f"/v1.44/containers/{late}/logs?stdout=1").body)[1] == b"02:42:ac:11:00:02\n"
    for bad in ({"IPv4Address": "10.9.9.9"}, {"IPv4Address": "not-an-address"}):
        body = {
            "Image": "localhost/busybox",
            "HostConfig": {"NetworkMode": "fixed"},
            "NetworkingConfig": {"EndpointsConfig": {"fixed": {"IPAMConfig": bad}}},
        }
        refused = api.post("/v1.44/containers/create", body)
        assert refused.status == 400, refused.body
    wrong_mac = berth(
        "create", "--network", "fixed", "--mac-address", "02:42", "--rootfs", "/", "true", check=False
    )
    assert wrong_mac.returncode == 125 and "invalid MAC address" in wrong_mac.stderr
    for container in (cid, late):
        api.delete(f"/v1.44/containers/{container}?force=1")
    for network in ("fixed", "fixed2"):
        assert api.delete(f"/v1.44/networks/{network}").status == 204


def test_connect_with_an_address_after_leaving_its_only_network(api: DockerAPI) -> None:
    """docker-py's case: a container off its own network keeps its namespace and joins again with
    the address the connect asks for, now and at its next start."""
    ipam = {"Config": [{"Subnet": "10.251.9.0/24"}]}
    assert api.post("/v1.44/networks/create", {"Name": "solo", "IPAM": ipam}).status == 201
    cid = api.create(Cmd=["sleep", "300"], HostConfig={"NetworkMode": "solo"})
    assert api.post(f"/v1.44/containers/{cid}/start").status == 204
    assert api.post("/v1.44/networks/solo/disconnect", {"Container": cid}).status == 200
    assert _exec(api, cid, ["sh", "-c", "ip -4 addr | grep -q 10.251.9."]) == 1  # off it
    asked = {"Container": cid, "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.251.9.24"}}}
    assert api.post("/v1.44/networks/solo/connect", asked).status == 200

    def on_solo() -> dict[str, Any]:
        doc = api.get(f"/v1.44/containers/{cid}/json").json()
        solo: dict[str, Any] = doc["NetworkSettings"]["Networks"]["solo"]
        return solo

    assert (on_solo()["IPAMConfig"], on_solo()["IPAddress"]) == (
        {"IPv4Address": "10.251.9.24"},
        "10.251.9.24",
    )
    assert _exec(api, cid, ["sh", "-c", "ip -4 addr | grep -q 10.251.9.24"]) == 0
    assert api.post(f"/v1.44/containers/{cid}/restart?t=0").status == 204
    assert on_solo()["IPAddress"] == "10.251.9.24"
    assert _exec(api, cid, ["sh", "-c", "ip -4 addr | grep -q 10.251.9.24"]) == 0
    api.delete(f"/v1.44/containers/{cid}?force=1")
    assert api.delete("/v1.44/networks/solo").status == 204


def test_volume_create_list_inspect_remove_prune(api: DockerAPI, berth: Berth) -> None:
    made = api.post("/v1.44/volumes/create", {"Name": "data", "Labels": {"app": "db"}})
    assert made.status == 201
    assert made.json()["Name"] == "data"
    assert made.json()["Labels"] == {"app": "db"}
    again = api.post("/v1.44/volumes/create", {"Name": "data"})  # dockerd answers the existing one
    assert (again.status, again.json()["Labels"]) == (201, {"app": "db"})
    anonymous = api.post("/v1.44/volumes/create", {}).json()["Name"]
    assert len(anonymous) == 64
    listed = api.get("/v1.44/volumes").json()
    assert sorted(v["Name"] for v in listed["Volumes"]) == sorted(["data", anonymous])
    labelled = json.dumps({"label": ["app=db"]})
    assert [v["Name"] for v in api.get(f"/v1.44/volumes?filters={quote(labelled)}").json()["Volumes"]] == [
        "data"
    ]
    assert "data" in berth("volume", "ls").stdout
    cid = api.create(
        Cmd=["sh", "-c", "echo kept > /v/file"], HostConfig={"NetworkMode": "none", "Binds": ["data:/v"]}
    )
    api.post(f"/v1.44/containers/{cid}/start")
    api.post(f"/v1.44/containers/{cid}/wait")
    # the options the volume is mounted with, as podman's service reports them
    assert api.get(f"/v1.44/containers/{cid}/json").json()["HostConfig"]["Binds"] == [
        "data:/v:rprivate,nosuid,nodev,rbind"
    ]
    mounted = api.create(
        Cmd=["true"],
        HostConfig={"NetworkMode": "none", "Mounts": [{"Type": "volume", "Source": "data", "Target": "/m"}]},
    )
    assert api.get(f"/v1.44/containers/{mounted}/json").json()["HostConfig"]["Binds"] == [
        "data:/m:rprivate,nosuid,nodev,rbind"
    ]
    api.delete(f"/v1.44/containers/{mounted}")
    mountpoint = api.get("/v1.44/volumes/data").json()["Mountpoint"]
    with open(f"{mountpoint}/file") as fh:
        assert fh.read() == "kept\n"
    assert api.delete("/v1.44/volumes/data").status == 409  # a container uses it
    api.delete(f"/v1.44/containers/{cid}")
    # API 1.44 prunes anonymous volumes only, unless all=true
    assert api.post("/v1.44/volumes/prune").json()["VolumesDeleted"] == [anonymous]
    every = json.dumps({"all": ["true"]})
    assert api.post(f"/v1.44/volumes/prune?filters={quote(every)}").json()["VolumesDeleted"] == ["data"]
    assert api.get("/v1.44/volumes/data").status == 404
    assert api.post("/v1.44/volumes/create", {"Name": "x", "Driver": "nfs"}).status == 400
    assert api.post("/v1.44/volumes/create", {"Name": "bad/name"}).status == 400


def _exec(api: DockerAPI, cid: str, cmd: list[str]) -> int:
    """Run ``cmd`` in the container; its exit code."""
    exec_id = api.post(f"/v1.44/containers/{cid}/exec", {"Cmd": cmd}).json()["Id"]
    assert api.post(f"/v1.44/exec/{exec_id}/start", {"Detach": False}).status == 200
    return int(api.get(f"/v1.44/exec/{exec_id}/json").json()["ExitCode"])
