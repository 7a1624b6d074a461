"""image/store across processes: a writer killed with SIGKILL publishes nothing and can be resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from berth.image.store import ContentStore
from berth.spec.digest import Digest

DATA = bytes(range(256)) * 8192  # 2 MiB

WRITER = textwrap.dedent(
    """
    import sys, time
    from berth.image.store import ContentStore
    from berth.spec.digest import Digest
    data = bytes(range(256)) * 8192
    store = ContentStore(sys.argv[1])
    w = store.writer("victim", expected_digest=Digest.of(data), expected_size=len(data))
    w.write(data[: len(data) // 2])
    print("ready", flush=True)
    time.sleep(60)
    """
)

PUTTER = textwrap.dedent(
    """
    import sys
    from berth.image.store import ContentStore
    data = bytes(range(256)) * 8192
    for _ in range(5):
        ContentStore(sys.argv[1]).put(data)
    """
)


@pytest.mark.timeout(60)
def test_killed_writer_leaves_no_blob_and_resumes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    store = ContentStore(root)
    assert list(store.list()) == []
    [status] = store.ingests()
    assert (status.ref, status.offset) == ("victim", len(DATA) // 2)
    with store.writer("victim", expected_digest=Digest.of(DATA), expected_size=len(DATA)) as w:
        assert w.offset == len(DATA) // 2  # the lock died with the process; the bytes did not
        w.write(DATA[w.offset :])
        w.commit()
    assert store.read(Digest.of(DATA)) == DATA and store.ingests() == []


@pytest.mark.timeout(60)
def test_processes_putting_the_same_blob_all_succeed(tmp_path: Path) -> None:
    root = tmp_path / "store"
    procs = [subprocess.Popen([sys.executable, "-c", PUTTER, str(root)]) for _ in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    store = ContentStore(root)
    assert [i.digest for i in store.list()] == [Digest.of(DATA)]
    assert store.ingests() == []
