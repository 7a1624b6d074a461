"""``berth`` run in-process on a temporary root, for the inventory tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from berth.cli.main import main


class Sbom:
    """Runs ``berth --root R ...`` in-process (``sbom``, ``scan``, ``import``); ``make`` returns the
    parsed SBOM document."""

    def __init__(self, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp, self.root, self.capsys = tmp, tmp / "root", capsys
        self.err = self.out = ""

    def __call__(self, *args: str) -> int:
        self.capsys.readouterr()
        code = main(["--root", str(self.root), "--runroot", str(self.tmp / "run"), *args])
        self.out, self.err = self.capsys.readouterr()
        return code

    def make(self, image: str, fmt: str = "spdx-json") -> dict[str, Any]:
        out = self.tmp / f"sbom.{fmt.partition('-')[0]}.json"
        assert self("sbom", "--format", fmt, "-o", str(out), image) == 0, self.err
        validate(out, fmt)
        return dict(json.loads(out.read_text()))


def validate(path: Path, fmt: str) -> None:
    """The document passes its format's reference validator."""
    if fmt == "spdx-json":
        tool = Path(sys.executable).parent / "pyspdxtools"
        run = subprocess.run([str(tool), "-i", str(path)], capture_output=True, text=True, check=False)
        assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr
    else:
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator

        assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(path.read_text()) is None
