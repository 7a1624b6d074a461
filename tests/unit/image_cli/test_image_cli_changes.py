"""``--change`` parsing: every instruction in both forms, order rules, and malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.errors import BerthError, InvalidArgument, Unsupported
from berth.image.changes import apply_changes, split_change
from berth.spec.image_config import ContainerConfig

BASE = ContainerConfig(
    env=("PATH=/bin", "A=old"), cmd=("sh",), entrypoint=None, labels={"keep": "1"}, working_dir="/srv"
)


def test_cmd_exec_and_shell_forms() -> None:
    assert apply_changes(BASE, ['CMD ["/bin/echo", "a b"]']).cmd == ("/bin/echo", "a b")
    assert apply_changes(BASE, ["CMD echo $HOME"]).cmd == ("/bin/sh", "-c", "echo $HOME")
    # podman also takes INSTRUCTION=VALUE
    assert apply_changes(BASE, ["CMD=/bin/true"]).cmd == ("/bin/sh", "-c", "/bin/true")
    # a malformed array is shell-form text, as in a Dockerfile
    assert apply_changes(BASE, ["CMD [oops"]).cmd == ("/bin/sh", "-c", "[oops")


def test_entrypoint_resets_inherited_cmd_but_not_one_set_by_the_changes() -> None:
    cfg = apply_changes(BASE, ['ENTRYPOINT ["/bin/env"]'])
    assert cfg.entrypoint == ("/bin/env",) and cfg.cmd is None
    cfg = apply_changes(BASE, ['CMD ["-i"]', "ENTRYPOINT /bin/env"])
    assert cfg.entrypoint == ("/bin/sh", "-c", "/bin/env") and cfg.cmd == ("-i",)


def test_env_replaces_by_key_and_takes_several_pairs_or_the_legacy_form() -> None:
    cfg = apply_changes(BASE, ['ENV A=new B="two words"', "ENV C rest of line"])
    assert cfg.env == ("PATH=/bin", "A=new", "B=two words", "C=rest of line")


def test_label_expose_volume_user_workdir_stopsignal() -> None:
    cfg = apply_changes(
        BASE,
        [
            'LABEL a=1 "b c"=2',
            "EXPOSE 80 53/udp 8000-8002/TCP",
            'VOLUME ["/data", "/logs"]',
            "VOLUME /cache /data",
            "USER 1000:1000",
            "WORKDIR app",
            "WORKDIR ../lib",
            "STOPSIGNAL term",
        ],
    )
    assert cfg.labels == {"keep": "1", "a": "1", "b c": "2"}
    assert cfg.exposed_ports == ("80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp")
    assert cfg.volumes == ("/data", "/logs", "/cache")
    assert cfg.user == "1000:1000"
    assert cfg.working_dir == "/srv/lib"
    assert cfg.stop_signal == "SIGTERM"
    assert apply_changes(BASE, ["STOPSIGNAL 9"]).stop_signal == "9"


def test_the_base_is_not_modified() -> None:
    apply_changes(BASE, ["ENV A=x", "LABEL z=1"])
    assert BASE.env == ("PATH=/bin", "A=old") and BASE.labels == {"keep": "1"}


@pytest.mark.parametrize(
    "change",
    [
        "FROB x",
        "",
        "123",
        "CMD",
        "ENV",
        "ENV =x",
        "ENV a='unterminated",
        "LABEL novalue",
        "EXPOSE",
        "EXPOSE http",
        "EXPOSE 0",
        "EXPOSE 70000",
        "EXPOSE 80/icmp",
        "EXPOSE 90-80",
        "USER",
        "WORKDIR",
        "VOLUME",
        "STOPSIGNAL SIGNOPE",
        "STOPSIGNAL 99",
    ],
)
def test_malformed_changes_are_refused_with_the_change_named(change: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        apply_changes(BASE, [change])
    assert "invalid change" in str(err.value) and "\n" not in str(err.value)


def test_onbuild_is_refused_as_unsupported() -> None:
    with pytest.raises(Unsupported, match="ONBUILD"):
        split_change("ONBUILD RUN true")


def test_one_bad_change_applies_none() -> None:
    with pytest.raises(InvalidArgument):
        apply_changes(BASE, ["USER 5", "EXPOSE nope"])


@settings(deadline=None)  # a loaded shared machine must not fail a parser test on time
@given(st.lists(st.text(max_size=40), max_size=4))
def test_any_text_either_parses_or_raises_a_berth_error(changes: list[str]) -> None:
    try:
        cfg = apply_changes(BASE, changes)
    except BerthError:
        return
    assert isinstance(cfg, ContainerConfig)
