"""Admission: the engine's configured rule sets judge a container before anything of it exists.

``[admission] policies`` in berth.toml names directories of Rego rule sets. ``create_container``
(``berth run``, ``create``, ``kube play``'s containers) hands ``judge`` to ``image_rootfs``, which
calls it once the image is in the store and before the container's root, record or bundle is
made. The input is the image's document (as ``berth policy check`` makes it) plus ``container``,
the container's settings. Each verdict is an ``admission`` event; a denied container is one line
naming the first broken rule, exit 125.
"""

from __future__ import annotations

from typing import Any

from berth.errors import BerthError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.engine.config import EngineConfig
    from berth.engine.options import CreateOptions
    from berth.image.images import ImageStore, ResolvedImage


class AdmissionDenied(BerthError):
    """A container that a configured rule refuses."""

    exit_code = 125


def container_part(opts: CreateOptions, name: str) -> dict[str, Any]:
    """``input.container``: the settings a rule may judge, as the user gave them."""
    from berth.engine.options import parse_tmpfs, parse_volume
    from berth.spec.reference import Reference

    try:
        reference = Reference.parse(opts.image)
        registry, repository = reference.domain, f"{reference.domain}/{reference.path}"
    except BerthError:
        registry = repository = ""  # an image ID
    mounts = []
    for text in opts.volumes:
        spec = parse_volume(text)
        kind = "bind" if spec.source else "volume"
        mounts.append({"type": kind, "source": spec.source or spec.name, "destination": spec.destination,
                       "read_only": spec.read_only})  # fmt: skip
    for text in opts.tmpfs:
        mounts.append(
            {"type": "tmpfs", "source": "", "destination": parse_tmpfs(text)[0], "read_only": False}
        )
    return {
        "name": name,
        "image": opts.image,
        "registry": registry,
        "repository": repository,
        "user": opts.user,
        "privileged": opts.privileged,
        "capabilities": {"add": list(opts.cap_add), "drop": list(opts.cap_drop)},
        "security_opt": list(opts.security_opt),
        "read_only": opts.read_only,
        "mounts": mounts,
        "network": opts.network,
        "ports": list(opts.publish),
        "pod": opts.pod,
        "labels": dict(opts.labels),
        "command": list(opts.command),
        "entrypoint": opts.entrypoint,
    }


def judge(
    config: EngineConfig, opts: CreateOptions, name: str
) -> Callable[[ImageStore, ResolvedImage], None]:
    """The ``admit`` hook of ``image_rootfs`` for the container ``name`` made with ``opts``: it
    raises ``AdmissionDenied`` naming the first broken rule."""
    from berth.inventory.policy.check import rule_sets

    modules = rule_sets(list(config.admission_policies), [])  # a bad rule set fails before the image is read

    def admit(store: ImageStore, image: ResolvedImage) -> None:
        from berth.inventory.policy.check import image_document
        from berth.inventory.policy.rego import evaluate

        records = None
        if config.admission_db:
            from berth.inventory.scan import database, match

            records = match.index(database.load(config.admission_db, None))
        document = image_document(store, config.root, opts.image, _warn, records, image)
        document["container"] = container_part(opts, name)
        broken = evaluate(modules, document)
        _event(config, opts.image, name, str(image.descriptor.digest), broken)
        if broken:
            first = broken[0]
            more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
            raise AdmissionDenied(
                f"container {name} denied by {first.package}.{first.rule}: {first.message}{more}"
            )

    return admit


def _warn(line: str) -> None:
    import sys

    print(f"berth: warning: {line}", file=sys.stderr)


def _event(config: EngineConfig, image: str, name: str, digest: str, broken: list[Any]) -> None:
    from berth.events import emit, log_path

    attributes = {"digest": digest, "rules": ", ".join(f"{v.package}.{v.rule}" for v in broken)}
    emit(log_path(config.root), "admission", "deny" if broken else "allow", Image=image, Name=name,
         Attributes={k: v for k, v in attributes.items() if v})  # fmt: skip
