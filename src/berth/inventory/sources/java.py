"""Java archives (``*.jar``, ``*.war``, ``*.ear``): the Maven coordinates of each
``META-INF/maven/GROUP/ARTIFACT/pom.properties`` inside, else the name and version its
``META-INF/MANIFEST.MF`` gives (JAR File Specification, "JAR Manifest"); archives nested inside
(``WEB-INF/lib/*.jar``, Spring Boot's ``BOOT-INF/lib/*.jar``) are read the same way.
"""

from __future__ import annotations

import io
import re
import zipfile
from functools import partial

from berth.inventory.model import Package
from berth.inventory.purl import cpe, purl
from berth.inventory.sources._common import ImageFiles, RecordError, Warn, added_in, readable

_ARCHIVE = (".jar", ".war", ".ear")
_POM_PROPERTIES = re.compile(r"^META-INF/maven/[^/]+/[^/]+/pom\.properties$")
#: Nested archives deeper than this are not opened (a bound on a zip bomb's reach).
_MAX_DEPTH = 3
#: A file name's version: "commons-io-2.11.0.jar" -> ("commons-io", "2.11.0").
_FILE_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d[^-]*(?:-[^-]+)*)$")

#: A package of an archive: (group, artifact, version, licence, the member that says so; empty
#: when the archive's file name does).
Found = tuple[str, str, str, str, str]


def wants(path: str) -> bool:
    """Java archives."""
    return path.endswith(_ARCHIVE)


def _properties(text: str) -> dict[str, str]:
    # java.util.Properties' line format, as pom.properties uses it: key=value, # comments.
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if line and line[0] not in "#!":
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip()
    return found


def _manifest(text: str) -> dict[str, str]:
    # JAR manifest: "Name: value" lines, continuation lines begin with one space.
    found: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if line.startswith(" ") and last:
            found[last] += line[1:]
        elif ":" in line:
            last, _, value = line.partition(":")
            found.setdefault(last, value.strip())
        elif not line.strip():
            break  # the main section ends at the first blank line
    return found


def archive_packages(name: str, data: bytes, depth: int = 0) -> list[Found]:
    """The packages of an archive and of the archives nested in it; ``RecordError`` if it is not
    a zip. ``name`` is the archive's path, used to guess a name when the archive says nothing."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as err:
        raise RecordError(f"{name}: not a zip archive ({err})") from None
    found: list[Found] = []
    with archive:
        try:
            for member in sorted(m for m in archive.namelist() if _POM_PROPERTIES.match(m)):
                fields = _properties(archive.read(member).decode("utf-8", "replace"))
                if fields.get("groupId") and fields.get("artifactId") and fields.get("version"):
                    found.append((fields["groupId"], fields["artifactId"], fields["version"], "", member))
            if not found:
                found.extend(_from_manifest(archive, name))
            if depth < _MAX_DEPTH:
                for member in sorted(m for m in archive.namelist() if m.endswith(_ARCHIVE)):
                    inner = archive_packages(f"{name}!/{member}", archive.read(member), depth + 1)
                    found.extend((g, a, v, lic, _inside(member, where)) for g, a, v, lic, where in inner)
        except (zipfile.BadZipFile, OSError, RuntimeError) as err:  # RuntimeError: an encrypted member
            raise RecordError(f"{name}: a damaged zip archive ({err})") from None
    return found


def _from_manifest(archive: zipfile.ZipFile, name: str) -> list[Found]:
    """A package from MANIFEST.MF's Implementation or Bundle fields, else from the file name."""
    fields = {}
    if "META-INF/MANIFEST.MF" in archive.namelist():
        fields = _manifest(archive.read("META-INF/MANIFEST.MF").decode("utf-8", "replace"))
    title = fields.get("Implementation-Title") or fields.get("Bundle-SymbolicName", "").partition(";")[0]
    version = fields.get("Implementation-Version") or fields.get("Bundle-Version", "")
    stem = name.rpartition("/")[2].rpartition(".")[0]
    guess = _FILE_VERSION.match(stem)
    where = "META-INF/MANIFEST.MF"
    if not version and guess is not None:
        title, version, where = title or guess["name"], guess["version"], ""
    if not title or not version:
        return []
    group = fields.get("Implementation-Vendor-Id", "")
    return [(group, title, version, fields.get("Bundle-License", ""), where)]


def _inside(archive: str, member: str) -> str:
    """``ARCHIVE!/MEMBER``, or the archive itself when no member is named."""
    return f"{archive}!/{member}" if member else archive


def packages(image: ImageFiles, warn: Warn) -> list[Package]:
    """The Java packages of the image's archives; an archive that cannot be read is skipped."""
    found = []
    for path, kept, inside in readable(image, wants, archive_packages, warn):
        layer = image.layers[added_in(kept, partial(archive_packages, path))]
        for group, artifact, version, license_text, where in inside:
            found.append(
                Package(
                    type="maven",
                    name=f"{group}:{artifact}" if group else artifact,
                    version=version,
                    purl=purl("maven", artifact, version, group),
                    cpe=cpe(group.rpartition(".")[2] or artifact, artifact, version),
                    layer=layer,
                    path=_inside(path, where),
                    licenses=(license_text,) if license_text else (),
                )
            )
    return found
