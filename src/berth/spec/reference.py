"""Image references (``[domain/]path[:tag][@digest]``) with Docker's normalization.

The grammar and the normalization rules are those of distribution/reference (regexp.go and
normalize.go): ``alpine`` is ``docker.io/library/alpine:latest``; the first path element is a domain
only if it contains ``.`` or ``:``, is ``localhost``, or has an uppercase letter; ``index.docker.io``
is ``docker.io``; a name is at most 255 characters; path components are lowercase.

    ref = Reference.parse("alpine")      # docker.io/library/alpine:latest
    ref.domain, ref.path, ref.tag        # ('docker.io', 'library/alpine', 'latest')
    ref.familiar()                       # 'alpine:latest'
"""

from __future__ import annotations

import re

from berth.errors import InvalidArgument
from berth.spec.descriptor import parse_digest
from berth.spec.digest import Digest
from berth.spec.records import record

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
#: reference.go NameTotalLengthMax: the longest name (domain and path) a reference may have.
NAME_TOTAL_LENGTH_MAX = 255

# regexp.go, transcribed: separators are one period, one or two underscores, or any dashes.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = re.compile(rf"^{_HOST}(?::[0-9]+)?\Z")
_PATH = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*\Z")
_TAG = re.compile(r"^[\w][\w.-]{0,127}\Z", re.ASCII)
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}\Z")


@record(frozen=True)
class Reference:
    """A normalized image reference; ``str()`` gives the canonical ``docker.io/library/x:tag`` form."""

    domain: str
    path: str
    tag: str = ""
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str, default_tag: bool = True) -> Reference:
        """Parse and normalize ``text``; with ``default_tag`` a bare name gets the tag ``latest``.

        Raises ``InvalidArgument`` naming the reference and what is wrong with it.
        """
        if not isinstance(text, str) or not text:
            raise InvalidArgument(f"invalid reference {text!r}: empty")
        if _IDENTIFIER.match(text):
            raise InvalidArgument(f"invalid reference {text!r}: a 64-hex-digit id is not a repository name")
        rest, _, digest_text = text.partition("@")
        digest = None
        if digest_text:
            digest = parse_digest(digest_text, f"invalid reference {text!r}")
        elif text.endswith("@"):
            raise InvalidArgument(f"invalid reference {text!r}: empty digest")
        name, tag = _split_tag(rest, text)
        domain, path = _split_domain(name)
        _check_name(domain, path, text)
        if not tag and digest is None and default_tag:
            tag = DEFAULT_TAG
        return cls(domain, path, tag, digest)

    @property
    def name(self) -> str:
        """``domain/path``: the repository, without tag or digest."""
        return f"{self.domain}/{self.path}"

    def familiar(self) -> str:
        """The short form Docker shows: ``alpine:latest``, ``user/app@sha256:...``."""
        name = self.name
        if self.domain == DEFAULT_DOMAIN:
            short = self.path.removeprefix(OFFICIAL_REPO_PREFIX)
            name = short if "/" not in short else self.path
            if _split_domain(name)[0] != DEFAULT_DOMAIN:
                # docker.io/a.b/c shortened to a.b/c would read back as domain a.b: keep the domain.
                name = self.name
        return name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        """This repository with ``tag`` (and no digest)."""
        if not _TAG.match(tag):
            raise InvalidArgument(f"invalid tag {tag!r}")
        return Reference(self.domain, self.path, tag)

    def with_digest(self, digest: Digest) -> Reference:
        """This repository pinned to ``digest`` (and no tag)."""
        return Reference(self.domain, self.path, "", digest)

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest is not None else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def _split_tag(rest: str, text: str) -> tuple[str, str]:
    # The tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            raise InvalidArgument(f"invalid reference {text!r}: invalid tag {tag!r}")
        return name, tag
    return rest, ""


def _split_domain(name: str) -> tuple[str, str]:
    # normalize.go splitDockerDomain.
    first, slash, remainder = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if first == LEGACY_DEFAULT_DOMAIN:
        domain, path = DEFAULT_DOMAIN, remainder
    elif first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, path = first, remainder
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return domain, path


def _check_name(domain: str, path: str, text: str) -> None:
    if path.lower() != path:
        raise InvalidArgument(f"invalid reference {text!r}: repository name must be lowercase")
    if not _DOMAIN.match(domain):
        raise InvalidArgument(f"invalid reference {text!r}: invalid domain {domain!r}")
    if not _PATH.match(path):
        raise InvalidArgument(f"invalid reference {text!r}: invalid repository path {path!r}")
    if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(
            f"invalid reference {text!r}: name longer than {NAME_TOTAL_LENGTH_MAX} characters"
        )


def is_short_name(text: str) -> bool:
    """Whether ``text`` names no registry: its first ``/``-separated part has no ``.`` or ``:`` and
    is not ``localhost`` (containers/image's rule, which unlike Docker's ignores uppercase)."""
    first, slash, _ = text.partition("/")
    if not slash:
        return True
    return not (any(c in first for c in ".:") or first == "localhost")
