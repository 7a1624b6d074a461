"""What ADD does beyond COPY (Dockerfile reference, ADD): a local tar archive is unpacked, a URL is
fetched.

An archive is a tar stream, plain or compressed in a way Berth's layer code reads (gzip, zstd);
it is unpacked into the destination directory with the owners, modes and mtimes it holds (as
buildah 1.28 does, ``--chown``/``--chmod`` apply only to the directories made for it). A URL's
file is written 0600 (``--chmod`` aside), its mtime the ``Last-Modified`` header's when there is
one; it is never unpacked.

    fetched = fetch("http://127.0.0.1:8000/a.tgz", scratch)  # a Path in scratch
    if is_archive(path):
        unpack_archive(path, root_dir)
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import os
import posixpath
import urllib.parse
from pathlib import Path

from berth.errors import InvalidArgument, NotFound

_TAR_MAGIC = b"ustar"


def is_url(word: str) -> bool:
    """Whether an ADD source is a URL (http or https)."""
    return word.startswith(("http://", "https://"))


def url_name(url: str) -> str:
    """The file name a fetched URL gets under a destination directory: its path's last part."""
    return posixpath.basename(urllib.parse.urlsplit(url).path.rstrip("/")) or "index.html"


def fetch(url: str, into: Path, checksum: str | None = None) -> Path:
    """Download ``url`` into the directory ``into``; the file, its mtime from ``Last-Modified``.

    ``checksum`` (``sha256:HEX``, ADD ``--checksum``) must match. Errors name the URL.
    """
    import urllib.error
    import urllib.request

    path = into / hashlib.sha256(url.encode()).hexdigest()
    sha = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
            while chunk := response.read(1 << 20):
                sha.update(chunk)
                out.write(chunk)
            modified = response.headers.get("Last-Modified")
    except urllib.error.HTTPError as err:
        raise NotFound(f"ADD {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
        raise InvalidArgument(f"ADD {url}: {reason}") from None
    if checksum is not None and checksum != f"sha256:{sha.hexdigest()}":
        raise InvalidArgument(f"ADD {url}: checksum sha256:{sha.hexdigest()} is not {checksum}")
    if modified:
        with contextlib.suppress(TypeError, ValueError, OverflowError):  # not a date: mtime kept
            when = email.utils.parsedate_to_datetime(modified).timestamp()
            os.utime(path, (when, when))
    return path


def is_archive(path: Path) -> bool:
    """Whether the regular file ``path`` holds a tar stream, plain or gzip or zstd compressed."""
    from berth.image.layers import InvalidLayer, LayerReader

    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as blob:
        head = b""
        try:
            chunks = LayerReader(blob).chunks()
            try:
                for chunk in chunks:
                    head += chunk
                    if len(head) >= 262:
                        break
            finally:
                chunks.close()
        except (InvalidLayer, OSError, EOFError, ValueError):
            return False
    return head[257:262] == _TAR_MAGIC


def unpack_archive(archive: Path, directory: Path) -> None:
    """Unpack the tar archive ``archive`` into the host directory ``directory`` (entries confined to
    it), keeping the archive's owners, modes and mtimes; its ``./`` entry is the directory's own
    (buildah 1.28)."""
    from berth.image.layers import InvalidLayer, apply_layer

    with open(archive, "rb") as blob:
        try:
            apply_layer(blob, directory, same_owner=True, root_entry=True)
        except InvalidLayer as err:
            raise InvalidArgument(f"ADD {archive.name}: {err}") from None
