"""``berth cri serve``'s settings: the ``--config`` TOML file, checked before the server starts.

The file's layout (every key optional)::

    listen = "unix:///run/berth/cri.sock"
    stream_address = "127.0.0.1:0"          # where exec/attach/port-forward URLs would point
    metrics_address = ""                    # HOST:PORT of Prometheus /metrics ("" for none)
    nri_socket = ""                         # NRI plugins' socket, e.g. /var/run/nri/nri.sock ("" for none)
    sandbox_image = ""                      # "" for Berth's pause image (built); a name: pulled if missing
    registries_conf = "/etc/berth/registries.conf"   # merged over podman's registries.conf files
    auth_file = "/run/berth/auth.json"
    cni_plugin_dirs = ["/usr/lib/cni", "/opt/cni/bin"]
    cni_conf_dir = "/etc/cni/net.d"         # the pods' network; "" for the engine's bridge

    [runtime_handlers]                      # RuntimeClass handler -> berth-runtime, runc or crun
    default = "berth-runtime"
    runc = "runc"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from berth.errors import InvalidArgument
from berth.spec.records import field, record

DEFAULT_LISTEN = "unix:///run/berth/cri.sock"
#: The runtimes a handler may name: those the engine drives (docs/engine.md).
KNOWN_RUNTIMES = ("berth-runtime", "runc", "crun")


@record(frozen=True)
class CriConfig:
    """Resolved settings; ``runtime_handlers`` maps a RuntimeClass handler ("" is the default) to a
    runtime name the engine knows."""

    listen: str = DEFAULT_LISTEN
    stream_address: str = "127.0.0.1:0"
    metrics_address: str = ""
    nri_socket: str = ""
    sandbox_image: str = ""
    registries_conf: str = ""
    auth_file: str = ""
    cni_plugin_dirs: tuple[str, ...] = ()
    cni_conf_dir: str = ""
    runtime_handlers: dict[str, str] = field(default_factory=dict)

    def runtime_for(self, handler: str) -> str:
        """The engine runtime for RuntimeClass ``handler`` ("" when the engine's default applies)."""
        if not handler:
            return self.runtime_handlers.get("default", "")
        try:
            return self.runtime_handlers[handler]
        except KeyError:
            raise InvalidArgument(f"unknown runtime handler {handler!r}") from None


def load_cri_config(path: str | None, listen: str | None = None) -> CriConfig:
    """The settings of ``path`` (none: the defaults), with ``listen`` (the flag) over the file's."""
    data: dict[str, Any] = {}
    if path:
        import tomllib

        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as err:
            raise InvalidArgument(f"cannot read --config {path}: {err.strerror}") from None
        except tomllib.TOMLDecodeError as err:
            raise InvalidArgument(f"invalid --config {path}: {err}") from None
    where = path or "defaults"
    known = {"listen", "stream_address", "metrics_address", "nri_socket", "sandbox_image", "registries_conf",
             "auth_file", "cni_plugin_dirs", "cni_conf_dir", "runtime_handlers"}  # fmt: skip
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidArgument(f"invalid --config {where}: unknown key {unknown[0]!r}")
    strings = {key: _string(data, key, where) for key in known - {"cni_plugin_dirs", "runtime_handlers"}}
    dirs = data.get("cni_plugin_dirs", [])
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise InvalidArgument(f"invalid --config {where}: cni_plugin_dirs must be a list of paths")
    handlers = data.get("runtime_handlers", {})
    if not isinstance(handlers, dict):
        raise InvalidArgument(f"invalid --config {where}: [runtime_handlers] must be a table")
    for name, runtime in handlers.items():
        if runtime not in KNOWN_RUNTIMES:
            raise InvalidArgument(
                f"invalid --config {where}: runtime handler {name!r} names {runtime!r}, "
                f"want one of {', '.join(KNOWN_RUNTIMES)}"
            )
    chosen = listen or strings["listen"] or DEFAULT_LISTEN
    listen_path(chosen)
    for key in ("registries_conf", "auth_file"):
        if strings[key] and not Path(strings[key]).is_file():
            raise InvalidArgument(f"invalid --config {where}: {key} {strings[key]} is not a file")
    return CriConfig(
        listen=chosen,
        stream_address=strings["stream_address"] or "127.0.0.1:0",
        metrics_address=_address(strings["metrics_address"], "metrics_address", where),
        nri_socket=_absolute(strings["nri_socket"], "nri_socket", where),
        cni_conf_dir=_absolute(strings["cni_conf_dir"], "cni_conf_dir", where),
        sandbox_image=strings["sandbox_image"],
        registries_conf=strings["registries_conf"],
        auth_file=strings["auth_file"],
        cni_plugin_dirs=tuple(dirs),
        runtime_handlers=dict(handlers),
    )


def listen_path(listen: str) -> Path:
    """The socket file of a ``unix://PATH`` address (the only kind the kubelet's CRI client dials)."""
    scheme, sep, rest = listen.partition("://")
    if scheme != "unix" or not sep or not rest.startswith("/"):
        raise InvalidArgument(f"invalid --listen {listen!r}: want unix:///ABSOLUTE/PATH")
    return Path(rest)


def _string(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid --config {where}: {key} must be a string")
    return value


def _address(value: str, key: str, where: str) -> str:
    """``value`` if it is ``HOST:PORT`` (or empty)."""
    _host, sep, port = value.rpartition(":")
    if value and not (sep and port.isdigit() and int(port) < 65536):
        raise InvalidArgument(f"invalid --config {where}: {key} {value!r} is not HOST:PORT")
    return value


def _absolute(value: str, key: str, where: str) -> str:
    """``value`` if it is an absolute path (or empty)."""
    if value and not value.startswith("/"):
        raise InvalidArgument(f"invalid --config {where}: {key} {value!r} is not an absolute path")
    return value
