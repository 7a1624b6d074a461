"""Session-wide guards: every test must leave none of Berth's mounts, cgroups, processes or netns behind."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.leakcheck import Snapshot, become_subreaper

IS_ROOT = os.geteuid() == 0


def pytest_sessionstart(session: pytest.Session) -> None:
    if IS_ROOT:
        become_subreaper()


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the test if it leaves Berth's resources behind (checked only where tests can create them)."""
    if not IS_ROOT or request.node.get_closest_marker("allow_leaks"):
        yield
        return
    temp_base = tmp_path_factory.getbasetemp()
    before = Snapshot.take(temp_base)
    yield
    leaks = Snapshot.take(temp_base).leaks_since(before)
    # Give exiting processes, and another Berth's containers on their way out, a moment: a leak stays.
    for pause in (0.3, 1.0):
        if not leaks:
            break
        time.sleep(pause)
        leaks = Snapshot.take(temp_base).leaks_since(before)
    if leaks:
        pytest.fail("test left Berth's resources behind:\n" + "\n".join(leaks), pytrace=False)
