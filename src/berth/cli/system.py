"""``berth info`` and ``berth system df|prune|info|service``."""

from __future__ import annotations

import argparse

from berth.cli._format import HelpFormatter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.engine.config import EngineConfig


def _info(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json
    from berth.cli.containers import open_engine
    from berth.engine.system import info

    with open_engine(args) as engine:
        print_json(info(engine))
    return 0


def _df(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json, print_table
    from berth.cli.containers import open_engine
    from berth.engine.system import disk_usage
    from berth.engine.units import human_size

    with open_engine(args) as engine:
        rows = disk_usage(engine)
    if args.format == "json":
        print_json(rows)
        return 0
    print_table(
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        [
            [r["Type"], r["Total"], r["Active"], human_size(r["Size"]), human_size(r["Reclaimable"])]
            for r in rows
        ],
    )
    return 0


def _prune(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.engine.system import prune

    with open_engine(args) as engine:
        drop_build_cache(engine.config)
        removed = prune(engine, volumes=args.volumes)
    for kind, names in removed.items():
        if names:
            print(f"Deleted {kind}:")
            for name in names:
                print(name)
    return 0


def drop_build_cache(config: EngineConfig) -> int:
    """Forget ``berth build``'s layer cache (a gc then frees its blobs); how many entries it had."""
    from berth.build.cache import drop_cache
    from berth.engine.images.store import images_root
    from berth.image.images import ImageStore

    store = ImageStore(images_root(config))
    try:
        return drop_cache(config.root, store.content)
    finally:
        store.close()


def _service(args: argparse.Namespace) -> int:
    from berth.dockerapi.service import serve
    from berth.engine.config import load_config
    from berth.errors import InvalidArgument

    if args.time < 0:
        raise InvalidArgument(f"invalid --time {args.time}: want seconds, 0 for never")
    serve(load_config(args.root, args.runroot), args.uri, args.time)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``berth info`` and ``berth system``."""
    info = sub.add_parser(
        "info", help="show the engine's host, storage and runtimes", formatter_class=HelpFormatter
    )
    info.set_defaults(handler=_info)
    system = sub.add_parser("system", help="manage the engine as a whole", formatter_class=HelpFormatter)
    ssub = system.add_subparsers(dest="system_command", metavar="COMMAND", required=True)
    sinfo = ssub.add_parser("info", help="same as berth info", formatter_class=HelpFormatter)
    sinfo.set_defaults(handler=_info)
    df = ssub.add_parser("df", help="disk usage of containers and volumes", formatter_class=HelpFormatter)
    df.add_argument("--format", default="", choices=["", "json", "table"])
    df.set_defaults(handler=_df)
    prune = ssub.add_parser(
        "prune",
        help="remove stopped containers and unused networks; sweep strays",
        formatter_class=HelpFormatter,
    )
    prune.add_argument("-a", "--all", action="store_true", help="accepted for podman compatibility")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask (berth never asks)")
    prune.add_argument("--volumes", action="store_true", help="remove unused volumes too")
    prune.set_defaults(handler=_prune)
    service = ssub.add_parser(
        "service", help="serve the Docker Engine API (docs/docker-api.md)", formatter_class=HelpFormatter
    )
    service.add_argument(
        "uri", nargs="?", default="", help="unix:///PATH or tcp:127.0.0.1:PORT (default: RUNROOT/berth.sock)"
    )
    service.add_argument(
        "-t", "--time", type=float, default=5.0, help="exit after this many idle seconds (0: never)"
    )
    service.set_defaults(handler=_service)
