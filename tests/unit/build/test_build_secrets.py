"""``--secret``: the forms accepted, and one clear line for each bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.build.run_mounts import parse_secret
from berth.errors import InvalidArgument


def test_a_file_or_an_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "s").write_text("v1")
    assert parse_secret(f"id=a,src={tmp_path / 's'}") == ("a", b"v1")
    assert parse_secret(f"id=a,type=file,source={tmp_path / 's'}") == ("a", b"v1")
    monkeypatch.setenv("TOKEN", "v2")
    assert parse_secret("id=b,type=env,env=TOKEN") == ("b", b"v2")
    assert parse_secret("id=TOKEN,type=env") == ("TOKEN", b"v2")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("src=/x", "want id=ID,src=PATH"),
        ("id=a,colour=red", "want id=ID,src=PATH"),
        ("id=a,type=ssh", "want id=ID,src=PATH"),
        ("id=a,src=/no/such/file", "/no/such/file: No such file or directory"),
        ("id=a,type=env,env=BERTH_NO_SUCH_VARIABLE", "no environment variable BERTH_NO_SUCH_VARIABLE"),
    ],
)
def test_bad_secrets(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_secret(text)
