"""``berth pod create|start|stop|restart|kill|pause|unpause|rm|ps|inspect|top|stats|exists|prune``:
pods, whose containers share an infra container's namespaces (docs/pods.md). Handlers parse, call
``berth.engine.pods``, and format as podman does."""

from __future__ import annotations

import argparse

from berth.cli._format import HelpFormatter

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.engine.engine import Engine


def _pairs(texts: list[str]) -> dict[str, str]:
    return dict(text.partition("=")[::2] for text in texts)


def _create(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.engine.options import parse_entrypoint
    from berth.engine.pods.create import create_pod
    from berth.engine.pods.options import DEFAULT_SHARE, PodOptions

    share = [ns for text in args.share for ns in text.split(",") if ns] if args.share else list(DEFAULT_SHARE)
    opts = PodOptions(
        name=args.name,
        hostname=args.hostname,
        labels=_pairs(args.label),
        annotations=_pairs(args.annotation),
        publish=args.publish,
        network=args.network,
        share=share,
        infra=args.infra,
        infra_image=args.infra_image,
        infra_name=args.infra_name,
        infra_command=parse_entrypoint(args.infra_command) if args.infra_command else [],
        add_host=args.add_host,
        dns=args.dns,
        dns_search=args.dns_search,
        dns_option=args.dns_option,
        cpus=args.cpus,
        memory=args.memory,
        restart=args.restart,
    )
    with open_engine(args) as engine:
        print(create_pod(engine, opts).id)
    return 0


def _each_pod(args: argparse.Namespace, act: Callable[[Engine, str], object]) -> int:
    """Apply ``act`` to every named pod (or all with ``--all``), printing each pod's id as podman does."""
    from berth.cli.containers import open_engine

    with open_engine(args) as engine:
        refs = [p.id for p in engine.db.pods()] if getattr(args, "all", False) else args.pods
        for ref in refs:
            act(engine, ref)
            print(engine.db.pod(ref).id)
    return 0


def _start(args: argparse.Namespace) -> int:
    from berth.engine.pods.lifecycle import start_pod

    return _each_pod(args, start_pod)


def _stop(args: argparse.Namespace) -> int:
    from berth.engine.pods.lifecycle import stop_pod

    return _each_pod(args, lambda engine, ref: stop_pod(engine, ref, args.time))


def _restart(args: argparse.Namespace) -> int:
    from berth.engine.pods.lifecycle import restart_pod

    return _each_pod(args, restart_pod)


def _kill(args: argparse.Namespace) -> int:
    from berth.engine.pods.lifecycle import kill_pod

    return _each_pod(args, lambda engine, ref: kill_pod(engine, ref, args.signal))


def _pause(args: argparse.Namespace) -> int:
    from berth.engine.pods.lifecycle import pause_pod, unpause_pod

    return _each_pod(args, pause_pod if args.pod_command == "pause" else unpause_pod)


def _rm(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.engine.pods.remove import remove_pod

    with open_engine(args) as engine:
        for ref in [p.id for p in engine.db.pods()] if args.all else args.pods:
            print(remove_pod(engine, ref, force=args.force))
    return 0


def _prune(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.engine.pods.remove import prune_pods

    with open_engine(args) as engine:
        for pid in prune_pods(engine):
            print(pid)
    return 0


def _exists(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.errors import NotFound

    with open_engine(args) as engine:
        try:
            engine.db.pod(args.pod)
        except NotFound:
            return 1
    return 0


def _ps(args: argparse.Namespace) -> int:
    import time

    from berth.cli._format import print_json, print_table, short_id
    from berth.cli.containers import open_engine
    from berth.engine.containers.inspect import ago
    from berth.engine.pods.filters import matches, parse_filters
    from berth.engine.pods.inspect import ps_row
    from berth.engine.pods.status import pod_containers

    filters = parse_filters(args.filter)
    with open_engine(args) as engine:
        listed = [(pod, pod_containers(engine, pod)) for pod in engine.db.pods()]
    selected = [(pod, members) for pod, members in listed if matches(pod, members, filters)]
    rows = [ps_row(pod, members) for pod, members in selected]
    if args.quiet:
        for row in rows:
            print(row["Id"] if args.no_trunc else short_id(row["Id"]))
        return 0
    if args.format == "json":
        print_json(rows)
        return 0
    ctr_columns = [
        ("IDS", "Id", args.ctr_ids),
        ("NAMES", "Names", args.ctr_names),
        ("STATUS", "Status", args.ctr_status),
    ]
    shown = [(header, key) for header, key, wanted in ctr_columns if wanted]
    now = time.time()
    table = []
    for row, (pod, _members) in zip(rows, selected, strict=True):
        cells = [
            row["Id"] if args.no_trunc else short_id(row["Id"]),
            row["Name"],
            row["Status"],
            f"{ago(now - pod.created_at)} ago" if now - pod.created_at >= 1 else "Less than a second ago",
            short_id(row["InfraId"]),
        ]
        for _header, key in shown:
            values = [c[key] for c in row["Containers"]]
            cells.append(",".join(short_id(v) if key == "Id" and not args.no_trunc else v for v in values))
        table.append(cells if shown else [*cells, len(row["Containers"])])
    headers = ["POD ID", "NAME", "STATUS", "CREATED", "INFRA ID"]
    print_table([*headers, *([h for h, _k in shown] or ["# OF CONTAINERS"])], table)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json
    from berth.cli.containers import open_engine
    from berth.engine.pods.inspect import inspect_pod

    with open_engine(args) as engine:
        docs = [inspect_pod(engine, engine.db.pod(ref)) for ref in args.pods]
    print_json(docs[0] if len(docs) == 1 else docs)
    return 0


def _running_members(engine: Engine, ref: str) -> list[str]:
    from berth.engine.metadata import ACTIVE
    from berth.engine.pods.status import pod_containers
    from berth.errors import InvalidState

    pod = engine.db.pod(ref)
    running = [c.id for c in pod_containers(engine, pod) if c.state in ACTIVE]
    if not running:
        raise InvalidState(f"pod {pod.name} is not running")
    return running


def _top(args: argparse.Namespace) -> int:
    from berth.cli._format import print_table
    from berth.cli.containers import open_engine
    from berth.engine.containers.observe import top

    with open_engine(args) as engine:
        tables = [top(engine, cid) for cid in _running_members(engine, args.pod)]
    print_table(tables[0][0], [row for _headers, rows in tables for row in rows])
    return 0


def _stats(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json, print_table, short_id
    from berth.cli.containers import open_engine
    from berth.engine.containers.observe import stats
    from berth.engine.units import human_size

    with open_engine(args) as engine:
        refs = [p.id for p in engine.db.pods()] if args.all or not args.pods else args.pods
        results = [
            {"pod": engine.db.pod(ref).id, **stats(engine, cid)}
            for ref in refs
            for cid in _running_members(engine, ref)
        ]
    if args.format == "json":
        print_json(results)
        return 0
    rows = [
        [
            short_id(s["pod"]),
            short_id(s["id"]),
            s["name"],
            f"{s['cpu_percent']:.2f}%",
            f"{human_size(s['mem_usage'])} / {human_size(s['mem_limit']) if s['mem_limit'] else '--'}",
            s["pids"],
        ]
        for s in results
    ]
    print_table(["POD", "CID", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS"], rows)
    return 0


def _create_parser(psub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from berth.cli._format import parse_bool

    create = psub.add_parser("create", help="create a pod", formatter_class=HelpFormatter)
    create.add_argument("--name", default="", help="pod name")
    create.add_argument("-p", "--publish", action="append", default=[], help="[IP:]HOSTPORT:CONTAINERPORT")
    create.add_argument("--network", "--net", default="", help="none, host, bridge or a network name")
    create.add_argument("--share", action="append", default=[], help="namespaces to share: net,ipc,uts,pid")
    create.add_argument(
        "--infra", type=parse_bool, default=True, help="make an infra container (default: true)"
    )
    create.add_argument("--infra-image", default="", help="the infra container's image")
    create.add_argument("--infra-name", default="", help="the infra container's name")
    create.add_argument("--infra-command", default="", help="the infra's command: one word or a JSON array")
    create.add_argument("-l", "--label", action="append", default=[], help="KEY=VALUE")
    create.add_argument("--annotation", action="append", default=[], help="KEY=VALUE")
    create.add_argument("--hostname", default="", help="the pod's host name (default: its name)")
    create.add_argument("--add-host", action="append", default=[], help="HOST:IP in /etc/hosts")
    create.add_argument("--dns", action="append", default=[], help="a DNS server")
    create.add_argument("--dns-search", action="append", default=[], help="a DNS search domain")
    create.add_argument("--dns-option", action="append", default=[], help="a resolv.conf option")
    create.add_argument("--cpus", default="", help="CPUs for the whole pod")
    create.add_argument("-m", "--memory", default="", help="memory limit for the whole pod (e.g. 64m)")
    create.add_argument("--restart", default="", help="the default restart policy of its containers")
    create.set_defaults(handler=_create)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``berth pod``."""
    pod = sub.add_parser("pod", help="manage pods", formatter_class=HelpFormatter)
    psub = pod.add_subparsers(dest="pod_command", metavar="COMMAND", required=True)
    _create_parser(psub)
    for verb, handler in (("start", _start), ("restart", _restart), ("pause", _pause), ("unpause", _pause)):
        p = psub.add_parser(verb, help=f"{verb} pods", formatter_class=HelpFormatter)
        p.add_argument("-a", "--all", action="store_true", help="every pod")
        p.add_argument("pods", nargs="*")
        p.set_defaults(handler=handler)
    stop = psub.add_parser("stop", help="stop pods", formatter_class=HelpFormatter)
    stop.add_argument("-t", "--time", type=int, default=None, help="seconds to wait before SIGKILL")
    stop.add_argument("-a", "--all", action="store_true", help="every pod")
    stop.add_argument("pods", nargs="*")
    stop.set_defaults(handler=_stop)
    kill = psub.add_parser("kill", help="signal pods' containers", formatter_class=HelpFormatter)
    kill.add_argument("-s", "--signal", default="KILL")
    kill.add_argument("-a", "--all", action="store_true", help="every pod")
    kill.add_argument("pods", nargs="*")
    kill.set_defaults(handler=_kill)
    rm = psub.add_parser("rm", help="remove pods and their containers", formatter_class=HelpFormatter)
    rm.add_argument("-f", "--force", action="store_true", help="stop running containers first")
    rm.add_argument("-a", "--all", action="store_true", help="every pod")
    rm.add_argument("pods", nargs="*")
    rm.set_defaults(handler=_rm)
    prune = psub.add_parser(
        "prune", help="remove pods with no running container", formatter_class=HelpFormatter
    )
    prune.add_argument("-f", "--force", action="store_true", help="accepted for podman compatibility")
    prune.set_defaults(handler=_prune)
    ps = psub.add_parser("ps", aliases=["ls", "list"], help="list pods", formatter_class=HelpFormatter)
    ps.add_argument("-q", "--quiet", action="store_true", help="ids only")
    ps.add_argument("--no-trunc", action="store_true", help="full ids")
    ps.add_argument("--format", default="", choices=["", "json", "table"])
    ps.add_argument("--ctr-ids", action="store_true", help="the containers' ids")
    ps.add_argument("--ctr-names", action="store_true", help="the containers' names")
    ps.add_argument("--ctr-status", action="store_true", help="the containers' states")
    ps.add_argument(
        "-f", "--filter", action="append", default=[], help="id=, name=, label=, status=, network="
    )
    ps.set_defaults(handler=_ps)
    inspect = psub.add_parser("inspect", help="show pods' details as JSON", formatter_class=HelpFormatter)
    inspect.add_argument("pods", nargs="+")
    inspect.set_defaults(handler=_inspect)
    top = psub.add_parser("top", help="the processes of a pod's containers", formatter_class=HelpFormatter)
    top.add_argument("pod")
    top.set_defaults(handler=_top)
    stats = psub.add_parser("stats", help="pods' resource use", formatter_class=HelpFormatter)
    stats.add_argument("-a", "--all", action="store_true", help="every pod")
    stats.add_argument("--no-stream", action="store_true", help="accepted for podman compatibility")
    stats.add_argument("--format", default="", choices=["", "json", "table"])
    stats.add_argument("pods", nargs="*")
    stats.set_defaults(handler=_stats)
    exists = psub.add_parser(
        "exists", help="exit 0 if the pod exists, 1 if not", formatter_class=HelpFormatter
    )
    exists.add_argument("pod")
    exists.set_defaults(handler=_exists)
