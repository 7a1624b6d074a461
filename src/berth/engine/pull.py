"""Fetching a missing image for ``run``/``create`` (podman's ``--pull missing``, the default).

The engine does not speak the registry protocol itself: it asks the distribution layer to copy
``docker://REFERENCE`` into Berth's own store (the ``berth:`` transport), exactly what ``berth pull``
does, so an image fetched by ``run`` is the same as one pulled first.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from berth.engine.config import EngineConfig

#: ``--pull`` policies, as podman names them.
POLICIES = ("missing", "always", "never")


def check_policy(policy: str) -> str:
    """``policy`` if it is one of ``POLICIES``."""
    if policy not in POLICIES:
        raise InvalidArgument(f"invalid --pull {policy!r}: want missing, always or never")
    return policy


def pull_image(config: EngineConfig, reference: str, tls_verify: bool | None) -> None:
    """Copy ``reference`` from its registry into the store under ``config.root``."""
    from berth.distribution import registries_conf
    from berth.distribution.transports import TransportContext, copy
    from berth.spec.reference import Reference

    ref = Reference.parse(reference)
    ctx = TransportContext(tls_verify=tls_verify, registries_conf=registries_conf.load(), root=config.root)
    copy(f"docker://{ref}", f"berth:{ref}", ctx)
