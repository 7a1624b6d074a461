"""``berth volume create|ls|inspect|rm|prune``: named volumes."""

from __future__ import annotations

import argparse

from berth.cli._format import HelpFormatter, add_listing_flags


def _create(args: argparse.Namespace) -> int:
    import secrets

    from berth.cli.containers import open_engine
    from berth.engine.volumes.local import create_volume

    labels = dict(label.partition("=")[::2] for label in args.label)
    with open_engine(args) as engine:
        record = create_volume(engine, args.name or secrets.token_hex(32), labels)
    print(record.name)
    return 0


def _ls(args: argparse.Namespace) -> int:
    from berth.cli._format import print_listing
    from berth.cli.containers import open_engine

    with open_engine(args) as engine:
        records = engine.db.volumes()
    print_listing(
        args,
        names=[r.name for r in records],
        docs=[{"Name": r.name, "Driver": r.driver, "Mountpoint": r.mountpoint} for r in records],
        headers=["DRIVER", "VOLUME NAME"],
        rows=[[r.driver, r.name] for r in records],
    )
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json
    from berth.cli.containers import open_engine
    from berth.engine.volumes.local import volume_info

    with open_engine(args) as engine:
        print_json([volume_info(engine, engine.db.volume(n)) for n in args.volumes])
    return 0


def _rm(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.engine.volumes.local import remove_volume

    if args.force:  # the containers using a volume go first
        from berth.engine.containers.remove import remove_volume_and_users as remove_volume
    with open_engine(args) as engine:
        for name in args.volumes:
            remove_volume(engine, name)
            print(name)
    return 0


def _prune(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.engine.volumes.local import prune_volumes

    with open_engine(args) as engine:
        for name in prune_volumes(engine):
            print(name)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``berth volume``."""
    vol = sub.add_parser("volume", help="manage named volumes", formatter_class=HelpFormatter)
    vsub = vol.add_subparsers(dest="volume_command", metavar="COMMAND", required=True)
    create = vsub.add_parser("create", help="create a volume", formatter_class=HelpFormatter)
    create.add_argument("--label", action="append", default=[], help="KEY=VALUE")
    create.add_argument("name", nargs="?", default="")
    create.set_defaults(handler=_create)
    ls = vsub.add_parser("ls", help="list volumes", formatter_class=HelpFormatter)
    add_listing_flags(ls)
    ls.set_defaults(handler=_ls)
    inspect = vsub.add_parser("inspect", help="show volumes as JSON", formatter_class=HelpFormatter)
    inspect.add_argument("volumes", nargs="+")
    inspect.set_defaults(handler=_inspect)
    rm = vsub.add_parser("rm", help="remove volumes", formatter_class=HelpFormatter)
    rm.add_argument("-f", "--force", action="store_true", help="remove the containers using them too")
    rm.add_argument("volumes", nargs="+")
    rm.set_defaults(handler=_rm)
    prune = vsub.add_parser(
        "prune", help="remove every volume no container uses", formatter_class=HelpFormatter
    )
    prune.add_argument("-f", "--force", action="store_true", help="do not ask (berth never asks)")
    prune.set_defaults(handler=_prune)
