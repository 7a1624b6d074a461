"""Session-wide guards: every test must leave no mount, cgroup, process or netns behind."""

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
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if it leaves host resources behind (checked only where tests can create them)."""
    if not IS_ROOT or request.node.get_closest_marker("allow_leaks"):
        yield
        return
    before = Snapshot.take()
    yield
    leaks = Snapshot.take().leaks_since(before)
    if leaks:  # give exiting processes a moment before judging
        time.sleep(0.3)
        leaks = Snapshot.take().leaks_since(before)
    if leaks:
        pytest.fail("test leaked host resources:\n" + "\n".join(leaks), pytrace=False)
