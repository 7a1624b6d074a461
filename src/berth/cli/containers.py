"""Container commands: run, create, start, attach, stop, kill, restart, rm, wait, ps, inspect, logs,
exec, top, stats, cp. Handlers parse, call ``berth.engine``, and format."""

from __future__ import annotations

import argparse

from berth.cli._format import HelpFormatter, parse_bool, render_template

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.engine.engine import Engine
    from berth.engine.metadata import ContainerRecord
    from berth.engine.options import CreateOptions


def open_engine(args: argparse.Namespace) -> Engine:
    """The engine for this command's ``--root``/``--runroot`` (and ``--runtime`` where given)."""
    from berth.engine.config import load_config
    from berth.engine.engine import Engine

    return Engine(load_config(args.root, args.runroot, getattr(args, "runtime", None) or None))


def _label(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    return key, value


def _create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="", help="container name")
    p.add_argument(
        "--rootfs", action="store_true", help="the first argument is a root directory, not an image"
    )
    p.add_argument("-e", "--env", action="append", default=[], help="set an environment variable")
    p.add_argument("--env-file", action="append", default=[], help="read environment variables from a file")
    p.add_argument("-v", "--volume", action="append", default=[], help="bind mount or named volume")
    p.add_argument("--tmpfs", action="append", default=[], help="mount a tmpfs at DEST[:OPTIONS]")
    p.add_argument("-w", "--workdir", default="", help="working directory inside the container")
    p.add_argument("-u", "--user", default="", help="user[:group] to run as")
    p.add_argument("--entrypoint", default=None, help="override the image's entrypoint")
    p.add_argument("-h", "--hostname", default="", help="container host name")
    p.add_argument("--read-only", action="store_true", help="mount the root filesystem read-only")
    p.add_argument("--cap-add", action="append", default=[], help="add a capability")
    p.add_argument("--cap-drop", action="append", default=[], help="drop a capability")
    p.add_argument("--privileged", action="store_true", help="all capabilities, no seccomp, all devices")
    p.add_argument(
        "--security-opt", action="append", default=[], help="seccomp=PROFILE|unconfined, no-new-privileges"
    )
    p.add_argument("-m", "--memory", default="", help="memory limit (e.g. 64m)")
    p.add_argument("--cpus", default="", help="number of CPUs")
    p.add_argument("--pids-limit", default="0", help="maximum number of processes (-1: unlimited)")
    p.add_argument("--network", "--net", default="", help="none, host, bridge or a network name")
    p.add_argument("--ip", default="", help="the container's IPv4 address on its network")
    p.add_argument("--ip6", default="", help="the container's IPv6 address on its network")
    p.add_argument("--mac-address", default="", help="the MAC address of its interface there")
    p.add_argument(
        "-p", "--publish", action="append", default=[], help="[HOSTIP:]HOSTPORT:CONTAINERPORT[/PROTO]"
    )
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--runtime", default="", help="OCI runtime: berth-runtime, runc, crun or a path")
    p.add_argument("--stop-signal", default="", help="signal that stops the container")
    p.add_argument("--stop-timeout", default="10", help="seconds to wait before SIGKILL on stop")
    p.add_argument("--restart", default="no", help="no, always, unless-stopped or on-failure[:N]")
    p.add_argument("--log-driver", default="k8s-file", help="k8s-file, json-file (the same) or none")
    p.add_argument("--log-opt", action="append", default=[], help="max-size=SIZE: the log's size limit")
    p.add_argument("--health-cmd", default="", help="health check: a shell command, or a JSON array")
    p.add_argument("--health-interval", default="", help="time between checks (default 30s; disable: none)")
    p.add_argument("--health-timeout", default="", help="how long one check may take (default 30s)")
    p.add_argument("--health-retries", default="", help="failures in a row that make it unhealthy (3)")
    p.add_argument("--health-start-period", default="", help="failures not counted at first (0s)")
    p.add_argument("--no-healthcheck", action="store_true", help="no health check")
    p.add_argument("-l", "--label", action="append", default=[], type=_label, help="KEY=VALUE")
    p.add_argument("--pod", default="", help="join pod NAME (new:NAME makes it first)")
    p.add_argument(
        "--init-ctr", default="", choices=["", "always", "once"], help="an init container of its pod"
    )
    p.add_argument("--annotation", action="append", default=[], type=_label, help="KEY=VALUE")
    p.add_argument(
        "--pull", default="missing", choices=["missing", "always", "never"], help="when to pull the image"
    )
    p.add_argument(
        "--tls-verify", type=parse_bool, nargs="?", const=True, default=None, metavar="BOOL",
        help="pulling: require HTTPS with verified certificates (false: allow HTTP)",
    )  # fmt: skip
    p.add_argument("image", help="image reference (or root directory with --rootfs)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command and arguments")


def _integer(text: str, flag: str) -> int:
    """An integer flag value; checked here (not by argparse) so bad input exits 125 like podman."""
    from berth.errors import InvalidArgument

    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"invalid {flag} {text!r}: want an integer") from None


def _options(args: argparse.Namespace) -> CreateOptions:
    from berth.engine.options import CreateOptions, parse_entrypoint, parse_health_cmd, parse_log_opts

    return CreateOptions(
        image="" if args.rootfs else args.image,
        rootfs=args.image if args.rootfs else "",
        command=list(args.command),
        name=args.name,
        entrypoint=None if args.entrypoint is None else parse_entrypoint(args.entrypoint),
        env=args.env,
        env_files=args.env_file,
        volumes=args.volume,
        tmpfs=args.tmpfs,
        workdir=args.workdir,
        user=args.user,
        hostname=args.hostname,
        read_only=args.read_only,
        cap_add=args.cap_add,
        cap_drop=args.cap_drop,
        privileged=args.privileged,
        security_opt=args.security_opt,
        memory=args.memory,
        cpus=args.cpus,
        pids_limit=_integer(args.pids_limit, "--pids-limit"),
        network=args.network,
        ip=args.ip,
        ip6=args.ip6,
        mac_address=args.mac_address,
        publish=args.publish,
        interactive=args.interactive,
        tty=args.tty,
        remove=args.rm,
        runtime=args.runtime,
        stop_signal=args.stop_signal,
        stop_timeout=_integer(args.stop_timeout, "--stop-timeout"),
        restart=args.restart,
        log_driver=args.log_driver,
        log_size_max=parse_log_opts(args.log_opt),
        health_test=parse_health_cmd(args.health_cmd),
        health_interval=_health_time(args.health_interval, "--health-interval"),
        health_timeout=_health_time(args.health_timeout, "--health-timeout"),
        health_retries=_integer(args.health_retries, "--health-retries") if args.health_retries else None,
        health_start_period=_health_time(args.health_start_period, "--health-start-period"),
        no_healthcheck=args.no_healthcheck,
        labels=dict(args.label),
        annotations=dict(args.annotation),
        pod=args.pod,
        init_ctr=args.init_ctr,
        pull=args.pull,
        tls_verify=args.tls_verify,
    )


def _health_time(text: str, flag: str) -> float | None:
    """A ``--health-*`` duration in seconds; None when not given (``disable`` is 0: no timer)."""
    from berth.engine.units import parse_duration

    if not text:
        return None
    return 0.0 if text == "disable" else parse_duration(text, flag)


def _create_container(engine: Engine, opts: CreateOptions) -> Any:
    """``create_container``, or with ``--pod new:NAME`` the pod first (podman's form)."""
    if opts.pod.startswith("new:"):
        from berth.engine.pods.create import create_in_new_pod

        return create_in_new_pod(engine, opts, opts.pod.removeprefix("new:"))
    from berth.engine.containers.create import create_container

    return create_container(engine, opts)


def _create(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        print(_create_container(engine, _options(args)).id)
    return 0


def _run(args: argparse.Namespace) -> int:
    import contextlib
    import signal

    from berth.engine.containers.attach import relay
    from berth.engine.containers.start import start_container
    from berth.errors import BerthError

    opts = _options(args)
    with open_engine(args) as engine:
        record = _create_container(engine, opts)
        try:
            sock = start_container(engine, record.id, attach=not args.detach)
        except BaseException:
            from berth.engine.containers.remove import remove_container

            with contextlib.suppress(BerthError):
                # the container never ran: it goes, with the anonymous volumes made for it
                remove_container(engine, record.id, force=True, volumes=True)
            raise
        if sock is None:
            print(record.id)
            return 0
        runtime = engine.runtime(record.runtime)
        # Closed while the container runs: closing checkpoints the database's log, which would
        # otherwise delay the exit code (reopened below if the monitor cannot tell it).
        engine.close()

        def proxy(signum: int, _frame: Any) -> None:
            # podman's --sig-proxy: signals to the command go to the container.
            with contextlib.suppress(BerthError):
                runtime.kill(record.id, str(signum))

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, proxy)
        with sock:
            code = relay(sock, opts.interactive, opts.tty)
        if code is None:  # the monitor ended without telling the exit (killed): its record does
            from berth.engine.containers.stop import wait_container

            code = wait_container(engine, record.id)
        return code


def _start(args: argparse.Namespace) -> int:
    from berth.engine.containers.attach import relay
    from berth.engine.containers.start import start_container
    from berth.engine.options import CreateOptions

    with open_engine(args) as engine:
        code = 0
        for ref in args.containers:
            sock = start_container(engine, ref, attach=args.attach)
            if sock is None:
                print(ref)
                continue
            opts = CreateOptions.from_json(engine.db.container(ref).config["options"])
            with sock:
                code = relay(sock, args.interactive, opts.tty) or 0
        return code


def _attach(args: argparse.Namespace) -> int:
    from berth.engine.containers.attach import attach_container, relay

    with open_engine(args) as engine:
        sock, opts = attach_container(engine, args.container)
    with sock:
        # podman attach: stdin goes to the container if it keeps it open (run -i), its exit code is ours.
        return relay(sock, opts.interactive and not args.no_stdin, opts.tty) or 0


def _each_container(args: argparse.Namespace, act: Callable[[Engine, str], object]) -> int:
    """Apply ``act`` to every named container in turn, printing each name as podman does."""
    with open_engine(args) as engine:
        for ref in args.containers:
            act(engine, ref)
            print(ref)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from berth.engine.containers.stop import stop_container

    return _each_container(args, lambda engine, ref: stop_container(engine, ref, args.time))


def _kill(args: argparse.Namespace) -> int:
    from berth.engine.containers.stop import kill_container

    return _each_container(args, lambda engine, ref: kill_container(engine, ref, args.signal))


def _update(args: argparse.Namespace) -> int:
    from berth.engine.containers.update import update_container

    pids = _integer(args.pids_limit, "--pids-limit") if args.pids_limit else 0
    shares = _integer(args.cpu_shares, "--cpu-shares") if args.cpu_shares else 0
    return _each_container(
        args,
        lambda engine, ref: update_container(
            engine,
            ref,
            memory=args.memory,
            cpus=args.cpus,
            pids_limit=pids,
            cpu_shares=shares,
            cpuset_cpus=args.cpuset_cpus,
            cpuset_mems=args.cpuset_mems,
        ),
    )


def _pause(args: argparse.Namespace) -> int:
    from berth.engine.containers.pause import pause_container, unpause_container

    return _each_container(args, pause_container if args.command == "pause" else unpause_container)


def _restart(args: argparse.Namespace) -> int:
    from berth.engine.containers.stop import restart_container

    return _each_container(args, lambda engine, ref: restart_container(engine, ref, args.time))


def _rm(args: argparse.Namespace) -> int:
    from berth.engine.containers.remove import remove_container

    with open_engine(args) as engine:
        refs = [c.id for c in engine.db.containers()] if args.all else args.containers
        for ref in refs:
            record = remove_container(engine, ref, force=args.force, volumes=args.volumes)
            print(record.id)
    return 0


def _wait(args: argparse.Namespace) -> int:
    from berth.engine.containers.stop import wait_container

    with open_engine(args) as engine:
        for ref in args.containers:
            print(wait_container(engine, ref))
    return 0


def _listed_containers(engine: Engine, external: bool) -> list[ContainerRecord]:
    """The containers ``ps`` lists: a build's RUN containers only with ``external`` (podman lists
    buildah's so), and none whose build died (they are removed first)."""
    from berth.engine.containers.owned import owner_of, sweep_dead_owners
    from berth.engine.images.store import owner_lives

    records = engine.db.containers()
    owners = {r.id: owner for r in records if (owner := owner_of(r)) is not None}
    if any(not owner_lives(owner) for owner in owners.values()):
        swept = set(sweep_dead_owners(engine))
        records = [r for r in records if r.id not in swept]
    return [r for r in records if external or r.id not in owners]


def _ps(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json, print_table, short_id
    from berth.engine.containers.filters import matches, parse_filters, selects_stopped
    from berth.engine.containers.health import read_health
    from berth.engine.containers.inspect import ps_row
    from berth.engine.containers.state import refresh
    from berth.engine.metadata import RUNNING
    from berth.engine.options import CreateOptions

    filters = parse_filters(args.filter)
    with open_engine(args) as engine:
        records = _listed_containers(engine, args.external)
        records = [refresh(engine, r) for r in records]
        health = {r.id: state["Status"] for r in records if (state := read_health(engine, r)) is not None}
        pods = {p.id: p.name for p in engine.db.pods()} if any(r.pod for r in records) else {}
    if not args.all and not selects_stopped(filters):
        records = [r for r in records if r.state == RUNNING]
    if filters:
        records = [
            r
            for r in records
            if matches(r, CreateOptions.from_json(r.config["options"]).labels, filters, pods.get(r.pod, ""))
        ]
    if args.quiet:
        for r in records:
            print(r.id if args.no_trunc else short_id(r.id))
        return 0
    rows = [ps_row(r, health.get(r.id), pods.get(r.pod, "")) for r in records]
    if args.format == "json":
        print_json(rows)
        return 0
    table = []
    for row in rows:
        ports = ", ".join(
            f"{p['host_ip'] or '0.0.0.0'}:{p['host_port']}->{p['container_port']}/{p['protocol']}"
            for p in row["Ports"]
        )
        command = " ".join(row["Command"])
        table.append(
            [
                row["Id"] if args.no_trunc else short_id(row["Id"]),
                row["Image"],
                command if args.no_trunc or len(command) <= 20 else command[:17] + "...",
                row["CreatedAt"][:19].replace("T", " "),
                row["Status"],
                ports,
                row["Names"][0],
                *([short_id(row["Pod"]), row["PodName"]] if args.pod else []),
            ]
        )
    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    print_table([*headers, *(["POD ID", "PODNAME"] if args.pod else [])], table)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json
    from berth.engine.containers.health import read_health
    from berth.engine.containers.inspect import inspect_container
    from berth.engine.containers.state import refresh

    with open_engine(args) as engine:
        records = [refresh(engine, engine.db.container(ref)) for ref in args.containers]
        docs = [inspect_container(r, read_health(engine, r)) for r in records]
    if args.format:
        for doc in docs:
            print(render_template(args.format, doc))
    else:
        print_json(docs)
    return 0


def _logs(args: argparse.Namespace) -> int:
    import contextlib
    import os
    import sys
    import time

    from berth.engine.containers.logs import parse_log_time
    from berth.engine.containers.observe import TimeWindow, log_output

    now = time.time_ns()
    window = TimeWindow(
        parse_log_time(args.since, now) if args.since else None,
        parse_log_time(args.until, now) if args.until else None,
    )
    # A reader that went away (``| head``) ends the command quietly.
    with open_engine(args) as engine, contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
        for fd, data in log_output(
            engine, args.container, follow=args.follow, tail_lines=args.tail, timestamps=args.timestamps,
            window=window,
        ):  # fmt: skip
            os.write(fd, data)
    return 0


def _exec(args: argparse.Namespace) -> int:
    from berth.engine.containers.execute import exec_in_container

    with open_engine(args) as engine:
        return exec_in_container(
            engine,
            args.container,
            args.command,
            interactive=args.interactive,
            tty=args.tty,
            env=args.env,
            user=args.user,
            workdir=args.workdir,
            detach=args.detach,
        )


def _top(args: argparse.Namespace) -> int:
    from berth.cli._format import print_table
    from berth.engine.containers.observe import top

    with open_engine(args) as engine:
        headers, rows = top(engine, args.container)
    print_table(headers, rows)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json, print_table, short_id
    from berth.engine.containers.observe import stats
    from berth.engine.units import human_size

    with open_engine(args) as engine:
        results = [stats(engine, ref) for ref in args.containers]
    if args.format == "json":
        print_json(results)
        return 0
    rows = [
        [
            short_id(s["id"]),
            s["name"],
            f"{s['cpu_percent']:.2f}%",
            f"{human_size(s['mem_usage'])} / {human_size(s['mem_limit'])}"
            if s["mem_limit"]
            else human_size(s["mem_usage"]),
            s["pids"],
        ]
        for s in results
    ]
    print_table(["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS"], rows)
    return 0


def _cp(args: argparse.Namespace) -> int:
    from berth.engine.containers.copy import copy

    with open_engine(args) as engine:
        copy(engine, args.source, args.destination)
    return 0


def _rename(args: argparse.Namespace) -> int:
    from berth.engine.containers.rename import rename_container

    with open_engine(args) as engine:
        rename_container(engine, args.container, args.name)
    return 0


def _port(args: argparse.Namespace) -> int:
    from berth.engine.options import CreateOptions, parse_publish

    with open_engine(args) as engine:
        record = engine.db.container(args.container)
    wanted = None
    if args.port:
        number, _, protocol = args.port.partition("/")
        wanted = (number, protocol or "tcp")
    for mapping in (parse_publish(p) for p in CreateOptions.from_json(record.config["options"]).publish):
        if wanted and (str(mapping.container_port), mapping.protocol) != wanted:
            continue
        # podman port: "80/tcp -> 0.0.0.0:8080" (just the host side when asked for one port)
        host = f"{mapping.host_ip or '0.0.0.0'}:{mapping.host_port}"
        print(host if wanted else f"{mapping.container_port}/{mapping.protocol} -> {host}")
    return 0


def _healthcheck(args: argparse.Namespace) -> int:
    from berth.engine.containers.health import run_health_check

    with open_engine(args) as engine:
        healthy = run_health_check(engine, args.container)
    if not healthy:
        print("unhealthy")  # podman healthcheck run: exit 1 and this word
    return 0 if healthy else 1


def _export(args: argparse.Namespace) -> int:
    import sys

    from berth.engine.containers.filesystem import export_container
    from berth.errors import InvalidArgument

    if not args.output:
        if sys.stdout.isatty():
            raise InvalidArgument(
                "refusing to write a tar to a terminal: give -o FILE or redirect the output"
            )
        with open_engine(args) as engine:
            sys.stdout.flush()
            export_container(engine, args.container, sys.stdout.buffer)
        return 0
    from berth.fsutil import AtomicFile

    # A failure (an unknown container, a full disk) leaves no half tar behind.
    with open_engine(args) as engine, AtomicFile(args.output, 0o666) as out:
        export_container(engine, args.container, out)
    return 0


def _diff(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json
    from berth.engine.containers.filesystem import container_changes

    with open_engine(args) as engine:
        changes = container_changes(engine, args.container)
    if args.format == "json":
        print_json({kind: [p for k, p in changes if k == kind] for kind in ("A", "C", "D")})
    else:
        for kind, path in changes:
            print(kind, path)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the container commands to ``berth``."""
    run = sub.add_parser(
        "run", help="create and start a container", add_help=False, formatter_class=HelpFormatter
    )
    run.add_argument("--help", action="help")
    run.add_argument("-d", "--detach", action="store_true", help="run in the background, print the id")
    _create_flags(run)
    run.set_defaults(handler=_run)
    create = sub.add_parser(
        "create", help="create a container without starting it", add_help=False, formatter_class=HelpFormatter
    )
    create.add_argument("--help", action="help")
    _create_flags(create)
    create.set_defaults(handler=_create)

    start = sub.add_parser("start", help="start containers", formatter_class=HelpFormatter)
    start.add_argument("-a", "--attach", action="store_true", help="attach to the container's output")
    start.add_argument("-i", "--interactive", action="store_true", help="forward stdin")
    start.add_argument("containers", nargs="+")
    start.set_defaults(handler=_start)
    attach = sub.add_parser("attach", help="attach to a running container", formatter_class=HelpFormatter)
    attach.add_argument("--no-stdin", action="store_true", help="do not forward stdin")
    attach.add_argument("container")
    attach.set_defaults(handler=_attach)
    for verb, handler, text in (
        ("stop", _stop, "stop containers"),
        ("restart", _restart, "restart containers"),
    ):
        p = sub.add_parser(verb, help=text, formatter_class=HelpFormatter)
        p.add_argument("-t", "--time", type=float, default=None, help="seconds to wait before SIGKILL")
        p.add_argument("containers", nargs="+")
        p.set_defaults(handler=handler)
    kill = sub.add_parser("kill", help="send a signal to containers", formatter_class=HelpFormatter)
    kill.add_argument("-s", "--signal", default="KILL")
    kill.add_argument("containers", nargs="+")
    kill.set_defaults(handler=_kill)
    update = sub.add_parser("update", help="change running containers' limits", formatter_class=HelpFormatter)
    update.add_argument("-m", "--memory", default="", help="memory limit (e.g. 64m)")
    update.add_argument("--cpus", default="", help="number of CPUs")
    update.add_argument("--pids-limit", default="", help="maximum number of processes")
    update.add_argument("--cpu-shares", default="", help="CPU weight, relative to others (default 1024)")
    update.add_argument("--cpuset-cpus", default="", help="CPUs the container may use (0-2,4)")
    update.add_argument("--cpuset-mems", default="", help="memory nodes the container may use (0-1)")
    update.add_argument("containers", nargs="+")
    update.set_defaults(handler=_update)
    for verb, text in (("pause", "freeze containers' processes"), ("unpause", "thaw paused containers")):
        p = sub.add_parser(verb, help=text, formatter_class=HelpFormatter)
        p.add_argument("containers", nargs="+")
        p.set_defaults(handler=_pause)
    rm = sub.add_parser("rm", help="remove containers", formatter_class=HelpFormatter)
    rm.add_argument("-f", "--force", action="store_true", help="kill running containers first")
    rm.add_argument("-a", "--all", action="store_true", help="remove every container")
    rm.add_argument(
        "-v", "--volumes", action="store_true", help="also remove the containers' anonymous volumes"
    )
    rm.add_argument("containers", nargs="*")
    rm.set_defaults(handler=_rm)
    wait = sub.add_parser(
        "wait", help="wait for containers to exit, print their exit codes", formatter_class=HelpFormatter
    )
    wait.add_argument("containers", nargs="+")
    wait.set_defaults(handler=_wait)
    healthcheck = sub.add_parser(
        "healthcheck", help="run containers' health checks", formatter_class=HelpFormatter
    )
    healthcheck_verbs = healthcheck.add_subparsers(dest="verb", metavar="VERB", required=True)
    check_run = healthcheck_verbs.add_parser("run", help="run a container's health check once")
    check_run.add_argument("container")
    check_run.set_defaults(handler=_healthcheck)
    rename = sub.add_parser("rename", help="rename a container", formatter_class=HelpFormatter)
    rename.add_argument("container")
    rename.add_argument("name")
    rename.set_defaults(handler=_rename)
    port = sub.add_parser("port", help="list a container's published ports", formatter_class=HelpFormatter)
    port.add_argument("container")
    port.add_argument("port", nargs="?", help="PORT[/PROTOCOL]: only this container port's host side")
    port.set_defaults(handler=_port)
    export = sub.add_parser(
        "export", help="write a container's root filesystem as a tar", formatter_class=HelpFormatter
    )
    export.add_argument("-o", "--output", default="", help="file (default: standard output)")
    export.add_argument("container")
    export.set_defaults(handler=_export)
    diff = sub.add_parser(
        "diff", help="list the files a container added, changed or deleted", formatter_class=HelpFormatter
    )
    diff.add_argument("--format", default="", choices=["", "json"])
    diff.add_argument("container")
    diff.set_defaults(handler=_diff)
    ps = sub.add_parser("ps", help="list containers", formatter_class=HelpFormatter)
    ps.add_argument("-a", "--all", action="store_true", help="include containers that are not running")
    ps.add_argument("-q", "--quiet", action="store_true", help="ids only")
    ps.add_argument("--external", action="store_true", help="also the containers of running builds")
    ps.add_argument("--no-trunc", action="store_true", help="full ids and commands")
    ps.add_argument("--format", default="", choices=["", "json", "table"])
    ps.add_argument("-p", "--pod", action="store_true", help="show each container's pod")
    ps.add_argument(
        "-f", "--filter", action="append", default=[],
        help="id=, name=REGEX, label=KEY[=VALUE], status=, exited=CODE, ancestor=IMAGE, network=, pod=",
    )  # fmt: skip
    ps.set_defaults(handler=_ps)
    inspect = sub.add_parser(
        "inspect", help="show containers' details as JSON", formatter_class=HelpFormatter
    )
    inspect.add_argument(
        "-f", "--format", default="", help="Go-template field path, e.g. {{.State.OOMKilled}}"
    )
    inspect.add_argument("containers", nargs="+")
    inspect.set_defaults(handler=_inspect)
    logs = sub.add_parser("logs", help="show a container's output", formatter_class=HelpFormatter)
    logs.add_argument("-f", "--follow", action="store_true", help="keep following until the container exits")
    logs.add_argument("--tail", type=int, default=None, help="only the last N lines")
    logs.add_argument("-t", "--timestamps", action="store_true", help="prefix each line with its time")
    logs.add_argument(
        "--since", default="", help="only output after TIME (RFC 3339, Unix seconds, or 10m ago)"
    )
    logs.add_argument("--until", default="", help="only output before TIME (same forms as --since)")
    logs.add_argument("container")
    logs.set_defaults(handler=_logs)
    exe = sub.add_parser("exec", help="run a command in a running container", formatter_class=HelpFormatter)
    exe.add_argument("-i", "--interactive", action="store_true")
    exe.add_argument("-t", "--tty", action="store_true")
    exe.add_argument("-d", "--detach", action="store_true")
    exe.add_argument("-e", "--env", action="append", default=[])
    exe.add_argument("-u", "--user", default="")
    exe.add_argument("-w", "--workdir", default="")
    exe.add_argument("container")
    exe.add_argument("command", nargs=argparse.REMAINDER)
    exe.set_defaults(handler=_exec)
    top = sub.add_parser("top", help="list a container's processes", formatter_class=HelpFormatter)
    top.add_argument("container")
    top.set_defaults(handler=_top)
    stats = sub.add_parser(
        "stats", help="resource usage of containers (one sample)", formatter_class=HelpFormatter
    )
    stats.add_argument("--no-stream", action="store_true", help="accepted for podman compatibility")
    stats.add_argument("--format", default="", choices=["", "json", "table"])
    stats.add_argument("containers", nargs="+")
    stats.set_defaults(handler=_stats)
    cp = sub.add_parser(
        "cp",
        help="copy files between a container and the host (CONTAINER:PATH)",
        formatter_class=HelpFormatter,
    )
    cp.add_argument("source")
    cp.add_argument("destination")
    cp.set_defaults(handler=_cp)
