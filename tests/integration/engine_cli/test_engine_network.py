"""Bridge networks through Debian's CNI plugins: container to container, published ports, cleanup."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.integration.engine_cli.conftest import Berth

pytestmark = pytest.mark.timeout(120)


def _ip(berth: Berth, name: str, network: str) -> str:
    ip: str = berth.inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]
    return ip


def _wait_listening(berth: Berth, name: str, port: int) -> None:
    deadline = time.monotonic() + 20
    needle = f":{port:04X} "
    while time.monotonic() < deadline:
        # /proc/net/tcp{,6} of the container's namespace: state 0A is LISTEN.
        table = berth("exec", name, "cat", "/proc/net/tcp", "/proc/net/tcp6").stdout
        if any(needle in line and line.split()[3] == "0A" for line in table.splitlines()[1:]):
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never listened on {port}")


def test_network_create_inspect_rm(berth: Berth) -> None:
    berth("network", "create", "--subnet", "10.199.7.0/24", "berthnet-a")
    doc = json.loads(berth("network", "inspect", "berthnet-a").stdout)[0]
    assert doc["subnets"] == [{"subnet": "10.199.7.0/24", "gateway": "10.199.7.1"}]
    assert [p["type"] for p in doc["cni_config"]["plugins"]] == ["bridge", "portmap"]
    assert "berthnet-a" in berth("network", "ls", "-q").stdout.split()
    dup = berth("network", "create", "--subnet", "10.199.7.0/25", "berthnet-b", check=False)
    assert dup.returncode == 125 and "overlaps" in dup.stderr
    berth("network", "rm", "berthnet-a")
    assert "berthnet-a" not in berth("network", "ls", "-q").stdout.split()


def test_two_containers_talk_over_tcp_on_a_user_network(berth: Berth) -> None:
    berth("network", "create", "berthnet-tcp")
    berth.run(
        "-d",
        "--name",
        "server",
        "--network",
        "berthnet-tcp",
        "--",
        "sh",
        "-c",
        "echo hello-from-server | nc -l -p 7000",
    )
    _wait_listening(berth, "server", 7000)
    out = berth.run(
        "--rm", "--network", "berthnet-tcp", "--", "nc", _ip(berth, "server", "berthnet-tcp"), "7000"
    )
    assert out.stdout == "hello-from-server\n"
    assert berth("wait", "server").stdout == "0\n"
    berth("rm", "server")
    berth("network", "rm", "berthnet-tcp")


def test_containers_on_a_user_network_find_each_other_by_name(berth: Berth) -> None:
    berth("network", "create", "berthnet-names")
    berth.run("-d", "--name", "alpha", "--network", "berthnet-names", "--", "sh", "-c",
              "echo hello-from-alpha | nc -l -p 7000")  # fmt: skip
    berth.run("-d", "--name", "beta", "--network", "berthnet-names", "--", "sleep", "60")
    _wait_listening(berth, "alpha", 7000)
    beta_hosts = berth("exec", "beta", "cat", "/etc/hosts").stdout
    assert f"{_ip(berth, 'alpha', 'berthnet-names')}\talpha\n" in beta_hosts
    assert (
        f"{_ip(berth, 'beta', 'berthnet-names')}\tbeta\n"
        in berth("exec", "alpha", "cat", "/etc/hosts").stdout
    )
    assert berth("exec", "beta", "nc", "alpha", "7000").stdout == "hello-from-alpha\n"
    berth("wait", "alpha")  # it served its one connection; beta's hosts file forgets it
    assert "alpha" not in berth("exec", "beta", "cat", "/etc/hosts").stdout
    # The default network resolves no container names (as Docker's default bridge).
    berth.run("-d", "--name", "plain", "--", "sleep", "60")
    assert berth.run("--rm", "--", "grep", "-c", "plain", "/etc/hosts", check=False).stdout == "0\n"
    berth("rm", "-f", "alpha", "beta", "plain")
    berth("network", "rm", "berthnet-names")


def test_rename_follows_into_the_networks_hosts_files(berth: Berth) -> None:
    berth("network", "create", "berthnet-rename")
    for name in ("old", "peer"):
        berth.run("-d", "--name", name, "--network", "berthnet-rename", "--", "sleep", "60")
    berth("rename", "old", "renamed")
    assert berth("ps", "--format", "json", "--filter", "name=^renamed$").stdout.count('"renamed"') == 1
    peer_hosts = berth("exec", "peer", "cat", "/etc/hosts").stdout
    assert "\trenamed\n" in peer_hosts and "\told\n" not in peer_hosts
    assert " renamed\n" in berth("exec", "renamed", "cat", "/etc/hosts").stdout  # its own line
    taken = berth("rename", "renamed", "peer", check=False)
    assert taken.returncode == 125 and "'peer' is already in use" in taken.stderr
    bad = berth("rename", "renamed", "no/slash", check=False)
    assert bad.returncode == 125 and "invalid container name" in bad.stderr
    berth("rm", "-f", "renamed", "peer")
    berth("network", "rm", "berthnet-rename")


def test_published_port_reachable_on_loopback(berth: Berth) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    berth.run(
        "-d",
        "--name",
        "web",
        "-p",
        f"127.0.0.1:{port}:8080",
        "--",
        "sh",
        "-c",
        "echo hello-published | nc -l -p 8080",
    )
    _wait_listening(berth, "web", 8080)
    assert berth("port", "web").stdout == f"8080/tcp -> 127.0.0.1:{port}\n"
    assert berth("port", "web", "8080/tcp").stdout == f"127.0.0.1:{port}\n"
    assert berth("port", "web", "9999").stdout == ""
    taken = berth.run("--rm", "-p", f"127.0.0.1:{port}:80", "--", "true", check=False)
    assert taken.returncode == 125 and "already published" in taken.stderr
    assert len(taken.stderr.strip().splitlines()) == 1
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        assert conn.recv(100) == b"hello-published\n"
    berth("rm", "-f", "web")


def test_port_taken_by_a_host_process(berth: Berth) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        out = berth.run("--rm", "-p", f"{port}:80", "--", "true", check=False)
    assert out.returncode == 125 and "already in use" in out.stderr
    assert berth("ps", "-a", "-q").stdout == ""


def test_network_none_and_host(berth: Berth) -> None:
    none = berth.run("--rm", "--network", "none", "--", "cat", "/proc/net/dev").stdout
    assert "lo:" in none and "eth0" not in none
    host = berth.run("--rm", "--network", "host", "--", "cat", "/proc/net/dev").stdout
    assert set(os.listdir("/sys/class/net")) <= {line.split(":")[0].strip() for line in host.splitlines()[2:]}


def test_cni_check_notices_a_broken_attachment(berth: Berth) -> None:
    berth.run("-d", "--name", "checked", "--", "sleep", "1000")
    assert berth("network", "check", "checked").stdout.endswith(": ok\n")
    netns = berth.runroot / "containers" / berth.inspect("checked")["Id"] / "netns"
    subprocess.run(["nsenter", f"--net={netns}", "ip", "route", "del", "default"], check=True)
    broken = berth("network", "check", "checked", check=False)
    assert broken.returncode == 125 and "CHECK failed" in broken.stderr
    berth("rm", "-f", "checked")


def test_prune_removes_nat_rules_a_broken_teardown_left(berth: Berth) -> None:
    # A network made by an earlier Berth has the bridge plugin masquerade each container itself.
    berth("network", "create", "legacy")
    conflist_path = berth.root / "networks" / "legacy.conflist"
    conflist = json.loads(conflist_path.read_text())
    conflist["plugins"][0]["ipMasq"] = True
    conflist_path.write_text(json.dumps(conflist))
    berth.run("-d", "--name", "lost", "--network", "legacy", "--", "sleep", "1000")
    netns = berth.runroot / "containers" / berth.inspect("lost")["Id"] / "netns"
    # Without its address the bridge plugin's DEL cannot find the container's masquerade rules.
    subprocess.run(["nsenter", f"--net={netns}", "ip", "addr", "flush", "dev", "eth0"], check=True)
    berth("rm", "-f", "lost")
    berth("system", "prune", "-f")  # the fixture checks that no CNI rule is left


@contextlib.contextmanager
def _outside_server(route_back: str = "") -> Iterator[str]:
    """A network namespace standing for the world outside the host, joined to the host by a veth
    pair (10.213.0.1 on the host's side; a route back through it to ``route_back`` only), with a
    server on port 7070 there that answers each connection with the address it came from. Yields
    the server's address."""
    outside, host_if, peer_if = f"berth-test-out{os.getpid()}", f"bto{os.getpid() % 100000}", "eth9"
    subprocess.run(["ip", "netns", "add", outside], check=True)
    try:
        veth = ["ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if, "netns", outside]
        subprocess.run(veth, check=True)
        subprocess.run(["ip", "addr", "add", "10.213.0.1/30", "dev", host_if], check=True)
        subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
        inside = ["ip", "netns", "exec", outside]
        subprocess.run([*inside, "ip", "addr", "add", "10.213.0.2/30", "dev", peer_if], check=True)
        subprocess.run([*inside, "ip", "link", "set", peer_if, "up"], check=True)
        if route_back:
            subprocess.run([*inside, "ip", "route", "add", route_back, "via", "10.213.0.1"], check=True)
        server = subprocess.Popen(
            [*inside, sys.executable, "-c",
             "import socket; s = socket.create_server(('10.213.0.2', 7070))\n"
             "while True: c, a = s.accept(); c.sendall(a[0].encode() + b'\\n'); c.close()"],
        )  # fmt: skip
        try:
            yield "10.213.0.2"
        finally:
            server.kill()
            server.wait()
    finally:
        subprocess.run(["ip", "netns", "del", outside], check=False)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)


def test_a_bridge_network_masquerades_with_one_rule_and_brings_loopback_up(berth: Berth) -> None:
    """Traffic leaving the host from a container takes the host's address (the network's one
    MASQUERADE rule, made with its bridge and removed with it); the container's lo is up."""
    with _outside_server() as server:
        script = f"cat /sys/class/net/lo/flags; until nc {server} 7070; do sleep 0.1; done"
        out = berth.run("--rm", "--", "sh", "-c", script).stdout.split()
    assert int(out[0], 16) & 0x1, "lo is not up"
    assert out[1] == "10.213.0.1", "the connection did not come from the host's address"
    rules = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    (network,) = berth("network", "ls", "-q").stdout.split()
    assert rules.count(f'"berth network {network}"') == 1


def test_an_internal_network_has_no_way_out_of_its_bridge(berth: Berth) -> None:
    """A container on an ``--internal`` network has no default route, and even one that makes
    itself a route through the bridge's address reaches nothing beyond the bridge, though the
    outside knows the way back (the host forwards nothing into or out of it), while its
    neighbours on the bridge answer; a container on an ordinary network reaches the outside."""
    berth("network", "create", "--internal", "berthnet-int")
    doc = json.loads(berth("network", "inspect", "berthnet-int").stdout)[0]
    assert doc["internal"] is True
    gateway = doc["subnets"][0]["gateway"]
    berth.run("-d", "--name", "neighbour", "--network", "berthnet-int", "--", "sh", "-c",
              "while true; do echo neighbour | nc -l -p 7000; done")  # fmt: skip
    _wait_listening(berth, "neighbour", 7000)
    neighbour = _ip(berth, "neighbour", "berthnet-int")
    with _outside_server(route_back=doc["subnets"][0]["subnet"]) as server:
        reach = f"nc -w 3 {server} 7070 && echo reached || echo unreachable"
        assert berth.run("--rm", "--", "sh", "-c", f"until nc {server} 7070; do sleep 0.1; done").stdout
        script = (f"ip route | grep -c default; nc {neighbour} 7000;"
                  f" ip route add default via {gateway}; {reach}")  # fmt: skip
        out = berth.run(
            "--rm", "--network", "berthnet-int", "--cap-add", "NET_ADMIN", "--", "sh", "-c", script
        ).stdout.split()
    assert out == ["0", "neighbour", "unreachable"]
    rules = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert '"berth network berthnet-int"' not in rules, "an internal network masquerades"
    berth("rm", "-f", "neighbour")
    berth("network", "rm", "berthnet-int")


def test_an_ipv6_network_gives_containers_addresses_they_talk_over(berth: Berth) -> None:
    """``--ipv6`` makes a dual-stack network on a unique local /64; a container gets an address
    there (shown by inspect) that a neighbour reaches over TCP."""
    berth("network", "create", "--ipv6", "berthnet-v6")
    doc = json.loads(berth("network", "inspect", "berthnet-v6").stdout)[0]
    assert doc["ipv6_enabled"] is True
    (subnet6,) = [s["subnet"] for s in doc["subnets"] if ":" in s["subnet"]]
    assert subnet6.startswith("fd") and subnet6.endswith("::/64")
    berth.run("-d", "--name", "server6", "--network", "berthnet-v6", "--", "sh", "-c",
              "echo hello-over-v6 | nc -l -p 7000")  # fmt: skip
    _wait_listening(berth, "server6", 7000)
    address = berth.inspect("server6")["NetworkSettings"]["Networks"]["berthnet-v6"]["GlobalIPv6Address"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet6)
    out = berth.run("--rm", "--network", "berthnet-v6", "--", "nc", address, "7000")
    assert out.stdout == "hello-over-v6\n"
    berth("rm", "-f", "server6")
    berth("network", "rm", "berthnet-v6")
