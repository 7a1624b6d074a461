"""Local image commands, with podman's names and flags.

berth images [-a] [-q] [--digests] [--no-trunc] [--format json] [-f FILTER] [REFERENCE]   (image ls)
berth image inspect IMAGE...        berth history IMAGE        berth tag IMAGE NAME...
berth rmi [-f] IMAGE...             berth image prune [-a]     berth image fsck [--repair]
berth image exists IMAGE
berth import [-c CHANGE]... [-m MSG] TARBALL|DIR|- [REFERENCE]
berth commit [-c CHANGE]... [-m MSG] [-a AUTHOR] [-p] CONTAINER [REFERENCE]
berth save [-o FILE] [--format oci-archive|docker-archive] [-m] IMAGE [IMAGE|TAG...]
berth load [-i FILE]

IMAGE is a name (normalized as ``berth pull`` does) or an image ID (the config digest, or a prefix
of at least 3 hex digits). Handlers parse, call ``berth.image.catalog`` (and the engine for which
containers use an image, and for unpacked layers no image needs), and format.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from berth.errors import BerthError, InvalidArgument, NotFound

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

    from berth.engine.config import EngineConfig
    from berth.image.catalog import CatalogImage
    from berth.image.images import ImageStore


# -- shared: the store, the images in it, and which containers use them ---------------------------


def _config(args: argparse.Namespace) -> EngineConfig:
    from berth.engine.config import load_config

    return load_config(args.root, args.runroot)


@contextlib.contextmanager
def _store(args: argparse.Namespace) -> Iterator[ImageStore]:
    from berth.image.images import ImageStore

    store = ImageStore(_config(args).root / "images")
    try:
        yield store
    finally:
        store.close()


def _ago(seconds: float) -> str:
    delta = max(0.0, time.time() - seconds)
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if delta >= size:
            n = int(delta // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "Less than a minute ago" if delta >= 1 else "Less than a second ago"


def _repo_tag(name: str) -> tuple[str, str]:
    from berth.spec.reference import Reference

    ref = Reference.parse(name)
    return ref.name, ref.tag or "<none>"


# -- berth images / image ls ----------------------------------------------------------------------


def _ls(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json, print_table
    from berth.engine.units import human_size
    from berth.image.catalog import check_filter, list_images, matches

    filters = [*args.filter, *([f"reference={args.reference}"] if args.reference else [])]
    for text in filters:
        check_filter(text)
    with _store(args) as images:
        entries = [e for e in list_images(images) if all(matches(e, f) for f in filters)]
    entries.sort(key=lambda e: e.created, reverse=True)
    if args.format == "json":
        print_json([_ls_json(e) for e in entries])
        return 0
    if args.quiet:
        for entry in entries:
            print(_show_id(entry.id, args.no_trunc))
        return 0
    rows = []
    for entry in entries:
        digest = entry.manifest_digest or "<none>"
        when, size = _ago(entry.created), human_size(entry.size)
        for repo, tag in [_repo_tag(n) for n in entry.names] or [("<none>", "<none>")]:
            row = [repo, tag, *([digest] if args.digests else []), _show_id(entry.id, args.no_trunc)]
            rows.append([*row, when, size])
    headers = ["REPOSITORY", "TAG", *(["DIGEST"] if args.digests else []), "IMAGE ID", "CREATED", "SIZE"]
    print_table(headers, rows)
    return 0


def _show_id(image_id: str, full: bool) -> str:
    return f"sha256:{image_id}" if full else image_id[:12]


def _ls_json(entry: CatalogImage) -> dict[str, Any]:
    return {
        "Id": entry.id,
        "ParentId": "",
        "RepoTags": entry.names,
        "RepoDigests": entry.repo_digests,
        "Created": int(entry.created),
        "Size": entry.size,
        "Labels": entry.labels or None,
        "Dangling": not entry.names,
        "Names": entry.names,
        "Digest": entry.manifest_digest,
        **({"Error": entry.error} if entry.error else {}),
    }


# -- inspect, history ---------------------------------------------------------------------------


def _inspect(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json
    from berth.image.catalog import find_image

    with _store(args) as images:
        found = [find_image(images, text)[0] for text in args.images]
    print_json([_inspect_json(entry) for entry in found])
    return 0


def _inspect_json(entry: CatalogImage) -> dict[str, Any]:
    if entry.resolved is None:
        raise BerthError(f"image {entry.records[0].name}: {entry.error}")
    cfg = entry.resolved.config
    history = [h.to_json() for h in cfg.history]
    return {
        "Id": entry.id,
        "Digest": entry.digest,
        "RepoTags": entry.names,
        "RepoDigests": entry.repo_digests,
        "Parent": "",
        "Comment": cfg.history[-1].comment if cfg.history else "",
        "Created": cfg.created,
        "Config": cfg.config.to_json(),
        "Version": "",
        "Author": cfg.author,
        "Architecture": cfg.architecture,
        "Os": cfg.os,
        **({"Variant": cfg.variant} if cfg.variant else {}),
        "Size": entry.size,
        "VirtualSize": entry.size,
        "Labels": dict(cfg.config.labels) or None,
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in cfg.diff_ids]},
        "ManifestType": entry.resolved.manifest.media_type,
        "User": cfg.config.user,
        "History": history,
    }


def _history(args: argparse.Namespace) -> int:
    from berth.cli._format import print_json, print_table
    from berth.engine.units import human_size
    from berth.image.catalog import find_image, history

    with _store(args) as images:
        entry, _ = find_image(images, args.image)
    if entry.resolved is None:
        raise BerthError(f"image {args.image}: {entry.error}")
    rows = history(entry.resolved)
    if args.format == "json":
        print_json(
            [
                {
                    "id": r.id,
                    "created": r.created,
                    "createdBy": r.created_by,
                    "size": r.size,
                    "comment": r.comment,
                }
                for r in rows
            ]
        )
        return 0
    table = [
        [_history_id(r.id, args.no_trunc), _when(r.created), r.created_by, human_size(r.size), r.comment]
        for r in rows
    ]
    print_table(["ID", "CREATED", "CREATED BY", "SIZE", "COMMENT"], table)
    return 0


def _history_id(image_id: str, full: bool) -> str:
    return image_id if image_id == "<missing>" else _show_id(image_id, full)


def _when(created: str) -> str:
    from berth.image.catalog import timestamp

    stamp = timestamp(created) if created else None
    return _ago(stamp) if stamp is not None else (created or "<unknown>")


# -- tag, rmi, prune, fsck ----------------------------------------------------------------------


def _tag(args: argparse.Namespace) -> int:
    from berth.image.catalog import find_image, local_name
    from berth.image.importer import record_image

    new = [local_name(name) for name in args.names]  # all checked before any is written
    with _store(args) as images:
        entry, _ = find_image(images, args.image)
        for name in new:
            record_image(images, name, entry.records[0].target)
            _image_event(args, "tag", name, entry.id)
    return 0


def _image_event(args: argparse.Namespace | EngineConfig, status: str, name: str, image_id: str = "") -> None:
    from berth.engine.event_log import object_event

    config = _config(args) if isinstance(args, argparse.Namespace) else args
    object_event(config, "image", status, name, image_id)


def _rmi(args: argparse.Namespace) -> int:
    from berth.engine.images.manage import prune_unused_snapshots, remove_image

    config = _config(args)
    with _store(args) as images:
        removed: list[tuple[str, str]] = []
        for text in args.images:
            removed += remove_image(
                config, images, text, args.force, lambda users: _remove_containers(config, users)
            )
        images.gc()
        prune_unused_snapshots(config, images)
    for kind, what in removed:
        print(f"{kind}: {what}")
    return 0


def _remove_containers(config: EngineConfig, names: list[str]) -> None:
    # podman rmi --force: the containers using the image go first.
    from berth.engine.containers.remove import remove_container
    from berth.engine.engine import Engine

    with Engine(config) as engine:
        for name in names:
            remove_container(engine, name, force=True)


def _prune(args: argparse.Namespace) -> int:
    from berth.engine.images.manage import prune_images
    from berth.engine.units import human_size

    with _store(args) as images:
        doomed, report = prune_images(_config(args), images, args.all)
    for entry in doomed:
        print(entry.id)
    if not args.quiet and report.freed_bytes:
        print(f"Freed {human_size(report.freed_bytes)} ({len(report.removed_blobs)} blobs)", file=sys.stderr)
    return 0


def _fsck(args: argparse.Namespace) -> int:
    from berth.image.fsck import fsck

    with _store(args) as images:
        problems = fsck(images.content, images, repair=args.repair)
    for problem in problems:
        print(problem)
    if problems:
        raise BerthError(f"image store check found {len(problems)} problem(s)")
    print("image store is consistent")
    return 0


# -- import, commit ------------------------------------------------------------------------------


@contextlib.contextmanager
def _spooled_stdin(what: str) -> Iterator[Path]:
    """Standard input saved to a temporary file (archives and tarballs are read more than once)."""
    if sys.stdin.isatty():
        raise InvalidArgument(f"no {what} given and standard input is a terminal")
    import tempfile

    fd, name = tempfile.mkstemp(prefix="berth-stdin-")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield Path(name)
    finally:
        os.unlink(name)


def _import(args: argparse.Namespace) -> int:
    from berth.image.importer import import_image

    with contextlib.ExitStack() as stack:
        source = stack.enter_context(_spooled_stdin("tarball")) if args.source == "-" else Path(args.source)
        images = stack.enter_context(_store(args))
        stored = import_image(
            images,
            source,
            args.reference,
            changes=args.change,
            message=args.message,
            source_name="standard input" if args.source == "-" else "",
        )
    _image_event(args, "tag", stored.name, stored.image_id)  # podman 4.3 records an import as its tag
    print(f"sha256:{stored.image_id}")
    return 0


def _commit(args: argparse.Namespace) -> int:
    from berth.engine.containers.commit import commit_container
    from berth.engine.engine import Engine

    with Engine(_config(args)) as engine, _store(args) as images:
        stored = commit_container(
            engine,
            images,
            args.container,
            reference=args.reference,
            changes=args.change,
            message=args.message,
            author=args.author,
            pause=args.pause,
        )
    if not args.quiet:
        print(f"sha256:{stored.image_id}")
    return 0


def _exists(args: argparse.Namespace) -> int:
    # podman image exists: status 0 or 1, no output.
    from berth.image.catalog import find_image

    with _store(args) as images:
        try:
            find_image(images, args.image)
        except NotFound:
            return 1
    return 0


# -- save, load ---------------------------------------------------------------------------------


def _save(args: argparse.Namespace) -> int:
    root = _config(args).root
    if args.output:
        _write_archive(args, root, Path(args.output))
        return 0
    if sys.stdout.isatty():
        raise InvalidArgument("refusing to write an archive to a terminal: use -o FILE or redirect")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="berth-save-") as tmp:
        out = Path(tmp) / "archive.tar"
        _write_archive(args, root, out)
        with open(out, "rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer, 1 << 20)
    sys.stdout.flush()
    return 0


def _write_archive(args: argparse.Namespace, root: Path, output: Path) -> None:
    """podman's rules: without -m the names after the first are more tags for the first image; with
    -m each names an image (docker-archive only)."""
    from berth.distribution.archive import OCI_ARCHIVE, save, save_docker_archive
    from berth.image.catalog import find_image
    from berth.image.importer import is_untagged

    if args.format == OCI_ARCHIVE and len(args.images) > 1:
        raise InvalidArgument("an oci-archive holds one image here: use --format docker-archive for several")
    with _store(args) as images:
        found = [
            find_image(images, text)
            for text in (args.images if args.multi_image_archive else args.images[:1])
        ]
    if args.format == OCI_ARCHIVE:
        entry, record = found[0]
        save(root, record.name if record is not None else entry.records[0].name, output, OCI_ARCHIVE)
        _image_event(args, "save", entry.names[0] if entry.names else entry.id, entry.id)
        return
    groups: dict[str, tuple[str, list[str]]] = {}
    for entry, record in found:
        tags = groups.setdefault(entry.id, (entry.records[0].name, []))[1]
        if record is not None and not is_untagged(record.name) and record.name not in tags:
            tags.append(record.name)
    if not args.multi_image_archive:
        groups[found[0][0].id][1].extend(args.images[1:])
    save_docker_archive(root, list(groups.values()), output)
    for entry, _record in found:
        _image_event(args, "save", entry.names[0] if entry.names else entry.id, entry.id)


def _load(args: argparse.Namespace) -> int:
    from berth.distribution.archive import load
    from berth.trust.admission import default_admission

    root = _config(args).root
    admit = default_admission(root, args.signature_policy)
    with contextlib.ExitStack() as stack:
        source = Path(args.input) if args.input else stack.enter_context(_spooled_stdin("archive (-i FILE)"))
        names = load(root, source, admit)
    for name in names:
        _image_event(args, "loadfromarchive", name)
    if not args.quiet:
        for name in names:  # podman 4.3 prints one line per image
            print(f"Loaded image: {name}")
    return 0


# -- registration ---------------------------------------------------------------------------------


def _ls_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all images (Berth keeps no intermediates)")
    p.add_argument("-q", "--quiet", action="store_true", help="image IDs only")
    p.add_argument("--digests", action="store_true", help="show manifest digests")
    p.add_argument("--no-trunc", action="store_true", help="full image IDs")
    p.add_argument("--format", default="", choices=["", "table", "json"], help="json: podman's fields")
    p.add_argument(
        "-f", "--filter", action="append", default=[], help="dangling=BOOL, reference=GLOB, label=KEY[=VALUE]"
    )
    p.add_argument("reference", nargs="?", help="only images whose name matches this (a glob)")
    p.set_defaults(handler=_ls)


def _history_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("image")
    p.add_argument("--no-trunc", action="store_true", help="full IDs")
    p.add_argument("--format", default="", choices=["", "table", "json"])
    p.set_defaults(handler=_history)


def _tag_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("image")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(handler=_tag)


def _rmi_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="also remove containers using the images")
    p.set_defaults(handler=_rmi)


def _change_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c", "--change", action="append", default=[], help="Dockerfile instruction: CMD, ENV, EXPOSE, ..."
    )
    p.add_argument("-m", "--message", default="", help="history comment")


def _import_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="tarball (plain, gzip, zstd, xz, bzip2), directory, or - for stdin")
    p.add_argument("reference", nargs="?")
    _change_flags(p)
    p.set_defaults(handler=_import)


def _save_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", help="archive file (default: standard output)")
    p.add_argument("--format", default="docker-archive", choices=["docker-archive", "oci-archive"])
    p.add_argument(
        "-m", "--multi-image-archive", action="store_true", help="each IMAGE is an image, not a further tag"
    )
    p.set_defaults(handler=_save)


def _load_parser(p: argparse.ArgumentParser) -> None:
    from berth.cli.images_remote import _policy_flag

    p.add_argument("-i", "--input", help="archive file (default: standard input)")
    p.add_argument("-q", "--quiet", action="store_true")
    _policy_flag(p)
    p.set_defaults(handler=_load)


# Verbs spelt both ``berth VERB`` and ``berth image IMAGE_VERB``, as podman has them:
# (VERB, IMAGE_VERB, parser builder, help).
_IMAGE_VERBS: tuple[tuple[str, str, Callable[[argparse.ArgumentParser], None], str], ...] = (
    ("images", "ls", _ls_parser, "list images in the local store"),
    ("history", "history", _history_parser, "show an image's history"),
    ("tag", "tag", _tag_parser, "add names to an image"),
    ("rmi", "rm", _rmi_parser, "remove images"),
    ("import", "import", _import_parser, "make an image from a root filesystem tarball or directory"),
    ("save", "save", _save_parser, "write an image to a docker-archive or oci-archive"),
    ("load", "load", _load_parser, "load the images of a docker-archive or oci-archive"),
)


def register(sub: Any) -> None:
    """Add images, image, history, tag, rmi, import, commit, save and load."""
    for verb, _, build, text in _IMAGE_VERBS:
        build(sub.add_parser(verb, help=text))

    commit = sub.add_parser("commit", help="make an image from a container's changes")
    commit.add_argument("container")
    commit.add_argument("reference", nargs="?")
    _change_flags(commit)
    commit.add_argument("-a", "--author", default="", help="image author")
    commit.add_argument("-q", "--quiet", action="store_true")
    commit.add_argument(
        "-p", "--pause", action="store_true", help="pause a running container while committing"
    )
    commit.set_defaults(handler=_commit)

    image = sub.add_parser("image", help="manage images")
    isub = image.add_subparsers(dest="image_command", metavar="COMMAND", required=True)
    for _, verb, build, text in _IMAGE_VERBS:
        build(isub.add_parser(verb, aliases=["list"] if verb == "ls" else [], help=text))
    from berth.cli.build import build_parser

    build_parser(isub.add_parser("build", help="build an image from a Containerfile"))
    inspect = isub.add_parser("inspect", help="show images' configuration as JSON")
    inspect.add_argument("images", nargs="+", metavar="IMAGE")
    inspect.set_defaults(handler=_inspect)
    prune = isub.add_parser(
        "prune", help="remove untagged images (-a: every unused image), then unused blobs"
    )
    prune.add_argument("-a", "--all", action="store_true")
    prune.add_argument("-f", "--force", action="store_true", help="accepted for podman compatibility")
    prune.add_argument("-q", "--quiet", action="store_true")
    prune.set_defaults(handler=_prune)
    exists = isub.add_parser("exists", help="exit 0 if the image is in the store, 1 if not")
    exists.add_argument("image")
    exists.set_defaults(handler=_exists)
    fsck = isub.add_parser("fsck", help="rehash every blob and check every image's blobs are present")
    fsck.add_argument("--repair", action="store_true", help="remove corrupt blobs (pull them again)")
    fsck.set_defaults(handler=_fsck)
