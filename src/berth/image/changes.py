"""``--change`` instructions: Dockerfile-style edits of an image config (``berth import``/``commit``).

Each change is ``INSTRUCTION VALUE`` (or ``INSTRUCTION=VALUE``, as podman also accepts), with the
instructions podman takes: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR.
CMD, ENTRYPOINT and VOLUME take a JSON array (exec form) or plain text; for CMD and ENTRYPOINT
plain text is the shell form, run as ``/bin/sh -c TEXT`` (Dockerfile reference, "Shell and exec
form"). Changes apply in order to a base config; nothing is applied unless every change parses.

    config = apply_changes(ContainerConfig(), ["CMD [\\"/bin/sh\\"]", "ENV A=1 B=2", "EXPOSE 80/udp"])
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import signal
from collections.abc import Callable, Sequence

from berth.errors import InvalidArgument, Unsupported
from berth.spec import records
from berth.spec.image_config import ContainerConfig

#: Instructions ``--change`` accepts.
INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
_SHELL = ("/bin/sh", "-c")
_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/([A-Za-z]+))?\Z")
_PROTOCOLS = ("tcp", "udp", "sctp")
_MAX_SIGNAL = 64


def split_change(text: str) -> tuple[str, str]:
    """``(INSTRUCTION, value)`` of one change; ``InvalidArgument`` if it names no known instruction."""
    match = re.match(r"^\s*([A-Za-z]+)(?:\s+|=|\s*\Z)(.*)\Z", text, re.DOTALL)
    if match is None:
        raise InvalidArgument(f"invalid change {text!r}: want INSTRUCTION VALUE")
    instruction, value = match.group(1).upper(), match.group(2).strip()
    if instruction == "ONBUILD":
        raise Unsupported(f"invalid change {text!r}: ONBUILD has no place in an OCI image config")
    if instruction not in INSTRUCTIONS:
        raise InvalidArgument(
            f"invalid change {text!r}: unknown instruction {instruction}; "
            f"want one of {', '.join(INSTRUCTIONS)}"
        )
    return instruction, value


def apply_changes(base: ContainerConfig, changes: Sequence[str]) -> ContainerConfig:
    """``base`` with ``changes`` applied in order; ``InvalidArgument`` naming the first bad change."""
    state = _State(base)
    for text in changes:
        instruction, value = split_change(text)
        try:
            _HANDLERS[instruction](state, value)
        except InvalidArgument as err:
            raise InvalidArgument(f"invalid change {text!r}: {err}") from None
    return state.config


class _State:
    def __init__(self, config: ContainerConfig) -> None:
        self.config = config
        self.cmd_set = False

    def set(self, **fields: object) -> None:
        self.config = records.replace(self.config, **fields)


def json_array(value: str) -> list[str] | None:
    """The exec form's list, or ``None`` when ``value`` is not a JSON array of strings."""
    if not value.startswith("["):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None  # as Docker does: a malformed array is shell-form text
    if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
        return parsed
    return None


def _command(value: str) -> tuple[str, ...]:
    exec_form = json_array(value)
    if exec_form is not None:
        return tuple(exec_form)
    if not value:
        raise InvalidArgument("needs a command")
    return (*_SHELL, value)


def _cmd(state: _State, value: str) -> None:
    state.set(cmd=_command(value))
    state.cmd_set = True


def _entrypoint(state: _State, value: str) -> None:
    # Dockerfile reference, ENTRYPOINT: a CMD inherited from the base is reset; one set by these
    # changes stays.
    fields: dict[str, object] = {"entrypoint": _command(value)}
    if not state.cmd_set:
        fields["cmd"] = None
    state.set(**fields)


def _pairs(value: str, what: str, legacy: bool) -> list[tuple[str, str]]:
    """``key=value`` pairs (values may be quoted); with ``legacy``, ``KEY rest of line`` too."""
    if legacy:
        first = value.split(None, 1)
        if first and "=" not in first[0]:
            if len(first) < 2:
                raise InvalidArgument(f"{what} needs KEY=VALUE")
            return [(first[0], first[1])]
    try:
        words = shlex.split(value)
    except ValueError as err:
        raise InvalidArgument(f"{what}: {err}") from None
    if not words:
        raise InvalidArgument(f"{what} needs KEY=VALUE")
    pairs = []
    for word in words:
        key, sep, val = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{what}: want KEY=VALUE, got {word!r}")
        pairs.append((key, val))
    return pairs


def _env(state: _State, value: str) -> None:
    env = list(state.config.env)
    for key, val in _pairs(value, "ENV", legacy=True):
        env = [e for e in env if e.partition("=")[0] != key]
        env.append(f"{key}={val}")
    state.set(env=tuple(env))


def _label(state: _State, value: str) -> None:
    labels = dict(state.config.labels)
    labels.update(_pairs(value, "LABEL", legacy=True))
    state.set(labels=labels)


def _ports(word: str) -> list[str]:
    match = _PORT.match(word)
    if match is None:
        raise InvalidArgument(f"EXPOSE: {word!r} is not PORT[-PORT][/PROTOCOL]")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    proto = (match.group(3) or "tcp").lower()
    if proto not in _PROTOCOLS:
        raise InvalidArgument(f"EXPOSE: protocol {proto!r} is not one of {', '.join(_PROTOCOLS)}")
    if not 1 <= low <= high <= 65535:
        raise InvalidArgument(f"EXPOSE: port {word!r} is out of range 1-65535")
    # config.md ExposedPorts keys: "port/tcp", "port/udp" (a range lists each port).
    return [f"{port}/{proto}" for port in range(low, high + 1)]


def _expose(state: _State, value: str) -> None:
    words = value.split()
    if not words:
        raise InvalidArgument("EXPOSE needs a port")
    ports = list(state.config.exposed_ports)
    for word in words:
        ports.extend(p for p in _ports(word) if p not in ports)
    state.set(exposed_ports=tuple(ports))


def _volume(state: _State, value: str) -> None:
    paths = json_array(value)
    if paths is None:
        paths = value.split()
    if not paths or any(not p for p in paths):
        raise InvalidArgument("VOLUME needs non-empty paths")
    volumes = list(state.config.volumes)
    volumes.extend(p for p in paths if p not in volumes)
    state.set(volumes=tuple(volumes))


def _stopsignal(state: _State, value: str) -> None:
    state.set(stop_signal=check_signal(value))


def check_signal(value: str) -> str:
    """``value`` as a signal the config can carry (``SIGTERM``, ``TERM`` or a number 1-64)."""
    if value.isdigit():
        if not 1 <= int(value) <= _MAX_SIGNAL:
            raise InvalidArgument(f"STOPSIGNAL: signal number {value} is out of range 1-{_MAX_SIGNAL}")
        return value
    name = value.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    if not isinstance(getattr(signal, name, None), signal.Signals):
        raise InvalidArgument(f"STOPSIGNAL: unknown signal {value!r}")
    return name


def _user(state: _State, value: str) -> None:
    if not value:
        raise InvalidArgument("USER needs a user")
    state.set(user=value)


def _workdir(state: _State, value: str) -> None:
    if not value:
        raise InvalidArgument("WORKDIR needs a path")
    # Dockerfile reference, WORKDIR: a relative path is relative to the previous WORKDIR.
    state.set(working_dir=posixpath.normpath(posixpath.join("/", state.config.working_dir, value)))


_HANDLERS: dict[str, Callable[[_State, str], None]] = {
    "CMD": _cmd,
    "ENTRYPOINT": _entrypoint,
    "ENV": _env,
    "EXPOSE": _expose,
    "LABEL": _label,
    "STOPSIGNAL": _stopsignal,
    "USER": _user,
    "VOLUME": _volume,
    "WORKDIR": _workdir,
}
