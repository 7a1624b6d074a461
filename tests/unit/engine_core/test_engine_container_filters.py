"""``ps --filter``: parsing and matching podman's container filters."""

from __future__ import annotations

import pytest

from berth.engine.containers.filters import matches, parse_filters, selects_stopped
from berth.engine.metadata import CONFIGURED, EXITED, RUNNING, ContainerRecord
from berth.errors import InvalidArgument

WEB = ContainerRecord(
    id="ab12" + "0" * 60, name="web-1", image="localhost:5000/shop/web:2.1", config={"network": "front"},
    runtime="runc", state=RUNNING, image_id="sha256:" + "f00d" * 16, networks={"front": {}},
)  # fmt: skip
JOB = ContainerRecord(
    id="cd34" + "0" * 60, name="job", image="busybox", config={"network": "none"}, runtime="runc",
    state=EXITED, exit_code=3,
)  # fmt: skip
NEW = ContainerRecord(
    id="ef56" + "0" * 60, name="new", image="busybox", config={}, runtime="runc", state=CONFIGURED
)
LABELS = {WEB.id: {"tier": "front", "team": "shop"}, JOB.id: {"tier": "batch"}, NEW.id: {}}


def _selected(*texts: str) -> list[str]:
    filters = parse_filters(list(texts))
    return [r.name for r in (WEB, JOB, NEW) if matches(r, LABELS[r.id], filters)]


@pytest.mark.parametrize(
    ("texts", "names"),
    [
        ((), ["web-1", "job", "new"]),
        (("id=ab1",), ["web-1"]),
        (("name=^j",), ["job"]),
        (("name=e",), ["web-1", "new"]),
        (("label=tier",), ["web-1", "job"]),
        (("label=tier=batch",), ["job"]),
        (("label=tier", "label=team=shop"), ["web-1"]),  # labels: every one must hold
        (("status=running",), ["web-1"]),
        (("status=created",), ["new"]),
        (("status=exited", "status=running"), ["web-1", "job"]),  # one key: alternatives
        (("status=exited", "label=tier=front"), []),  # two keys: both must hold
        (("exited=3",), ["job"]),
        (("exited=0",), []),
        (("ancestor=busybox",), ["job", "new"]),
        (("ancestor=localhost:5000/shop/web",), ["web-1"]),
        (("ancestor=localhost",), []),  # a registry host is not a repository
        (("ancestor=sha256:f00df00d",), ["web-1"]),
        (("network=front",), ["web-1"]),
    ],
)
def test_filters(texts: tuple[str, ...], names: list[str]) -> None:
    assert _selected(*texts) == names


@pytest.mark.parametrize(
    ("text", "message"),
    [("colour=red", "KEY one of"), ("status", "KEY=VALUE"), ("status=sleeping", "status is one of"),
     ("exited=x", "exit code"), ("name=(", "invalid filter 'name=\\('")],
)  # fmt: skip
def test_bad_filters(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_filters([text])


def test_status_and_exited_filters_look_beyond_running_containers() -> None:
    assert selects_stopped(parse_filters(["exited=0"])) and selects_stopped(parse_filters(["status=running"]))
    assert not selects_stopped(parse_filters(["name=x", "label=a"]))
