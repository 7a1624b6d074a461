"""The ``/etc/hostname``, ``/etc/hosts`` and ``/etc/resolv.conf`` the engine bind-mounts into a container.

They are generated per container (as podman does) so the container sees its own name and address
and the host's DNS servers, without the image's files being changed.
"""

from __future__ import annotations

from pathlib import Path

from berth.spec.records import record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

ETC_FILES = ("hostname", "hosts", "resolv.conf")


def etc_mounts(userdata: Path) -> list[dict[str, Any]]:
    """Bind mounts of the generated files (runtime-spec config.md#mounts)."""
    return [
        {
            "destination": f"/etc/{name}",
            "type": "bind",
            "source": str(userdata / name),
            "options": ["rbind", "rprivate", "rw"],
        }
        for name in ETC_FILES
    ]


@record(frozen=True)
class Resolver:
    """What the user asked of the container's name resolution (``--dns``, ``--dns-search``,
    ``--dns-option``, ``--add-host HOST:IP``); each empty field keeps the host's."""

    servers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()


#: The host's name resolution, unchanged.
HOST_RESOLVER = Resolver()


def write_etc_files(
    userdata: Path,
    hostname: str,
    name: str,
    addresses: list[str],
    host_network: bool,
    resolver: Resolver = HOST_RESOLVER,
) -> None:
    """Write the three files for a container with ``addresses`` (CIDR form) on its interfaces."""
    (userdata / "hostname").write_text(f"{hostname}\n")
    write_hosts(userdata, hostname, name, addresses, host_network, [], resolver.hosts)
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        lines = []
    if not host_network:
        # A resolver on the host's loopback is unreachable from the container's own namespace.
        lines = [ln for ln in lines if not ln.strip().startswith("nameserver 127.")]
    # resolv.conf(5): each keyword given replaces the host's lines of that keyword.
    if resolver.servers:
        lines = _replaced(lines, "nameserver", [f"nameserver {server}" for server in resolver.servers])
    if resolver.search:
        lines = _replaced(lines, "search", [f"search {' '.join(resolver.search)}"])
    if resolver.options:
        lines = _replaced(lines, "options", [f"options {' '.join(resolver.options)}"])
    (userdata / "resolv.conf").write_text("".join(ln + "\n" for ln in lines))


def _replaced(lines: list[str], keyword: str, new: list[str]) -> list[str]:
    return [ln for ln in lines if ln.split()[:1] != [keyword]] + new


def write_hosts(
    userdata: Path,
    hostname: str,
    name: str,
    addresses: list[str],
    host_network: bool,
    peers: list[tuple[str, str]],
    extra_hosts: tuple[str, ...] = (),
) -> None:
    """(Re)write ``/etc/hosts`` in place (the container has the file bind-mounted, so a new inode
    would not reach it): its own names, then a line per peer ((address, name) of the other
    containers on its user network), so containers there find each other by name, as on podman's
    and Docker's user networks. ``extra_hosts`` (``HOST:IP``, ``--add-host``) come first, as in
    podman's."""
    lines = [f"{ip}\t{host}" for host, _, ip in (entry.partition(":") for entry in extra_hosts)]
    lines += ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for cidr in addresses:
        lines.append(f"{cidr.split('/')[0]}\t{hostname} {name}")
    if not addresses and not host_network:
        lines.append(f"127.0.1.1\t{hostname} {name}")
    lines += [f"{address}\t{peer}" for address, peer in peers]
    (userdata / "hosts").write_text("\n".join(lines) + "\n")
