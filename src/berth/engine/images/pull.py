"""Fetching a missing image for ``run``/``create`` (podman's ``--pull missing``, the default).

The engine does not speak the registry protocol itself: it asks the distribution layer to copy
``docker://REFERENCE`` into Berth's own store (the ``berth:`` transport), exactly what ``berth pull``
does, so an image fetched by ``run`` is the same as one pulled first.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from berth.distribution.registries_conf import RegistriesConf
    from berth.distribution.transports import CopyOptions
    from berth.engine.config import EngineConfig
    from berth.spec.reference import Reference

#: ``--pull`` policies, as podman names them.
POLICIES = ("missing", "always", "never")


def check_policy(policy: str) -> str:
    """``policy`` if it is one of ``POLICIES``."""
    if policy not in POLICIES:
        raise InvalidArgument(f"invalid --pull {policy!r}: want missing, always or never")
    return policy


def pull_options(config: EngineConfig) -> CopyOptions:
    """How every pull into the store is copied (``run``/``create``, ``kube play``, the CRI's
    PullImage), as on ``berth pull``: the signature policy decides before anything is written, so
    a refused image leaves nothing in the store, and the signatures read come in with the image."""
    from berth.distribution.transports import CopyOptions
    from berth.trust.admission import default_admission
    from berth.trust.carry import SignatureReader, signature_copier
    from berth.trust.registries_d import load_registries_d

    reader = SignatureReader(load_registries_d())
    return CopyOptions(
        admit=default_admission(config.root, reader=reader), signatures=signature_copier(reader)
    )


def pull_image(config: EngineConfig, reference: str, tls_verify: bool | None) -> str:
    """Copy what ``reference`` names from its registry into the store under ``config.root``; the
    name it is stored under (a short name resolved through registries.conf, as ``berth pull``)."""
    from berth.distribution.shortnames import pull_name
    from berth.distribution.transports import TransportContext, copy

    options = pull_options(config)

    def attempt(ref: Reference, conf: RegistriesConf) -> None:
        ctx = TransportContext(tls_verify=tls_verify, registries_conf=conf, root=config.root)
        copy(f"docker://{ref}", f"berth:{ref}", ctx, options)

    from berth.engine.event_log import object_event

    name = str(pull_name(reference, attempt)[0])
    object_event(config, "image", "pull", name)
    return name


def local_names(reference: str) -> list[str]:
    """The names ``reference`` may have in the store, in podman's lookup order (a short name's
    alias, ``localhost/``, the search registries)."""
    from berth.spec.reference import Reference, is_short_name

    if not is_short_name(reference):  # the common case needs no registries.conf (nor its parser)
        return [str(Reference.parse(reference))]
    from berth.distribution.registries_files import load
    from berth.distribution.shortnames import local_names as names

    return names(reference, load)
