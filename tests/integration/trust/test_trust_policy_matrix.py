"""The signature policy on pulls from Berth's registry: a matrix of policies x images (signed,
unsigned, signed with another key), each verdict as containers-policy.json(5)'s rules give it; and a
refused image leaves nothing in the store."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from berth.distribution.transports import CopyOptions, TransportContext, copy
from berth.spec.reference import Reference
from berth.trust import keys
from berth.trust.admission import audit_log_path, policy_admission
from berth.trust.errors import PolicyError, PolicyRejected
from berth.trust.policy import parse_policy
from berth.trust.registries_d import Namespace, RegistriesD
from tests.integration.registry_client.images import make_layout
from tests.integration.trust.conftest import assert_store_empty, with_client

pytestmark = [pytest.mark.timeout(180)]

ACCEPT = {"type": "insecureAcceptAnything"}
REJECT = {"type": "reject"}
KINDS = ("signed", "unsigned", "wrongkey")
#: registries.d with ``default-docker: {use-sigstore-attachments: true}``.
SIGSTORE_ON = RegistriesD(Namespace(use_sigstore_attachments=True))


@pytest.fixture(scope="module")
def images(
    registry: str, tmp_path_factory: pytest.TempPathFactory, pair: keys.KeyPair, other_pair: keys.KeyPair
) -> dict[str, str]:
    """One image of each kind in repository ``pm/KIND``, tagged v1; and the signed one's digest."""
    from berth.distribution.client.registry import RetryPolicy
    from berth.trust.signing import sign_image

    work = tmp_path_factory.mktemp("images")
    ctx = TransportContext(tls_verify=False, authfile=work / "auth.json", retry=RetryPolicy(base=0.01))
    out = {}
    for kind, signer in zip(KINDS, (pair, None, other_pair), strict=True):
        make_layout(work / kind, "v1", [{"f": kind.encode()}])
        ref = f"{registry}/pm/{kind}:v1"
        out[f"{kind}-digest"] = str(copy(f"oci:{work / kind}:v1", f"docker://{ref}", ctx).manifest.digest)
        if signer is not None:
            key = keys.load_private_key(signer.private_pem, b"pw")
            with_client(ctx, lambda c, ref=ref, key=key: sign_image(c, Reference.parse(ref), key))
        out[kind] = ref
    return out


def _sigstore(key: str, identity: dict[str, str] | None = None) -> dict[str, object]:
    req: dict[str, object] = {"type": "sigstoreSigned", "keyPath": key}
    if identity is not None:
        req["signedIdentity"] = identity
    return req


def policies(host: str, key: str, key_data: str, other: str) -> dict[str, tuple[dict[str, object], set[str]]]:
    """Each policy and the image kinds it accepts (containers-policy.json(5))."""
    repo = f"{host}/pm"
    per_repo = lambda reqs: {"default": [REJECT], "transports": {"docker": {  # noqa: E731
        f"{repo}/{kind}": reqs for kind in KINDS}}}  # fmt: skip
    return {
        "accept anything": ({"default": [ACCEPT]}, set(KINDS)),
        "reject": ({"default": [REJECT]}, set()),
        "sigstore keyPath": (per_repo([_sigstore(key)]), {"signed"}),
        "sigstore keyData": (per_repo([{"type": "sigstoreSigned", "keyData": key_data}]), {"signed"}),
        "other key": (per_repo([_sigstore(other)]), {"wrongkey"}),
        "both keys required": (per_repo([_sigstore(key), _sigstore(other)]), set()),
        "transport default": ({"default": [REJECT], "transports": {"docker": {"": [_sigstore(key)]}}},
                              {"signed"}),
        "repository beats host": ({"default": [REJECT], "transports": {"docker": {
            host: [REJECT], **{f"{repo}/{k}": [ACCEPT] for k in KINDS}}}}, set(KINDS)),
        "tag beats repository": ({"default": [REJECT], "transports": {"docker": {
            **{f"{repo}/{k}:v1": [ACCEPT] for k in KINDS}, **{f"{repo}/{k}": [REJECT] for k in KINDS}}}},
            set(KINDS)),
        "namespace": ({"default": [REJECT], "transports": {"docker": {repo: [_sigstore(key)]}}}, {"signed"}),
        "other transport's scope ignored": ({"default": [ACCEPT], "transports": {"oci": {"": [REJECT]}}},
                                            set(KINDS)),
        "matchExact": (per_repo([_sigstore(key, {"type": "matchExact"})]), {"signed"}),
        "matchRepository": (per_repo([_sigstore(key, {"type": "matchRepository"})]), {"signed"}),
        "exactReference elsewhere": (per_repo([_sigstore(key, {"type": "exactReference",
                                                               "dockerReference": f"{repo}/x:v1"})]), set()),
        "exactReference itself": (per_repo([_sigstore(key, {"type": "exactReference",
                                                            "dockerReference": f"{repo}/signed:v1"})]),
                                  {"signed"}),
        "exactRepository": (per_repo([_sigstore(key, {"type": "exactRepository",
                                                      "dockerRepository": f"{repo}/signed"})]), {"signed"}),
        "remapIdentity away": (per_repo([_sigstore(key, {"type": "remapIdentity", "prefix": repo,
                                                         "signedPrefix": f"{host}/elsewhere"})]), set()),
        "remapIdentity not matching": (per_repo([_sigstore(key, {"type": "remapIdentity",
                                                                 "prefix": f"{host}/x",
                                                                 "signedPrefix": f"{host}/y"})]), {"signed"}),
    }  # fmt: skip


@pytest.fixture(scope="module")
def key_files(
    tmp_path_factory: pytest.TempPathFactory, pair: keys.KeyPair, other_pair: keys.KeyPair
) -> tuple[str, str]:
    where = tmp_path_factory.mktemp("keys")
    (where / "a.pub").write_bytes(pair.public_pem)
    (where / "b.pub").write_bytes(other_pair.public_pem)
    return str(where / "a.pub"), str(where / "b.pub")


POLICY_NAMES = list(policies("h", "k", "d", "o"))


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_policy_matrix(
    name: str, tmp_path: Path, ctx: TransportContext, registry: str, images: dict[str, str],
    key_files: tuple[str, str], pair: keys.KeyPair,
) -> None:  # fmt: skip
    key_data = base64.b64encode(pair.public_pem).decode()
    doc, accepted = policies(registry, key_files[0], key_data, key_files[1])[name]
    policy = parse_policy(json.dumps(doc).encode(), name)
    options = CopyOptions(admit=policy_admission(policy, tmp_path / "root", SIGSTORE_ON))
    verdicts = {}
    for kind in KINDS:
        try:
            copy(f"docker://{images[kind]}", f"berth:{images[kind]}", ctx, options)
            verdicts[kind] = True
        except PolicyRejected:
            verdicts[kind] = False
    assert verdicts == {kind: kind in accepted for kind in KINDS}
    lines = audit_log_path(tmp_path / "root").read_text().splitlines()
    assert [json.loads(line)["accepted"] for line in lines] == [verdicts[k] for k in KINDS]


def test_digest_reference_with_repo_digest_or_exact(
    tmp_path: Path, ctx: TransportContext, images: dict[str, str], key_files: tuple[str, str]
) -> None:
    by_digest = images["signed"].rsplit(":", 1)[0] + "@" + images["signed-digest"]
    for identity, ok in (("matchRepoDigestOrExact", True), ("matchExact", False)):
        doc = {"default": [_sigstore(key_files[0], {"type": identity})]}
        options = CopyOptions(
            admit=policy_admission(parse_policy(json.dumps(doc).encode()), None, SIGSTORE_ON)
        )
        if ok:
            copy(f"docker://{by_digest}", f"oci:{tmp_path / identity}", ctx, options)
        else:
            with pytest.raises(PolicyRejected, match="identity mismatch"):
                copy(f"docker://{by_digest}", f"oci:{tmp_path / identity}", ctx, options)


def test_rejected_image_leaves_nothing_in_the_store(
    tmp_path: Path, ctx: TransportContext, images: dict[str, str], key_files: tuple[str, str]
) -> None:
    doc = {"default": [_sigstore(key_files[0])]}
    options = CopyOptions(
        admit=policy_admission(parse_policy(json.dumps(doc).encode()), tmp_path / "root", SIGSTORE_ON)
    )
    with pytest.raises(PolicyRejected, match="no signature exists"):
        copy(f"docker://{images['unsigned']}", f"berth:{images['unsigned']}", ctx, options)
    assert_store_empty(tmp_path / "root")


def test_missing_key_file_is_a_policy_error(
    tmp_path: Path, ctx: TransportContext, images: dict[str, str]
) -> None:
    doc = {"default": [_sigstore(str(tmp_path / "absent.pub"))]}
    options = CopyOptions(admit=policy_admission(parse_policy(json.dumps(doc).encode()), None, SIGSTORE_ON))
    with pytest.raises(PolicyError, match=r"key file .*absent\.pub does not exist"):
        copy(f"docker://{images['signed']}", f"oci:{tmp_path / 'out'}", ctx, options)


@pytest.mark.parametrize("where", ["unset", "off for the host"])
def test_sigstore_attachments_are_read_only_where_registries_d_enables_them(
    where: str, tmp_path: Path, ctx: TransportContext, registry: str, images: dict[str, str],
    key_files: tuple[str, str],
) -> None:  # fmt: skip
    registries = RegistriesD()
    if where != "unset":  # the host's section wins over default-docker
        registries = RegistriesD(
            SIGSTORE_ON.default_docker, {registry: Namespace(use_sigstore_attachments=False)}
        )
    doc = {"default": [_sigstore(key_files[0])]}
    options = CopyOptions(admit=policy_admission(parse_policy(json.dumps(doc).encode()), None, registries))
    with pytest.raises(PolicyRejected, match="no signature exists"):
        copy(f"docker://{images['signed']}", f"oci:{tmp_path / 'out'}", ctx, options)
