"""Registry credentials in ``auth.json`` (containers-auth.json(5)) and ``~/.docker/config.json``.

Both files hold ``{"auths": {KEY: {"auth": base64("user:password")}}}``. A key is a registry host
(``quay.io``), optionally followed by a namespace or repository (``quay.io/team/app``) for
narrower credentials; Docker's older keys carry a scheme and path (``https://index.docker.io/v1/``).
``berth login`` writes the primary auth.json, atomically and under a lock.

Files searched, in order (the first that has a matching entry wins), as podman and skopeo do:
``--authfile`` alone if given, else ``$REGISTRY_AUTH_FILE`` alone if set, else
``$XDG_RUNTIME_DIR/containers/auth.json`` (``/run/containers/<uid>/auth.json`` without it),
``$XDG_CONFIG_HOME/containers/auth.json`` and ``~/.docker/config.json``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.distribution.registries_conf import AUTH_FILES_HELPER
from berth.errors import InvalidArgument, NotFound
from berth.fsutil import atomic_write, locked

#: Hosts that all mean Docker Hub (Docker's own config uses the first form as its key).
_DOCKER_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "docker.io"}


@dataclass(frozen=True)
class Credentials:
    """A username and password, or an OAuth2 refresh token (``identitytoken``) from docker login."""

    username: str
    password: str
    identity_token: str | None = None

    def __repr__(self) -> str:  # never print secrets in tracebacks or logs
        return f"Credentials(username={self.username!r}, password=***)"


def primary_auth_file(authfile: str | os.PathLike[str] | None = None) -> Path:
    """The file ``berth login`` writes and ``berth logout`` edits."""
    return auth_file_paths(authfile)[0]


def auth_file_paths(authfile: str | os.PathLike[str] | None = None) -> list[Path]:
    """Credential files to search, in order (see the module docstring)."""
    if authfile:
        return [Path(authfile)]
    env = os.environ.get("REGISTRY_AUTH_FILE")
    if env:
        return [Path(env)]
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/run/containers/{os.geteuid()}"
    home = Path(os.environ.get("HOME") or os.path.expanduser("~"))
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    paths = [Path(runtime_dir) / "containers/auth.json", config_home / "containers/auth.json"]
    docker_config = os.environ.get("DOCKER_CONFIG")
    paths.append(Path(docker_config) / "config.json" if docker_config else home / ".docker/config.json")
    return paths


def normalize_key(key: str) -> str:
    """The canonical form of an ``auths`` key: no scheme, Docker Hub as ``docker.io``.

    >>> normalize_key("https://index.docker.io/v1/")
    'docker.io'
    """
    key = key.strip()
    legacy = False
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key, legacy = key[len(scheme) :], True
    if legacy:  # Docker's keys name a URL whose path is not a namespace
        key = key.split("/", 1)[0]
    key = key.rstrip("/")
    host, sep, rest = key.partition("/")
    if host in _DOCKER_HUB_ALIASES:
        host = "docker.io"
    return host + sep + rest


def decode_auth(value: str, where: str) -> tuple[str, str]:
    """Split a base64 ``user:password`` ``auth`` field; ``InvalidArgument`` if it is malformed."""
    try:
        text = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(f"{where}: auth field is not base64 of user:password") from None
    user, sep, password = text.partition(":")
    if not sep:
        raise InvalidArgument(f"{where}: auth field has no ':' between user and password")
    return user, password


def parse_auth_file(data: bytes, where: str = "auth file") -> dict[str, Credentials]:
    """The credentials in one auth.json or config.json, by normalized key.

    Entries with neither an ``auth`` field nor an ``identitytoken`` (e.g. those a credential helper
    holds) are skipped.
    """
    try:
        doc = json.loads(data) if data.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidArgument(f"{where}: not valid JSON ({err})") from None
    auths = doc.get("auths", {}) if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise InvalidArgument(f"{where}: 'auths' is not an object")
    found: dict[str, Credentials] = {}
    for key, entry in auths.items():
        if not isinstance(entry, dict):
            raise InvalidArgument(f"{where}: entry {key!r} is not an object")
        token = entry.get("identitytoken") or None
        auth = entry.get("auth")
        if auth:
            user, password = decode_auth(str(auth), f"{where}: {key}")
        elif token:
            user, password = "", ""
        else:
            continue
        found.setdefault(normalize_key(key), Credentials(user, password, token))
    return found


def _candidate_keys(registry: str, repository: str | None) -> list[str]:
    """``host/a/b``, ``host/a``, ``host``: most specific first (containers-auth.json(5))."""
    host = normalize_key(registry)
    keys = []
    if repository:
        parts = repository.split("/")
        keys = [f"{host}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    return [*keys, host]


def lookup(
    registry: str,
    repository: str | None = None,
    authfile: str | os.PathLike[str] | None = None,
    helpers: Sequence[str] = (AUTH_FILES_HELPER,),
) -> Credentials | None:
    """The stored credentials for ``registry`` (and ``repository``), or None for anonymous access.

    ``helpers`` is registries.conf's ``credential-helpers``: asked in order, ``containers-auth.json``
    meaning the auth files, any other name ``docker-credential-NAME`` for the registry's host. The
    first that has credentials wins; if none has and one failed, its error.
    """
    failure: InvalidArgument | None = None
    for helper in helpers:
        try:
            if helper == AUTH_FILES_HELPER:
                found = _lookup_in_files(registry, repository, authfile)
            else:
                found = run_credential_helper(helper, normalize_key(registry).split("/", 1)[0])
        except InvalidArgument as err:
            failure = failure or err
            continue
        if found is not None:
            return found
    if failure is not None:
        raise failure
    return None


def _lookup_in_files(
    registry: str, repository: str | None, authfile: str | os.PathLike[str] | None
) -> Credentials | None:
    keys = _candidate_keys(registry, repository)
    for path in auth_file_paths(authfile):
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as err:
            raise InvalidArgument(f"cannot read {path}: {err.strerror}") from None
        entries = parse_auth_file(data, str(path))
        for key in keys:
            if key in entries:
                return entries[key]
        helper = _helper_for(data, keys[-1])
        if helper is not None:
            return run_credential_helper(helper, keys[-1])
    return None


def _helper_for(data: bytes, host: str) -> str | None:
    """The credential helper a config names for ``host`` (``credHelpers``, else ``credsStore``)."""
    doc = json.loads(data) if data.strip() else {}
    helpers = doc.get("credHelpers") or {}
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if normalize_key(key) == host and isinstance(name, str) and name:
                return name
    store_name = doc.get("credsStore")
    return store_name if isinstance(store_name, str) and store_name else None


def run_credential_helper(helper: str, host: str) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` for ``host``'s credentials (docker-credential-helpers'
    protocol: the server URL on stdin, ``{"Username": ..., "Secret": ...}`` on stdout).

    None if the helper has none for ``host``; ``InvalidArgument`` if it is missing or fails.
    """
    import subprocess

    program = f"docker-credential-{helper}"
    server = "https://index.docker.io/v1/" if host == "docker.io" else host
    try:
        out = subprocess.run([program, "get"], input=server.encode(), capture_output=True, timeout=60)
    except FileNotFoundError:
        raise InvalidArgument(f"credential helper {program} is not installed") from None
    except subprocess.TimeoutExpired:
        raise InvalidArgument(f"credential helper {program} did not answer within 60 s") from None
    if out.returncode != 0:
        message = (out.stdout or out.stderr).decode(errors="replace").strip()
        if "credentials not found" in message.lower():
            return None
        raise InvalidArgument(
            f"credential helper {program} failed: {message.splitlines()[0] if message else out.returncode}"
        )
    try:
        doc = json.loads(out.stdout)
        user, secret = str(doc["Username"]), str(doc["Secret"])
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(f"credential helper {program} sent a malformed answer") from None
    if user == "<token>":  # the helpers' convention for an identity (refresh) token
        return Credentials("", "", secret)
    return Credentials(user, secret)


def _load_document(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    parse_auth_file(data, str(path))  # refuse to rewrite a file we cannot read
    doc = json.loads(data) if data.strip() else {}
    return doc if isinstance(doc, dict) else {}


def _rewrite(path: Path, edit: Mapping[str, Any] | None, key: str) -> bool:
    """Set (``edit`` given) or drop the ``auths`` entry ``key``; True if the file changed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with locked(path.with_name(f".{path.name}.lock")):
        doc = _load_document(path)
        auths = doc.setdefault("auths", {})
        matching = [k for k in auths if normalize_key(k) == key]
        if edit is None and not matching:
            return False
        for k in matching:
            del auths[k]
        if edit is not None:
            auths[key] = dict(edit)
        atomic_write(path, (json.dumps(doc, indent="\t") + "\n").encode(), mode=0o600)
        return True


def store(
    registry: str, username: str, password: str, authfile: str | os.PathLike[str] | None = None
) -> Path:
    """Record ``username``/``password`` for ``registry`` in the primary auth file; return its path."""
    if ":" in username:
        raise InvalidArgument("username must not contain ':'")
    path = primary_auth_file(authfile)
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    _rewrite(path, {"auth": auth}, normalize_key(registry))
    return path


def remove(registry: str, authfile: str | os.PathLike[str] | None = None) -> Path:
    """Drop the credentials for ``registry`` from the primary auth file; ``NotFound`` if none."""
    path = primary_auth_file(authfile)
    if not path.exists() or not _rewrite(path, None, normalize_key(registry)):
        raise NotFound(f"not logged in to {registry} (no entry in {path})")
    return path
