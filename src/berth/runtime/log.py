"""runc-style logging: ``--log FILE`` and ``--log-format text|json``.

containerd's shim reads the last ``"level":"error"`` JSON line of the log to explain a failure, so
errors always go there as well as to stderr.
"""

from __future__ import annotations

import os
import sys
import time

_path = ""
_format = "text"


def configure(path: str, fmt: str) -> None:
    """Set the log destination (empty: stderr only) and format."""
    global _path, _format
    _path, _format = path, fmt


def _line(level: str, msg: str) -> str:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if _format == "json":
        import json

        return json.dumps({"level": level, "msg": msg, "time": now}) + "\n"
    return f'time="{now}" level={level} msg="{msg}"\n'


def _append(text: str) -> None:
    try:
        fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def warn(msg: str) -> None:
    """A warning: to the log file if there is one, else stderr."""
    if _path:
        _append(_line("warning", msg))
    else:
        sys.stderr.write(f"berth-runtime: warning: {msg}\n")


def error(msg: str) -> None:
    """A fatal error: one line on stderr, and a line in the log file."""
    if _path:
        _append(_line("error", msg))
    sys.stderr.write(f"berth-runtime: {msg}\n")
