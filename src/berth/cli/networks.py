"""``berth network create|ls|inspect|rm``: bridge networks served by CNI plugins."""

from __future__ import annotations

import argparse

from berth.cli._format import HelpFormatter, add_listing_flags


def _containers_on(engine: object, name: str) -> list[str]:
    from berth.engine.engine import Engine

    assert isinstance(engine, Engine)
    return [c.name for c in engine.db.containers() if c.config.get("network") == name]


def _create(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.engine.networks.bridge import AddressPool, create_network
    from berth.errors import InvalidArgument

    # As podman's: the n-th --gateway and --ip-range belong to the n-th --subnet.
    for flag, values in (("--gateway", args.gateway), ("--ip-range", args.ip_range)):
        if len(values) > len(args.subnet):
            raise InvalidArgument(f"every {flag} needs a --subnet it belongs to")
    pools = [
        AddressPool(subnet, *(v[n] if n < len(v) else "" for v in (args.gateway, args.ip_range)))
        for n, subnet in enumerate(args.subnet)
    ]
    labels = dict(label.partition("=")[::2] for label in args.label)
    with open_engine(args) as engine:
        record = create_network(
            engine.config, engine.db, args.name, pools, labels, internal=args.internal, ipv6=args.ipv6
        )
    print(record.name)
    return 0


def _ls(args: argparse.Namespace) -> int:
    from berth.cli._format import print_listing
    from berth.cli.containers import open_engine

    with open_engine(args) as engine:
        records = engine.db.networks()
    print_listing(
        args,
        names=[r.name for r in records],
        docs=[{"name": r.name, "id": r.id, "driver": r.driver, "subnet": r.subnet} for r in records],
        headers=["NETWORK ID", "NAME", "DRIVER", "SUBNET"],
        rows=[[r.id[:12], r.name, r.driver, r.subnet] for r in records],
    )
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json
    from berth.cli.containers import open_engine
    from berth.engine.networks.bridge import network_info

    with open_engine(args) as engine:
        docs = [
            network_info(
                engine.db.network(n), engine.config, _containers_on(engine, engine.db.network(n).name)
            )
            for n in args.networks
        ]
    print_json(docs)
    return 0


def _rm(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.engine.containers.remove import remove_container
    from berth.engine.networks.bridge import remove_network

    with open_engine(args) as engine:
        for name in args.networks:
            record = engine.db.network(name)
            users = _containers_on(engine, record.name)
            if args.force:
                for user in users:
                    remove_container(engine, user, force=True)
                users = []
            remove_network(engine.config, engine.db, record.name, in_use=bool(users))
            print(record.name)
    return 0


def _check(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.engine.containers.network_check import check_container_network

    with open_engine(args) as engine:
        for name in check_container_network(engine, args.container):
            print(f"{name}: ok")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``berth network``."""
    net = sub.add_parser("network", help="manage networks", formatter_class=HelpFormatter)
    nsub = net.add_subparsers(dest="network_command", metavar="COMMAND", required=True)
    create = nsub.add_parser("create", help="create a bridge network", formatter_class=HelpFormatter)
    create.add_argument(
        "--subnet",
        action="append",
        default=[],
        help="subnet in CIDR form, IPv4 and/or IPv6 (default: a free /24)",
    )
    create.add_argument(
        "--gateway", action="append", default=[], help="the subnet's gateway (default: its first address)"
    )
    create.add_argument(
        "--ip-range",
        action="append",
        default=[],
        help="the part of the subnet containers take addresses from",
    )
    create.add_argument(
        "--ipv6", action="store_true", help="an IPv6 subnet too (a unique local /64 unless given)"
    )
    create.add_argument("--internal", action="store_true", help="no way out of the network's bridge")
    create.add_argument("-d", "--driver", default="bridge", choices=["bridge"])
    create.add_argument("--label", action="append", default=[], help="KEY=VALUE")
    create.add_argument("name")
    create.set_defaults(handler=_create)
    ls = nsub.add_parser("ls", help="list networks", formatter_class=HelpFormatter)
    add_listing_flags(ls)
    ls.set_defaults(handler=_ls)
    inspect = nsub.add_parser("inspect", help="show networks as JSON", formatter_class=HelpFormatter)
    inspect.add_argument("networks", nargs="+")
    inspect.set_defaults(handler=_inspect)
    rm = nsub.add_parser("rm", help="remove networks", formatter_class=HelpFormatter)
    rm.add_argument("-f", "--force", action="store_true", help="remove the containers using it too")
    rm.add_argument("networks", nargs="+")
    rm.set_defaults(handler=_rm)
    check = nsub.add_parser(
        "check", help="verify a running container's networks with CNI CHECK", formatter_class=HelpFormatter
    )
    check.add_argument("container")
    check.set_defaults(handler=_check)
