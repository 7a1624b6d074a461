"""Each Containerfile line as a typed record (Dockerfile reference, one section per instruction).

Values stay as written: ARG and ENV substitution depends on the stage's state, so the executor
expands them (``berth.build.expand``) when it reaches the instruction. What can be checked without
that state is checked here: the instruction, its flags, the number and shape of its arguments.

    parse_instruction(Line(3, "COPY", "--from=build /out /app"), "Containerfile")
    # Copy(line=..., sources=("/out",), dest="/app", from_stage="build", ...)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from berth.build.errors import ContainerfileError
from berth.build.lines import Heredoc, Line
from berth.build.mounts import Mount, parse_mount
from berth.image.changes import json_array

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
_NETWORKS = ("default", "none", "host", "bridge")


class BadInstruction(Exception):
    """Raised by the per-instruction parsers; ``parse_instruction`` adds the file and line."""


@dataclass(frozen=True, slots=True)
class Command:
    """A command in exec form (a JSON array, ``json``) or shell form (one text, run by the SHELL)."""

    json: bool
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Instruction:
    """What every instruction has: the line it came from."""

    line: Line


@dataclass(frozen=True, slots=True)
class From(Instruction):
    image: str
    name: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class Arg(Instruction):
    #: ``(name, default)``; the default is ``None`` when none was written.
    pairs: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class Env(Instruction):
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Label(Instruction):
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Run(Instruction):
    command: Command
    mounts: tuple[Mount, ...] = ()
    network: str | None = None
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, slots=True)
class Copy(Instruction):
    """COPY (and, through ``Add``, ADD): sources (heredoc names among them) into ``dest``."""

    sources: tuple[str, ...]
    dest: str
    from_stage: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, slots=True)
class Add(Copy):
    checksum: str | None = None


@dataclass(frozen=True, slots=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True, slots=True)
class User(Instruction):
    user: str


@dataclass(frozen=True, slots=True)
class Expose(Instruction):
    ports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Volume(Instruction):
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Entrypoint(Instruction):
    command: Command


@dataclass(frozen=True, slots=True)
class Cmd(Instruction):
    command: Command


@dataclass(frozen=True, slots=True)
class Healthcheck(Instruction):
    """``test`` as the image config holds it (``["CMD-SHELL", text]``, ``["CMD", ...]``, ``["NONE"]``);
    durations in nanoseconds, 0 when not given (the runtime's default then applies)."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Shell(Instruction):
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Stopsignal(Instruction):
    signal: str


@dataclass(frozen=True, slots=True)
class Maintainer(Instruction):
    name: str


@dataclass(frozen=True, slots=True)
class Onbuild(Instruction):
    """A trigger: ``text`` as the image config records it, ``trigger`` as it will be parsed then."""

    text: str
    trigger: Instruction


_Flags = dict[str, "str | list[str] | bool"]


def _take_flags(line: Line, allowed: dict[str, str]) -> tuple[_Flags, str]:
    """The leading ``--name[=value]`` words of ``line.rest`` (``allowed``: name to kind, ``value``,
    ``list`` or ``bool``) and the text after them."""
    from berth.build.expand import raw_words

    flags: _Flags = {}
    rest = line.rest
    while rest.startswith("--"):
        word = raw_words(rest, line.escape)[0]
        rest = rest[len(word) :].lstrip()
        if word == "--":
            break
        name, has_value, value = word[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            raise BadInstruction(f"unknown flag --{name} for {line.instruction}")
        if kind == "bool":
            if value not in ("", "true", "false"):
                raise BadInstruction(f"--{name} takes true or false, not {value!r}")
            flags[name] = value != "false"
        elif not has_value or not value:
            raise BadInstruction(f"--{name} needs a value (--{name}=VALUE)")
        elif kind == "list":
            existing = flags.setdefault(name, [])
            assert isinstance(existing, list)
            existing.append(value)
        elif name in flags:
            raise BadInstruction(f"--{name} given twice")
        else:
            flags[name] = value
    return flags, rest


def _text_flag(flags: _Flags, name: str) -> str | None:
    value = flags.get(name)
    return value if isinstance(value, str) else None


def _command(rest: str, what: str) -> Command:
    exec_form = json_array(rest)
    if exec_form is not None:
        return Command(True, tuple(exec_form))
    if not rest.strip():
        raise BadInstruction(f"{what} needs a command")
    return Command(False, (rest,))


def _pairs(line: Line, what: str, legacy_ok: bool) -> tuple[tuple[str, str], ...]:
    """``key=value`` words (quotes kept for the expander), or the legacy ``KEY value`` form."""
    from berth.build.expand import raw_words

    rest = _no_flags(line)
    words = raw_words(rest, line.escape)
    if not words:
        raise BadInstruction(f"{what} needs KEY=VALUE")
    if legacy_ok and "=" not in words[0]:
        # Dockerfile reference, ENV: the legacy `ENV KEY value`, the value is the rest of the line.
        value = rest.strip()[len(words[0]) :].strip()
        if not value:
            raise BadInstruction(f"{what} {words[0]} needs a value (KEY=VALUE or KEY VALUE)")
        return ((words[0], value),)
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise BadInstruction(f"{what}: want KEY=VALUE, not {word!r}")
        pairs.append((key, value))
    return tuple(pairs)


def _single(rest: str, what: str) -> str:
    if not rest.strip():
        raise BadInstruction(f"{what} needs an argument")
    return rest.strip()


def _from(line: Line) -> From:
    flags, rest = _take_flags(line, {"platform": "value"})
    words = rest.split()
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not _STAGE_NAME.match(name):
            raise BadInstruction(f"invalid stage name {words[2]!r}: want a letter, then letters, digits, -_.")
        return From(line, words[0], name, _text_flag(flags, "platform"))
    if len(words) != 1:
        raise BadInstruction("FROM needs IMAGE [AS NAME]")
    return From(line, words[0], None, _text_flag(flags, "platform"))


def _arg(line: Line) -> Arg:
    from berth.build.expand import raw_words

    words = raw_words(_no_flags(line), line.escape)
    if not words:
        raise BadInstruction("ARG needs a NAME[=DEFAULT]")
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        name, sep, default = word.partition("=")
        if not name:
            raise BadInstruction(f"ARG: {word!r} has no name")
        pairs.append((name, default if sep else None))
    return Arg(line, tuple(pairs))


def _run(line: Line) -> Run:
    flags, rest = _take_flags(line, {"mount": "list", "network": "value", "security": "value"})
    if flags.get("security", "sandbox") != "sandbox":
        raise BadInstruction("RUN --security=insecure is not supported")
    network = _text_flag(flags, "network")
    if network is not None and network not in _NETWORKS:
        raise BadInstruction(f"RUN --network={network}: want one of {', '.join(_NETWORKS)}")
    raw_mounts = flags.get("mount", [])
    assert isinstance(raw_mounts, list)
    try:
        mounts = tuple(parse_mount(text) for text in raw_mounts)
    except ValueError as err:
        raise BadInstruction(f"RUN --mount: {err}") from None
    return Run(line, _command(rest, "RUN"), mounts, network, line.heredocs)


_COPY_FLAGS = {"chown": "value", "chmod": "value", "link": "bool"}


def _copy_fields(line: Line, flags: _Flags, rest: str) -> tuple[tuple[str, ...], str, str | None]:
    """The sources, the destination and the checked ``--chmod`` of a COPY or ADD."""
    from berth.build.expand import raw_words

    words = json_array(rest)
    if words is None:
        words = raw_words(rest, line.escape)
    if len(words) < 2:
        raise BadInstruction(f"{line.instruction} needs at least one source and a destination")
    chmod = _text_flag(flags, "chmod")
    if chmod is not None and "$" not in chmod and not re.fullmatch(r"[0-7]{3,4}", chmod):
        raise BadInstruction(f"--chmod={chmod}: want an octal mode such as 755")
    return tuple(words[:-1]), words[-1], chmod


def _copy(line: Line) -> Copy:
    flags, rest = _take_flags(line, {**_COPY_FLAGS, "from": "value"})
    sources, dest, chmod = _copy_fields(line, flags, rest)
    chown, link = _text_flag(flags, "chown"), bool(flags.get("link", False))
    return Copy(line, sources, dest, _text_flag(flags, "from"), chown, chmod, link, line.heredocs)


def _add(line: Line) -> Add:
    flags, rest = _take_flags(line, {**_COPY_FLAGS, "checksum": "value"})
    sources, dest, chmod = _copy_fields(line, flags, rest)
    chown, link = _text_flag(flags, "chown"), bool(flags.get("link", False))
    checksum = _text_flag(flags, "checksum")
    return Add(line, sources, dest, None, chown, chmod, link, line.heredocs, checksum)


def _no_flags(line: Line) -> str:
    return _take_flags(line, {})[1]


def _words(line: Line, rest: str, what: str) -> tuple[str, ...]:
    from berth.build.expand import raw_words

    words = raw_words(rest, line.escape)
    if not words:
        raise BadInstruction(f"{what} needs an argument")
    return tuple(words)


def _volume(line: Line) -> Volume:
    rest = _no_flags(line)
    paths = json_array(rest)
    if paths is None:
        return Volume(line, _words(line, rest, "VOLUME"))
    if not paths or any(not p.strip() for p in paths):
        raise BadInstruction("VOLUME needs non-empty paths")
    return Volume(line, tuple(paths))


def _shell(line: Line) -> Shell:
    args = json_array(_no_flags(line))
    if not args:
        raise BadInstruction('SHELL needs a JSON array, e.g. ["/bin/sh", "-c"]')
    return Shell(line, tuple(args))


def go_duration(text: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``1.5h``; a bare ``0``) in nanoseconds."""
    from berth.engine.units import duration_ns

    value = 0 if text == "0" else duration_ns(text)
    if value is None:
        raise BadInstruction(f"invalid duration {text!r}: want e.g. 30s, 1m30s")
    return value


_HEALTH_DURATIONS = ("interval", "timeout", "start-period", "start-interval")


def _healthcheck(line: Line) -> Healthcheck:
    allowed = {name: "value" for name in (*_HEALTH_DURATIONS, "retries")}
    flags, rest = _take_flags(line, allowed)
    keyword, _, command = rest.strip().partition(" ")
    if keyword.upper() == "NONE":
        if command.strip() or flags:
            raise BadInstruction("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(line, ("NONE",))
    if keyword.upper() != "CMD":
        raise BadInstruction("HEALTHCHECK needs CMD COMMAND or NONE")
    parsed = _command(command.strip(), "HEALTHCHECK CMD")
    test = ("CMD", *parsed.args) if parsed.json else ("CMD-SHELL", parsed.args[0])
    durations = {}
    for name in _HEALTH_DURATIONS:
        value = go_duration(str(flags.get(name, "0")))
        # Dockerfile reference, HEALTHCHECK: a duration, when given, is at least 1ms.
        if 0 < value < 10**6 or value < 0:
            raise BadInstruction(f"HEALTHCHECK --{name} must be at least 1ms")
        durations[name.replace("-", "_")] = value
    retries_text = str(flags.get("retries", "0"))
    if not retries_text.isdigit():
        raise BadInstruction(f"HEALTHCHECK --retries={retries_text}: want a whole number")
    return Healthcheck(line, test, retries=int(retries_text), **durations)


# Dockerfile reference, ONBUILD: chaining and FROM/MAINTAINER triggers are not allowed.
_NOT_TRIGGERS = ("ONBUILD", "FROM", "MAINTAINER")


def _onbuild(line: Line) -> Onbuild:
    from berth.build.lines import split_keyword

    text = _no_flags(line).strip()
    keyword, rest = split_keyword(text)
    if not keyword:
        raise BadInstruction("ONBUILD needs an instruction")
    if keyword.upper() in _NOT_TRIGGERS:
        raise BadInstruction(f"{keyword.upper()} is not allowed as an ONBUILD trigger")
    trigger = _parse(Line(line.number, keyword.upper(), rest, escape=line.escape))
    return Onbuild(line, text, trigger)


_PARSERS: dict[str, Callable[[Line], Instruction]] = {
    "FROM": _from,
    "ARG": _arg,
    "ENV": lambda line: Env(line, _pairs(line, "ENV", legacy_ok=True)),
    "LABEL": lambda line: Label(line, _pairs(line, "LABEL", legacy_ok=True)),
    "RUN": _run,
    "COPY": _copy,
    "ADD": _add,
    "WORKDIR": lambda line: Workdir(line, _single(_no_flags(line), "WORKDIR")),
    "USER": lambda line: User(line, _single(_no_flags(line), "USER")),
    "EXPOSE": lambda line: Expose(line, _words(line, _no_flags(line), "EXPOSE")),
    "VOLUME": _volume,
    "ENTRYPOINT": lambda line: Entrypoint(line, _command(_no_flags(line), "ENTRYPOINT")),
    "CMD": lambda line: Cmd(line, _command(_no_flags(line), "CMD")),
    "HEALTHCHECK": _healthcheck,
    "SHELL": _shell,
    "STOPSIGNAL": lambda line: Stopsignal(line, _single(_no_flags(line), "STOPSIGNAL")),
    "MAINTAINER": lambda line: Maintainer(line, _single(_no_flags(line), "MAINTAINER")),
    "ONBUILD": _onbuild,
}


def _parse(line: Line) -> Instruction:
    parser = _PARSERS.get(line.instruction)
    if parser is None:
        raise BadInstruction(f'unknown instruction "{line.instruction}"')
    return parser(line)


def parse_instruction(line: Line, filename: str) -> Instruction:
    """``line`` as its typed record; ``ContainerfileError`` (file and line) when it is malformed."""
    try:
        return _parse(line)
    except BadInstruction as err:
        raise ContainerfileError(filename, line.number, str(err)) from None
