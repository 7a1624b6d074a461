"""``berth pull``, ``push``, ``copy``, ``login`` and ``logout``: images to and from registries.

berth pull [--platform OS/ARCH[/VARIANT]] [--tls-verify=false] REFERENCE
berth push REFERENCE [DESTINATION]
berth copy [--all] SOURCE DESTINATION          # transport:details, as skopeo copy
berth login [-u USER] [-p PASS | --password-stdin] REGISTRY
berth logout [--all] REGISTRY
berth search [--limit N] [--filter stars=N|is-official=BOOL|is-automated=BOOL] [--format json] TERM
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from berth.cli._format import parse_bool
from berth.errors import InvalidArgument

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any


def _registry_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tls-verify", type=parse_bool, nargs="?", const=True, default=None, metavar="BOOL",
        help="require HTTPS with verified certificates (false: allow HTTP and unverified TLS)",
    )  # fmt: skip
    p.add_argument("--authfile", help="credentials file (default: auth.json, then ~/.docker/config.json)")
    p.add_argument(
        "--creds", metavar="USER[:PASS]", help="credentials for the registry, overriding the authfile"
    )
    p.add_argument("--registries-conf", metavar="FILE", help="mirrors and insecure registries (TOML)")
    p.add_argument("--cert-dir", metavar="DIR", help="CA (*.crt) and client (*.cert, *.key) certificates")


def _copy_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--platform", help="platform to take from an index, os/arch[/variant] (default: this host)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _policy_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--signature-policy", metavar="FILE",
        help="signature policy (default: ~/.config/containers/policy.json, else /etc/containers/policy.json)",
    )  # fmt: skip
    _registries_d_flag(p)


def _registries_d_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--registries.d", dest="registries_d", metavar="DIR",
        help="signature storage configuration (default: ~/.config/containers/registries.d, else "
        "/etc/containers/registries.d)",
    )  # fmt: skip


def _admission(args: argparse.Namespace, reader: Any) -> Any:
    """The signature policy's check for the copier, or None when no policy file exists at all;
    ``reader`` reads signatures for it and for the copy that carries them."""
    if not hasattr(args, "signature_policy"):
        return None
    from berth.engine.config import load_config
    from berth.trust.admission import default_admission

    root = load_config(args.root, getattr(args, "runroot", None)).root
    return default_admission(root, args.signature_policy, reader=reader)


def _search(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from berth.cli._format import print_json, print_table
    from berth.distribution import registries_files
    from berth.distribution.client.search import SearchFilters, search

    found = search(
        args.term,
        registries_files.load(args.registries_conf),
        limit=args.limit,
        filters=SearchFilters.parse(args.filter),
        tls_verify=args.tls_verify,
    )
    if args.format == "json":
        print_json([asdict(r) for r in found])
    else:
        rows = [[r.name, r.description, r.star_count, "[OK]" if r.is_official else ""] for r in found]
        print_table(["NAME", "DESCRIPTION", "STARS", "OFFICIAL"], rows)
    return 0


def register(sub: Any) -> None:
    """Add pull, push, copy, login, logout and search."""
    from berth.cli.trust import sign_flags

    pull = sub.add_parser("pull", help="pull an image from a registry into Berth's store")
    pull.add_argument("reference")
    pull.add_argument("--all-platforms", action="store_true", help="pull every platform of an index")
    _copy_flags(pull)
    _registry_flags(pull)
    _policy_flag(pull)
    pull.set_defaults(handler=_pull)

    push = sub.add_parser("push", help="push an image from Berth's store to a registry")
    push.add_argument("reference")
    push.add_argument("destination", nargs="?", help="REFERENCE or TRANSPORT:DETAILS (default: REFERENCE)")
    push.add_argument("--all-platforms", action="store_true", help="push every platform of an index")
    _copy_flags(push)
    _registry_flags(push)
    _registries_d_flag(push)
    sign_flags(push)
    push.set_defaults(handler=_push)

    cp = sub.add_parser("copy", help="copy an image between transports (docker://, oci:, berth:, archives)")
    cp.add_argument("source")
    cp.add_argument("destination")
    cp.add_argument(
        "--all", action="store_true", dest="all_platforms", help="copy every platform of an index"
    )
    _copy_flags(cp)
    _registry_flags(cp)
    _policy_flag(cp)
    sign_flags(cp)
    for side in ("src", "dest"):  # skopeo's per-side flags; each defaults to the general one
        cp.add_argument(
            f"--{side}-tls-verify", type=parse_bool, nargs="?", const=True, default=None, metavar="BOOL"
        )
        cp.add_argument(f"--{side}-authfile", metavar="FILE")
        cp.add_argument(f"--{side}-creds", metavar="USER[:PASS]")
        cp.add_argument(f"--{side}-cert-dir", metavar="DIR")
    cp.set_defaults(handler=_copy)

    login = sub.add_parser("login", help="check credentials against a registry and store them")
    login.add_argument("registry")
    login.add_argument("-u", "--username")
    login.add_argument("-p", "--password")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _registry_flags(login)
    login.set_defaults(handler=_login)

    logout = sub.add_parser("logout", help="remove stored credentials for a registry")
    logout.add_argument("registry", nargs="?")
    logout.add_argument("--all", "-a", action="store_true", help="remove the whole auth file")
    logout.add_argument("--authfile")
    logout.set_defaults(handler=_logout)

    from berth.distribution.client.search import DEFAULT_LIMIT

    search = sub.add_parser("search", help="search registries for images")
    search.add_argument("term", help="what the names contain; REGISTRY/TERM searches that registry only")
    search.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="results per registry (1-100)")
    search.add_argument(
        "-f", "--filter", action="append", default=[], help="stars=N, is-official=BOOL, is-automated=BOOL"
    )
    search.add_argument("--format", default="", choices=["", "json", "table"])
    search.add_argument("--tls-verify", type=parse_bool, nargs="?", const=True, default=None, metavar="BOOL")
    search.add_argument("--registries-conf", metavar="FILE", help="the search registries (TOML)")
    search.set_defaults(handler=_search)


def _context(args: argparse.Namespace, conf: Any = None) -> Any:
    """The transport settings the flags give; ``conf`` is the registries configuration if already
    read."""
    from berth.distribution import registries_files
    from berth.distribution.credentials import Credentials
    from berth.distribution.transports import TransportContext

    creds = None
    if args.creds:
        user, _, password = args.creds.partition(":")
        creds = Credentials(user, password if _ else _prompt_password())
    return TransportContext(
        tls_verify=args.tls_verify,
        authfile=args.authfile,
        credentials=creds,
        registries_conf=conf if conf is not None else registries_files.load(args.registries_conf),
        root=Path(args.root) if getattr(args, "root", None) else None,
        cert_dir=Path(args.cert_dir) if args.cert_dir else None,
    )


def _side(args: argparse.Namespace, side: str) -> argparse.Namespace:
    """``args`` with ``--SIDE-tls-verify``, ``--SIDE-authfile`` and ``--SIDE-creds`` applied."""
    values = vars(args)
    overrides = {
        key: values[f"{side}_{key}"]
        for key in ("tls_verify", "authfile", "creds", "cert_dir")
        if values.get(f"{side}_{key}") is not None
    }
    return argparse.Namespace(**{**values, **overrides})


def _run_copy(args: argparse.Namespace, src: str, dst: str, conf: Any = None) -> int:
    from berth.cli._progress import bars_for
    from berth.cli.trust import copy_signers

    signers = copy_signers(args, dst) if hasattr(args, "sign_by") else []
    from berth.distribution.transports import CopyOptions, copy
    from berth.spec.platform import Platform
    from berth.trust.carry import SignatureReader, signature_copier
    from berth.trust.registries_d import load_registries_d

    reader = SignatureReader(load_registries_d(args.registries_d))
    options = CopyOptions(
        platform=Platform.parse(args.platform) if args.platform else None,
        all_platforms=getattr(args, "all_platforms", False),
        progress=bars_for(args.quiet),
        admit=_admission(args, reader),
        signatures=signature_copier(reader, signers, remove=getattr(args, "remove_signatures", False)),
    )
    if hasattr(args, "src_tls_verify"):
        result = copy(src, dst, _context(_side(args, "src")), options, _context(_side(args, "dest")))
    else:
        result = copy(src, dst, _context(args, conf), options)
    if not args.quiet:
        print(result.manifest.digest)
    return 0


def _pull(args: argparse.Namespace) -> int:
    from berth.distribution.shortnames import pull_name

    def announce(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr)

    def attempt(ref: Any, conf: Any) -> int:
        announce(f"Trying to pull {ref}...")
        return _run_copy(args, f"docker://{ref}", f"berth:{ref}", conf)

    ref, status = pull_name(args.reference, attempt, berth_file=args.registries_conf, announce=announce)
    _image_event(args, "pull", str(ref))
    return status


def _image_event(args: argparse.Namespace, status: str, name: str) -> None:
    from berth.engine.config import load_config
    from berth.engine.event_log import object_event

    object_event(load_config(args.root, args.runroot), "image", status, name)


def _push(args: argparse.Namespace) -> int:
    from berth.distribution.transports.names import TRANSPORTS
    from berth.spec.reference import Reference

    ref = Reference.parse(args.reference)
    dest = args.destination or str(ref)
    if dest.partition(":")[0] not in (*TRANSPORTS, "containers-storage"):
        dest = f"docker://{Reference.parse(dest)}"
    status = _run_copy(args, f"berth:{ref}", dest)
    _image_event(args, "push", str(ref))
    return status


def _copy(args: argparse.Namespace) -> int:
    return _run_copy(args, args.source, args.destination)


def _login(args: argparse.Namespace) -> int:
    import asyncio

    from berth.distribution import credentials
    from berth.distribution.credentials import Credentials

    username = args.username or input("Username: ")
    if args.password_stdin:
        if args.password:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = args.password if args.password is not None else _prompt_password()
    if not username or not password:
        raise InvalidArgument("a username and a password are required")
    host = credentials.normalize_key(args.registry).split("/", 1)[0]
    creds = Credentials(username, password)
    ctx = _context(argparse.Namespace(**{**vars(args), "creds": None}))

    async def check() -> None:
        async with ctx.client() as client:
            await client.login(host, creds)

    asyncio.run(check())
    credentials.store(args.registry, username, password, args.authfile)
    print("Login Succeeded!")
    return 0


def _logout(args: argparse.Namespace) -> int:
    from berth.distribution import credentials

    if args.all:
        path = credentials.primary_auth_file(args.authfile)
        path.unlink(missing_ok=True)
        print(f"Removed login credentials for all registries ({path})")
        return 0
    if not args.registry:
        raise InvalidArgument("name a registry, or use --all")
    credentials.remove(args.registry, args.authfile)
    print(f"Removed login credentials for {args.registry}")
    return 0


def _prompt_password() -> str:
    """Ask for a password on the terminal (getpass imported only when a prompt is needed)."""
    import getpass

    return getpass.getpass("Password: ")
