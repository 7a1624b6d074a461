"""``berth events``: the event log (``berth.events``) as podman's ``events`` shows it.

berth events [--since TIME] [--until TIME] [--filter KEY=VALUE]... [--format json|TEMPLATE] [--stream=false]
"""

from __future__ import annotations

import argparse
import sys

from berth.cli._format import HelpFormatter, parse_bool

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any


def _filters(texts: list[str]) -> dict[str, list[str]]:
    from berth.errors import InvalidArgument
    from berth.events import FILTER_KEYS

    filters: dict[str, list[str]] = {}
    for text in texts:
        key, eq, value = text.partition("=")
        if not eq or key not in FILTER_KEYS:
            raise InvalidArgument(
                f"invalid --filter {text!r}: want KEY=VALUE, KEY one of {', '.join(FILTER_KEYS)}"
            )
        filters.setdefault(key, []).append(value)
    return filters


def _moment(text: str, flag: str, now: float) -> float:
    from berth.errors import InvalidArgument
    from berth.events import parse_moment

    try:
        return parse_moment(text, now)
    except ValueError:
        raise InvalidArgument(
            f"invalid {flag} {text!r}: want an RFC 3339 time, Unix seconds, or a duration such as 10m"
        ) from None


def text_line(event: dict[str, Any]) -> str:
    """One event as podman's ``events`` prints it without ``--format``."""
    when = str(event.get("Time", "")).replace("T", " ").rstrip("Z") + " +0000 UTC"
    head = f"{when} {event.get('Type', '')} {event.get('Status', '')}"
    if event.get("Type") not in ("container", "pod"):
        return f"{head} {event.get('ID', '')} {event.get('Name', '')}"
    details = [f"image={event.get('Image', '')}", f"name={event.get('Name', '')}"]
    if event.get("PodID"):
        details.append(f"pod_id={event['PodID']}")
    if event.get("HealthStatus"):
        details.append(f"health_status={event['HealthStatus']}")
    details += [f"{k}={v}" for k, v in sorted((event.get("Attributes") or {}).items())]
    return f"{head} {event.get('ID', '')} ({', '.join(details)})"


def _render(event: dict[str, Any], fmt: str) -> str:
    import json

    from berth.cli._format import render_template

    if fmt == "json":
        return json.dumps(event, separators=(",", ":"))
    if fmt:
        defaults = dict.fromkeys(
            ("ID", "Image", "Name", "Status", "Time", "Type", "PodID", "HealthStatus"), ""
        )
        return render_template(fmt, {**defaults, "ContainerExitCode": 0, **event})
    return text_line(event)


def _events(args: argparse.Namespace) -> int:
    import time

    from berth.engine.config import load_config
    from berth.events import follow_events, log_path, matches, parse_time, read_events

    now = time.time()
    filters = _filters(args.filter)
    since = _moment(args.since, "--since", now) if args.since else None
    until = _moment(args.until, "--until", now) if args.until else None
    log = log_path(load_config(args.root, args.runroot).root)
    stream = args.stream and (until is None or until > now)
    events = follow_events(log, deadline=until) if stream else read_events(log)
    out = sys.stdout
    try:
        for event in events:
            if since is not None or until is not None:
                try:
                    at = parse_time(str(event.get("Time", "")))
                except ValueError:
                    continue
                if (since is not None and at < since) or (until is not None and at > until):
                    continue
            if matches(event, filters):
                out.write(_render(event, args.format) + "\n")
                out.flush()
    except KeyboardInterrupt:
        pass
    return 0


def register(sub: Any) -> None:
    """Add ``events``."""
    p = sub.add_parser("events", help="show the event log", formatter_class=HelpFormatter)
    p.add_argument(
        "--since", default="", help="show events since TIME (RFC 3339, Unix seconds, or a duration ago)"
    )
    p.add_argument("--until", default="", help="show events until TIME")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="container, event, image, label, pod, type, volume or network")  # fmt: skip
    p.add_argument("--format", default="", help="json, or a Go template such as '{{.Status}} {{.Name}}'")
    p.add_argument("--stream", type=parse_bool, default=True, nargs="?", const=True,
                   help="keep showing new events (default true)")  # fmt: skip
    p.add_argument("--no-trunc", action="store_true", help="accepted for podman's sake; IDs are never cut")
    p.set_defaults(handler=_events)
