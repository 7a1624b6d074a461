"""``berth build`` (also ``berth image build``): a Containerfile and its context to an image."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from berth.cli._format import parse_bool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.build.containerfile import Containerfile
    from berth.build.context import BuildContext
    from berth.build.executor import BuildOptions

#: ``--output type=...``: the archive format each writes (``berth.distribution.archive``).
_OUTPUT_TYPES = {"oci": "oci-archive", "docker-archive": "docker-archive", "docker": "docker-archive"}


def build_parser(parser: argparse.ArgumentParser) -> None:
    """The flags of ``berth build`` (podman's names) on ``parser``."""
    parser.add_argument("context", nargs="?", default=".", help="directory, tarball, or - for stdin")
    parser.add_argument(
        "-f", "--file", help="the Containerfile (default CONTEXT/Containerfile or Dockerfile)"
    )
    parser.add_argument("-t", "--tag", action="append", default=[], help="name the image (repeatable)")
    parser.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--build-arg-file", action="append", default=[], metavar="FILE")
    parser.add_argument("--target", help="build up to this stage")
    parser.add_argument("--no-cache", action="store_true", help="run every step")
    parser.add_argument(
        "--layers",
        type=parse_bool,
        nargs="?",
        const=True,
        default=True,
        help="use the layer cache (default true)",
    )
    parser.add_argument("--pull", nargs="?", const="always", default="missing", help="missing, always, never")
    parser.add_argument("--squash", action="store_true", help="the new layers as one")
    parser.add_argument("--format", choices=("oci", "docker"), default="oci")
    parser.add_argument("--iidfile", help="write the image ID to this file")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--annotation", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--network", default="", help="RUN's network: none, host or bridge")
    parser.add_argument("--secret", action="append", default=[], metavar="id=ID,src=PATH")
    parser.add_argument("--platform", help="only the host's platform")
    parser.add_argument(
        "--output", "-o", action="append", default=[], help="type=oci|docker-archive,dest=FILE"
    )
    parser.add_argument("--tls-verify", type=parse_bool, default=None)
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    parser.set_defaults(handler=_build)


def register(sub: Any) -> None:
    """Add build and builder."""
    build_parser(sub.add_parser("build", help="build an image from a Containerfile"))
    builder = sub.add_parser("builder", help="manage berth build's layer cache")
    bsub = builder.add_subparsers(dest="builder_command", metavar="COMMAND", required=True)
    prune = bsub.add_parser("prune", help="drop the layer cache and free its layers")
    prune.add_argument("-a", "--all", action="store_true", help="accepted for podman compatibility")
    prune.add_argument("-f", "--force", action="store_true", help="accepted: there is no prompt")
    prune.set_defaults(handler=_builder_prune)


def _builder_prune(args: argparse.Namespace) -> int:
    from berth.cli.containers import open_engine
    from berth.cli.system import drop_build_cache
    from berth.engine.system import collect_images

    with open_engine(args) as engine:
        count = drop_build_cache(engine.config)
        collect_images(engine)
    print(f"Dropped {count} cached layers")
    return 0


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    from berth.errors import InvalidArgument

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"{flag} {item!r}: want KEY=VALUE")
        if not sep:
            value = os.environ.get(key, "")  # podman: --build-arg NAME takes the environment's
        out[key] = value
    return out


def _build_args(args: argparse.Namespace) -> dict[str, str]:
    from berth.errors import InvalidArgument

    values: dict[str, str] = {}
    for path in args.build_arg_file:
        try:
            lines = open(path).read().splitlines()  # noqa: SIM115
        except OSError as err:
            raise InvalidArgument(f"--build-arg-file {path}: {err.strerror}") from None
        values.update(_pairs([ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")], path))
    values.update(_pairs(args.build_arg, "--build-arg"))
    return values


def _check_refusals(args: argparse.Namespace) -> None:
    from berth.errors import InvalidArgument
    from berth.spec.platform import host

    if args.platform:
        plat = host()
        wanted = args.platform.split(",")
        mine = {f"{plat.os}/{plat.architecture}", f"{plat.os}/{plat.architecture}/{plat.variant}".rstrip("/")}
        if any(p not in mine for p in wanted):
            raise InvalidArgument(f"--platform {args.platform}: this host builds only {sorted(mine)[0]}")
    if args.network not in ("", "none", "host", "bridge"):
        raise InvalidArgument(f"--network {args.network}: want none, host or bridge")
    if args.pull not in ("missing", "always", "never", "true", "false"):
        raise InvalidArgument(f"--pull {args.pull}: want missing, always or never")


def _outputs(items: list[str]) -> list[tuple[str, str]]:
    """``--output type=T,dest=FILE`` as (archive format, path); a bad one is an error."""
    from berth.errors import InvalidArgument

    outputs = []
    for item in items:
        fields = dict(part.partition("=")[::2] for part in item.split(","))
        kind, dest = fields.pop("type", ""), fields.pop("dest", "")
        if kind not in _OUTPUT_TYPES or not dest or fields:
            raise InvalidArgument(
                f"--output {item}: want type=oci,dest=FILE or type=docker-archive,dest=FILE"
            )
        outputs.append((_OUTPUT_TYPES[kind], dest))
    return outputs


def _containerfile_path(args: argparse.Namespace, root: str) -> str:
    from berth.errors import NotFound

    if args.file:
        return str(args.file)  # relative to the working directory, as podman takes it
    for name in ("Containerfile", "Dockerfile"):
        path = os.path.join(root, name)
        if os.path.isfile(path):
            return path
    raise NotFound(f"no Containerfile or Dockerfile in the context {args.context}")


def _options(args: argparse.Namespace, cf: Containerfile, ctx: BuildContext, scratch: Path) -> BuildOptions:
    """The build's options from the flags."""
    from berth.build.executor import BuildOptions
    from berth.build.run_mounts import parse_secret

    return BuildOptions(
        containerfile=cf,
        context=ctx,
        tags=args.tag,
        build_args=_build_args(args),
        target=args.target,
        pull={"true": "always", "false": "missing"}.get(args.pull, args.pull),
        tls_verify=args.tls_verify,
        network=args.network,
        docker_format=args.format == "docker",
        labels=_pairs(args.label, "--label"),
        annotations=_pairs(args.annotation, "--annotation"),
        squash=args.squash,
        no_cache=args.no_cache,
        secrets=dict(parse_secret(text) for text in args.secret),
        quiet=args.quiet,
        layers=args.layers,
        progress=(lambda _line: None) if args.quiet else (lambda line: print(line, flush=True)),
        warn=lambda line: print(f"berth: warning: {line}", file=sys.stderr),
        scratch=scratch,
    )


def _build(args: argparse.Namespace) -> int:
    from berth.build.containerfile import parse_containerfile
    from berth.build.context import open_context
    from berth.build.executor import Builder
    from berth.cli.containers import open_engine
    from berth.distribution.archive import save
    from berth.engine.containers.owned import owned_scratch
    from berth.engine.images.store import images_root
    from berth.errors import NotFound
    from berth.image.images import ImageStore

    _check_refusals(args)
    outputs = _outputs(args.output)
    stdin = sys.stdin.buffer if args.file != "-" else None
    # The engine first: the build's temporary files go in a directory named after this process.
    with (
        open_engine(args) as engine,
        owned_scratch(engine.config.root, "build") as scratch,
        open_context(args.context, stdin, scratch) as (ctx, stdin_file),
    ):
        if args.file == "-" or stdin_file is not None:
            text = stdin_file if stdin_file is not None else sys.stdin.buffer.read()
            name = "Containerfile"
        else:
            path = _containerfile_path(args, str(ctx.root))
            try:
                text = open(path, "rb").read()  # noqa: SIM115
            except OSError as err:
                raise NotFound(f"{path}: {err.strerror}") from None
            name = os.path.basename(path)
        cf = parse_containerfile(text.decode(errors="surrogateescape"), name)
        opts = _options(args, cf, ctx, scratch)
        images = ImageStore(images_root(engine.config))
        try:
            stored = Builder(engine, images, opts).build()
        finally:
            images.close()
        for fmt, dest in outputs:
            save(engine.config.root, stored.name, Path(dest), fmt)
    if args.iidfile:
        with open(args.iidfile, "w") as out:
            out.write(f"sha256:{stored.image_id}")
    if not args.quiet:
        print(f"COMMIT {' '.join(args.tag)}".rstrip())
    print(stored.image_id if args.quiet else f"--> {stored.image_id[:12]}\n{stored.image_id}")
    return 0
