"""spec.runtime_record.Record: typed, immutable, dataclass-like records without import-time cost."""

from __future__ import annotations

import pytest

from berth.spec.runtime_config import Linux, Namespace, Root, User


def test_fields_defaults_and_equality() -> None:
    root = Root("rootfs")
    assert root.path == "rootfs" and root.readonly is False
    assert Root(path="rootfs", readonly=False) == root
    assert Root("rootfs", True) != root
    assert repr(root) == "Root(path='rootfs', readonly=False)"
    assert Linux().namespaces == () and dict(Linux().sysctl) == {}


def test_records_are_immutable_and_replace_copies() -> None:
    user = User(uid=1000)
    with pytest.raises(AttributeError, match="immutable"):
        user.uid = 0
    other = user.replace(gid=1000, additional_gids=(5,))
    assert (other.uid, other.gid, other.additional_gids) == (1000, 1000, (5,))
    assert user.gid == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [((), {}, "missing argument 'type'"), (("pid", "/p", "x"), {}, "too many"),
     (("pid",), {"type": "net"}, "repeated"), ((), {"type": "pid", "bogus": 1}, "unexpected")],
)  # fmt: skip
def test_bad_construction(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Namespace(*args, **kwargs)
