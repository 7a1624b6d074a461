"""The commands of ``berth-runtime``: runc's command line (podman, conmon and containerd's shim call it).

A small hand-written parser rather than argparse, because this module is on every container start:
it takes Go-style flags (``--flag value``, ``--flag=value``, ``-flag``) before the positional
arguments, as runc's urfave/cli does. Each command's module is imported only when it runs.
"""

from __future__ import annotations

import os
import sys

from berth.errors import BerthError, InvalidArgument, Unsupported

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from berth.runtime.container import Container, Lock
    from berth.runtime.verbs.create import CreateOptions

DEFAULT_ROOT = "/run/berth-runtime"

#: ``--rootless``, resolved by ``main``: true, false, or (``auto``, the default) whether the caller is
#: unprivileged. A rootless ``create`` goes without a cgroup it may not make.
_rootless = False

USAGE = """usage: berth-runtime [global flags] COMMAND [flags] ARGS

global flags: --root DIR, --log FILE, --log-format text|json, --debug, --systemd-cgroup, --rootless
commands: create, start, run, state, kill, delete, list, ps, exec, pause, resume, events, update,
          spec, features, checkpoint, restore
"""

# flag kinds: "bool", "str", "multi" (repeatable), "int"
GLOBAL_FLAGS = {"root": "str", "log": "str", "log-format": "str", "debug": "bool", "systemd-cgroup": "bool",
           "rootless": "str", "criu": "str", "help": "bool", "version": "bool"}  # fmt: skip
_CREATE = {"bundle": "str", "console-socket": "str", "pid-file": "str", "no-pivot": "bool",
           "no-new-keyring": "bool", "preserve-fds": "int"}  # fmt: skip
COMMAND_FLAGS: dict[str, dict[str, str]] = {
    "create": _CREATE,
    "run": _CREATE | {"detach": "bool", "keep": "bool"},
    "start": {},
    "state": {},
    "kill": {"all": "bool"},
    "delete": {"force": "bool"},
    "list": {"format": "str", "quiet": "bool"},
    "ps": {"format": "str"},
    "spec": {"bundle": "str", "rootless": "bool"},
    "exec": {"console-socket": "str", "cwd": "str", "env": "multi", "tty": "bool", "user": "str",
             "additional-gids": "multi", "process": "str", "detach": "bool", "pid-file": "str",
             "process-label": "str", "apparmor": "str", "no-new-privs": "bool", "cap": "multi",
             "preserve-fds": "int", "ignore-paused": "bool", "cgroup": "multi"},
    "pause": {},
    "resume": {},
    "events": {"stats": "bool", "interval": "str"},
    "update": {"resources": "str", "memory": "str", "memory-reservation": "str", "memory-swap": "str",
               "kernel-memory": "str", "kernel-memory-tcp": "str", "cpu-shares": "str", "cpu-quota": "str",
               "cpu-period": "str", "cpu-rt-runtime": "str", "cpu-rt-period": "str", "cpuset-cpus": "str",
               "cpuset-mems": "str", "blkio-weight": "str", "pids-limit": "str", "l3-cache-schema": "str",
               "mem-bw-schema": "str"},
    "features": {},
    "checkpoint": {},
    "restore": {},
}  # fmt: skip
_SHORT = {"b": "bundle", "d": "detach", "a": "all", "f": "force", "q": "quiet", "e": "env", "t": "tty",
          "u": "user", "g": "additional-gids", "p": "process", "c": "cap", "r": "resources", "h": "help",
          "v": "version"}  # fmt: skip


class Parsed:
    """Flags (by long name) and positional arguments of one command line level."""

    def __init__(self, flags: dict[str, object] | None = None, args: list[str] | None = None) -> None:
        self.flags = flags or {}
        self.args = args or []

    def text(self, name: str, default: str = "") -> str:
        value = self.flags.get(name, default)
        return value if isinstance(value, str) else default

    def flag(self, name: str) -> bool:
        return bool(self.flags.get(name, False))

    def number(self, name: str) -> int:
        value = self.flags.get(name, 0)
        return value if isinstance(value, int) else 0

    def multi(self, name: str) -> list[str]:
        value = self.flags.get(name, [])
        return value if isinstance(value, list) else []


def parse(argv: Sequence[str], spec: dict[str, str], stop_at_positional: bool = True) -> Parsed:
    """Parse Go-style flags of ``spec`` from ``argv`` up to the first positional argument."""
    out = Parsed()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.args.extend(argv[i + 1 :])
            break
        if not arg.startswith("-") or arg == "-":
            if stop_at_positional:
                out.args.extend(argv[i:])
                break
            out.args.append(arg)
            i += 1
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        name = _SHORT.get(name, name)
        kind = spec.get(name)
        if kind is None:
            raise InvalidArgument(f"flag provided but not defined: {arg.partition('=')[0]}")
        if kind == "bool":
            out.flags[name] = value.lower() not in ("false", "0") if eq else True
        else:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise InvalidArgument(f"flag needs an argument: {arg}")
                value = argv[i]
            if kind == "int":
                if not value.isdigit():
                    raise InvalidArgument(f"invalid value {value!r} for flag {arg}")
                out.flags[name] = int(value)
            elif kind == "multi":
                existing = out.flags.setdefault(name, [])
                assert isinstance(existing, list)
                existing.append(value)
            else:
                out.flags[name] = value
        i += 1
    return out


def _one_id(p: Parsed, command: str) -> str:
    if len(p.args) != 1:
        raise InvalidArgument(f"{command}: expected exactly one container id")
    return p.args[0]


def _create_options(p: Parsed, root: str, command: str) -> CreateOptions:
    from berth.runtime.verbs.create import CreateOptions

    return CreateOptions(
        container_id=_one_id(p, command),
        bundle=p.text("bundle", "."),
        root=root,
        pid_file=p.text("pid-file"),
        console_socket=p.text("console-socket"),
        preserve_fds=p.number("preserve-fds"),
        no_pivot=p.flag("no-pivot"),
        no_new_keyring=p.flag("no-new-keyring"),
        rootless=_rootless,
    )


def _load(root: str, p: Parsed, command: str) -> Container:
    from berth.runtime import container

    return container.load(root, _one_id(p, command))


def cmd_create(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.create import create

    create(_create_options(p, root, "create"))
    return 0


def cmd_run(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.run import run

    return run(_create_options(p, root, "run"), detach=p.flag("detach"))


def _lock(root: str, p: Parsed, command: str) -> Lock:
    """The container's lock: verbs that change a container run one at a time on it."""
    from berth.runtime import container

    return container.lock(root, _one_id(Parsed(args=p.args[:1]), command))


def cmd_start(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.start import poststart, start

    with _lock(root, p, "start"):
        c = _load(root, p, "start")
        start(c)
    poststart(c)
    return 0


def cmd_state(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.state import state

    print(state(root, _one_id(p, "state")))
    return 0


def cmd_kill(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.kill import kill, parse_signal

    if not 1 <= len(p.args) <= 2:
        raise InvalidArgument("kill: expected CONTAINER [SIGNAL]")
    signal = parse_signal(p.args[1] if len(p.args) == 2 else "TERM")
    with _lock(root, p, "kill"):
        kill(_load(root, Parsed(args=p.args[:1]), "kill"), signal, p.flag("all"))
    return 0


def cmd_delete(p: Parsed, root: str) -> int:
    from berth.errors import NotFound
    from berth.runtime.verbs.delete import delete

    try:
        with _lock(root, p, "delete"):
            delete(root, _one_id(p, "delete"), p.flag("force"))
    except NotFound:
        if not p.flag("force"):
            raise  # runc: deleting a missing container with --force succeeds
    return 0


def cmd_list(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.list import list_containers

    fmt = p.text("format", "table")
    if fmt not in ("table", "json"):
        raise InvalidArgument(f"list: invalid format {fmt!r} (table or json)")
    sys.stdout.write(list_containers(root, fmt, p.flag("quiet")))
    return 0


def cmd_ps(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.ps import ps

    if not p.args:
        raise InvalidArgument("ps: expected CONTAINER [ps options]")
    fmt = p.text("format", "table")
    if fmt not in ("table", "json"):
        raise InvalidArgument(f"ps: invalid format {fmt!r} (table or json)")
    sys.stdout.write(ps(root, p.args[0], fmt, p.args[1:]))
    return 0


def cmd_exec(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.exec import ExecOptions, exec_in

    if not p.args:
        raise InvalidArgument("exec: expected CONTAINER [COMMAND [ARGS...]]")
    gids = []
    for g in p.multi("additional-gids"):
        if not g.isdigit():
            raise InvalidArgument(f"--additional-gids {g!r}: expected a number")
        gids.append(int(g))
    opts = ExecOptions(
        process_file=p.text("process"),
        args=tuple(p.args[1:]),
        tty=p.flag("tty"),
        console_socket=p.text("console-socket"),
        detach=p.flag("detach"),
        pid_file=p.text("pid-file"),
        cwd=p.text("cwd"),
        env=tuple(p.multi("env")),
        user=p.text("user"),
        additional_gids=tuple(gids),
        caps=tuple(p.multi("cap")),
        no_new_privs=p.flag("no-new-privs"),
        preserve_fds=p.number("preserve-fds"),
        apparmor=p.text("apparmor"),
        process_label=p.text("process-label"),
    )
    return exec_in(_load(root, Parsed(args=p.args[:1]), "exec"), opts)


def cmd_pause(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.pause import pause

    with _lock(root, p, "pause"):
        pause(_load(root, p, "pause"))
    return 0


def cmd_resume(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.pause import resume

    with _lock(root, p, "resume"):
        resume(_load(root, p, "resume"))
    return 0


def cmd_events(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.events import events

    interval = p.text("interval", "5s")
    try:
        seconds = float(interval.removesuffix("s"))
    except ValueError:
        raise InvalidArgument(f"--interval {interval!r}: expected seconds such as 5s") from None
    events(_load(root, p, "events"), p.flag("stats"), seconds)
    return 0


def cmd_update(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.update import FLAG_FIELDS, read_resources, resources_from_flags, update

    if p.text("resources"):
        resources = read_resources(p.text("resources"))
    else:
        unknown = [f for f in p.flags if f not in FLAG_FIELDS]
        if unknown:
            raise Unsupported(f"update: --{unknown[0]} is not supported")
        resources = resources_from_flags({k: str(v) for k, v in p.flags.items()})
    with _lock(root, p, "update"):
        update(_load(root, p, "update"), resources)
    return 0


def cmd_spec(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.spec import write_spec

    write_spec(p.text("bundle", "."), p.flag("rootless"))
    return 0


def cmd_features(p: Parsed, root: str) -> int:
    from berth.runtime.verbs.features import features

    sys.stdout.write(features())
    return 0


def cmd_unsupported(p: Parsed, root: str) -> int:
    raise Unsupported("checkpoint/restore (CRIU) is not supported by berth-runtime")


COMMANDS: dict[str, Callable[[Parsed, str], int]] = {
    "create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state, "kill": cmd_kill,
    "delete": cmd_delete, "list": cmd_list, "ps": cmd_ps, "exec": cmd_exec, "pause": cmd_pause,
    "resume": cmd_resume, "events": cmd_events, "update": cmd_update, "spec": cmd_spec,
    "features": cmd_features, "checkpoint": cmd_unsupported, "restore": cmd_unsupported,
}  # fmt: skip


def _resolve_rootless(value: str) -> bool:
    if value not in ("true", "false", "auto"):
        raise InvalidArgument(f"--rootless {value!r}: expected true, false or auto")
    return value == "true" or (value == "auto" and os.geteuid() != 0)


def _default_root(rootless: bool) -> str:
    """runc's default state directory: under $XDG_RUNTIME_DIR for a rootless caller that has one."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "") if rootless else ""
    return os.path.join(runtime_dir, "berth-runtime") if runtime_dir else DEFAULT_ROOT


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``berth-runtime`` with ``argv``; return the exit status."""
    from berth.runtime import log

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = False
    try:
        top = parse(argv, GLOBAL_FLAGS)
        debug = top.flag("debug")
        log.configure(top.text("log"), top.text("log-format", "text"))
        if top.flag("version"):
            print("berth-runtime version 0.1.0\nspec: 1.2.0")
            return 0
        if top.flag("help") or not top.args:
            sys.stderr.write(USAGE)
            return 0 if top.flag("help") else 1
        if top.flag("systemd-cgroup"):
            raise Unsupported("--systemd-cgroup: the systemd cgroup driver is not supported")
        command, rest = top.args[0], top.args[1:]
        if command not in COMMANDS:
            raise InvalidArgument(f"unknown command {command!r}")
        global _rootless
        _rootless = _resolve_rootless(top.text("rootless", "auto"))
        root = top.text("root") or _default_root(_rootless)
        parsed = parse(rest, {**COMMAND_FLAGS[command], "help": "bool"})
        if parsed.flag("help"):  # as runc: every command takes --help/-h
            flags = " ".join(f"[--{name}]" for name in COMMAND_FLAGS[command])
            print(f"usage: berth-runtime {command} {flags}".rstrip())
            return 0
        return COMMANDS[command](parsed, root)
    except BerthError as err:
        if debug:
            raise
        log.error(str(err))
        return err.exit_code
    except OSError as err:
        if debug:
            raise
        log.error(str(err))
        return 1
    except KeyboardInterrupt:
        return 130
