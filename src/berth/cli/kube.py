"""``berth kube play|down|generate``: Kubernetes YAML in and out (podman's ``kube`` commands)."""

from __future__ import annotations

import argparse

from berth.cli._format import HelpFormatter, parse_bool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.kube.down import DownReport
    from berth.kube.manifest import Manifest


def _manifest(path: str) -> Manifest:
    """The manifest in file ``path`` (``-``: standard input), read and checked."""
    import sys

    from berth.errors import InvalidArgument
    from berth.kube.manifest import parse_manifest

    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidArgument(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    return parse_manifest(text)


def _print_down(report: DownReport) -> None:
    for title, ids in (("Pods stopped:", report.stopped), ("Pods removed:", report.removed)):
        if ids:
            print(title, *ids, sep="\n")


def _play(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.kube.down import down
    from berth.kube.play import play

    manifest = _manifest(args.file)
    with open_engine(args) as engine:
        if args.down:
            _print_down(down(engine, manifest))
            return 0
        report = play(engine, manifest, start=args.start, replace=args.replace)
    if report.volumes:
        print("Volumes:", *report.volumes, sep="\n")
    for pod in report.pods:  # podman's layout: a block per pod, then an empty line
        print("Pod:", pod.id, sep="\n")
        if pod.containers:
            print("Container:" if len(pod.containers) == 1 else "Containers:", *pod.containers, sep="\n")
        print()
    return 0


def _down(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.kube.down import down

    manifest = _manifest(args.file)
    with open_engine(args) as engine:
        _print_down(down(engine, manifest))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.fsutil import atomic_write
    from berth.kube.generate import generate_yaml

    with open_engine(args) as engine:
        text = generate_yaml(engine, args.refs, service=args.service)
    if args.filename:
        atomic_write(args.filename, text.encode())
    else:
        print(text, end="")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``berth kube``."""
    kube = sub.add_parser(
        "kube", help="play, remove and generate Kubernetes YAML", formatter_class=HelpFormatter
    )
    ksub = kube.add_subparsers(dest="kube_command", metavar="COMMAND", required=True)
    play = ksub.add_parser("play", help="make and start the pods a YAML file describes")
    play.add_argument("--down", action="store_true", help="remove the pods instead (as kube down)")
    play.add_argument("--replace", action="store_true", help="remove pods of the same names first")
    play.add_argument("--start", type=parse_bool, default=True, metavar="true|false", help="start the pods")
    play.add_argument("file", help="the YAML file (- for standard input)")
    play.set_defaults(handler=_play)
    down = ksub.add_parser("down", help="remove the pods a YAML file describes")
    down.add_argument("file", help="the YAML file (- for standard input)")
    down.set_defaults(handler=_down)
    gen = ksub.add_parser("generate", help="write pods or containers as Kubernetes YAML")
    gen.add_argument("-s", "--service", action="store_true", help="also a NodePort Service per pod")
    gen.add_argument("-f", "--filename", default="", help="write to this file, not standard output")
    gen.add_argument("refs", nargs="+", metavar="POD|CONTAINER")
    gen.set_defaults(handler=_generate)
