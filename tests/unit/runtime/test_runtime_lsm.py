"""AppArmor/SELinux handling that needs no LSM on the host: mount labels and the refusals."""

from __future__ import annotations

from typing import Any

import pytest

from berth.errors import Unsupported
from berth.runtime.linux import lsm
from berth.runtime.verbs.spec import default_config
from berth.spec.runtime_config import parse_config

LABEL = "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811"


def test_mount_label_goes_into_the_data_of_mounts_that_take_one() -> None:
    assert lsm.mount_data("mode=755", "tmpfs", LABEL) == f'mode=755,context="{LABEL}"'
    assert lsm.mount_data("", "mqueue", LABEL) == f'context="{LABEL}"'
    assert lsm.mount_data("", "proc", LABEL) == ""  # the kernel labels proc, sysfs and cgroups
    assert lsm.mount_data("mode=755", "tmpfs", "") == "mode=755"


def _config(**changes: Any) -> dict[str, Any]:
    config = default_config()
    for path, value in changes.items():
        section, key = path.split("__")
        config[section][key] = value
    return config


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"process__apparmorProfile": "acme"}, "process.apparmorProfile"),
        ({"process__selinuxLabel": LABEL}, "process.selinuxLabel"),
        ({"linux__mountLabel": LABEL}, "linux.mountLabel"),
    ],
)
def test_a_label_the_host_cannot_apply_is_refused(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], field: str
) -> None:
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: False)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: False)
    with pytest.raises(Unsupported, match=field.replace(".", r"\.")):
        lsm.check(parse_config(_config(**changes)))


def test_labels_pass_the_check_where_the_host_has_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: True)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: True)
    lsm.check(parse_config(_config(process__apparmorProfile="acme", linux__mountLabel=LABEL)))
    lsm.check(parse_config(default_config()))
