"""How the engine starts a runtime: Berth's own berth-runtime by the interpreter with ``-S``."""

from __future__ import annotations

import os
import subprocess
import sys

from berth.engine.runtime import launcher, resolve_runtime


def test_another_runtime_is_started_by_its_path() -> None:
    assert launcher("/usr/sbin/runc") == ["/usr/sbin/runc"]


def test_berths_own_runtime_skips_site_and_answers_as_its_console_script_does() -> None:
    own = resolve_runtime("berth-runtime")
    assert own == os.path.join(os.path.dirname(sys.executable), "berth-runtime")
    launch = launcher(own)
    assert launch[:3] == [sys.executable, "-S", "-c"]
    for verb in (["--version"], ["features"]):  # the second imports the runtime's Linux modules
        fast = subprocess.run([*launch, *verb], capture_output=True, text=True, check=True)
        plain = subprocess.run([own, *verb], capture_output=True, text=True, check=True)
        assert fast.stdout == plain.stdout and fast.stdout
