"""The metadata database: records round-trip, names stay unique, concurrent commands do not collide."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from berth.engine.metadata import (
    _MIGRATIONS,
    EXITED,
    RUNNING,
    SCHEMA_VERSION,
    ContainerRecord,
    Metadata,
    NetworkRecord,
    PodRecord,
    VolumeRecord,
)
from berth.errors import AlreadyExists, InvalidArgument, NotFound


def _record(cid: str, name: str) -> ContainerRecord:
    return ContainerRecord(id=cid, name=name, image="busybox", config={"args": ["true"]}, runtime="runc")


def test_container_round_trip_and_lookup(tmp_path: Path) -> None:
    with Metadata(tmp_path / "berth.db") as db:
        rec = _record("ab" * 32, "web")
        rec.networks = {"berth0": {"ip": "10.77.0.2"}}
        rec.mounts = [{"destination": "/data", "source": "/srv"}]
        db.add_container(rec)
        assert db.container("web") == rec
        assert db.container("abab") == rec
        assert db.container("ab" * 32) == rec
        with pytest.raises(NotFound, match="no such container: nope"):
            db.container("nope")


def test_name_in_use_and_ambiguous_prefix(tmp_path: Path) -> None:
    with Metadata(tmp_path / "berth.db") as db:
        db.add_container(_record("abc1" + "0" * 60, "one"))
        with pytest.raises(AlreadyExists, match="'one' is already in use"):
            db.add_container(_record("ffff" + "0" * 60, "one"))
        db.add_container(_record("abc2" + "0" * 60, "two"))
        with pytest.raises(InvalidArgument, match="ambiguous"):
            db.container("abc")
        assert [c.name for c in db.containers()] == ["two", "one"]


def test_conditional_update(tmp_path: Path) -> None:
    with Metadata(tmp_path / "berth.db") as db:
        db.add_container(_record("c" * 64, "x"))
        assert db.update_container("c" * 64, state=EXITED, exit_code=3, oom_killed=True)
        # A late "running" must not overwrite an exit the monitor already recorded.
        assert not db.update_container("c" * 64, only_if_state="created", state=RUNNING)
        got = db.container("x")
        assert (got.state, got.exit_code, got.oom_killed) == (EXITED, 3, True)
        db.remove_container("c" * 64)
        assert db.containers() == []


def test_volumes_and_networks(tmp_path: Path) -> None:
    with Metadata(tmp_path / "berth.db") as db:
        db.add_volume(VolumeRecord(name="data", mountpoint="/v/data/_data", labels={"a": "b"}))
        with pytest.raises(AlreadyExists):
            db.add_volume(VolumeRecord(name="data", mountpoint="/elsewhere"))
        assert db.volume("data").labels == {"a": "b"}
        net = NetworkRecord(
            name="berthnet", id="1" * 64, bridge="berth1", subnet="10.1.0.0/24", gateway="10.1.0.1",
            internal=True, subnet6="fd00:1::/64", gateway6="fd00:1::1", ip_range6="fd00:1::/96",
        )  # fmt: skip
        db.add_network(net)
        with pytest.raises(AlreadyExists):
            db.add_network(NetworkRecord(name="x", id="2" * 64, bridge="berth1", subnet="s", gateway="g"))
        assert db.network("berthnet") == net and db.networks() == [net]
        db.remove_network("berthnet")
        db.remove_volume("data")
        with pytest.raises(NotFound):
            db.network("berthnet")
        assert db.volumes() == []


def test_schema_version_and_wal(tmp_path: Path) -> None:
    Metadata(tmp_path / "berth.db").close()
    raw = sqlite3.connect(tmp_path / "berth.db")
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


_WRITER = """
import sys
from pathlib import Path
from berth.engine.metadata import RUNNING, ContainerRecord, Metadata
worker, count = int(sys.argv[2]), int(sys.argv[3])
with Metadata(Path(sys.argv[1])) as db:
    for i in range(count):
        cid = f"{worker:032x}{i:032x}"
        db.add_container(ContainerRecord(id=cid, name=f"w{worker}-{i}", image="i", config={}, runtime="runc"))
        db.update_container(cid, state=RUNNING, pid=i)
        db.containers()
"""


@pytest.mark.timeout(120)
def test_concurrent_processes_on_a_fresh_database(tmp_path: Path) -> None:
    path = str(tmp_path / "berth.db")
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, path, str(w), "25"]) for w in range(4)]
    assert [p.wait() for p in procs] == [0, 0, 0, 0]
    with Metadata(Path(path)) as db:
        records = db.containers()
    assert len(records) == 100 and all(r.state == RUNNING for r in records)


def test_many_processes_opening_one_fresh_database_at_once(tmp_path: Path) -> None:
    # Switching a fresh file to WAL needs it to itself and SQLite does not wait for that: without
    # retrying, some of a dozen simultaneous first opens failed with "database is locked".
    import os

    for trial in range(10):
        path = tmp_path / f"berth{trial}.db"
        gate_r, gate_w = os.pipe()  # the children wait here, then all open the database at once
        pids = []
        for _ in range(12):
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    os.close(gate_w)
                    os.read(gate_r, 1)
                    with Metadata(path) as db:
                        db.containers()
                    status = 0
                finally:
                    os._exit(status)
            pids.append(pid)
        os.close(gate_r)
        os.close(gate_w)
        assert [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids] == [0] * 12

    from berth.engine.metadata import _MIGRATIONS

    raw = sqlite3.connect(tmp_path / "berth.db")
    raw.executescript(_MIGRATIONS[0])
    raw.execute(
        "INSERT INTO containers (id, name, image, config, state, created_at, runtime) "
        "VALUES ('a', 'old', 'bb', '{}', 'configured', 1.0, 'runc')"
    )
    raw.execute("PRAGMA user_version = 1")
    raw.commit()
    raw.close()
    with Metadata(tmp_path / "berth.db") as db:
        old = db.container("old")
        assert (old.image, old.image_id, old.image_digest) == ("bb", "", "")
        assert (old.restart_count, old.stopped_by_user) == (0, False)
        db.update_container("a", restart_count=2, stopped_by_user=True)
        assert (db.container("a").restart_count, db.container("a").stopped_by_user) == (2, True)
        db.add_container(
            ContainerRecord(id="b", name="new", image="bb", config={}, runtime="runc", image_id="sha256:1")
        )
        assert db.container("new").image_id == "sha256:1"
    raw = sqlite3.connect(tmp_path / "berth.db")
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


def test_pod_round_trip_lookup_and_membership(tmp_path: Path) -> None:
    with Metadata(tmp_path / "berth.db") as db:
        pod = PodRecord(
            id="d" * 64, name="web", infra_id="e" * 64, config={"share": ["net"]},
            labels={"a": "b"}, annotations={"x.io/y": "z"}, cgroup_parent="/berth-pod-" + "d" * 64,
        )  # fmt: skip
        db.add_pod(pod)
        assert db.pod("web") == pod and db.pod("ddd") == pod and db.pods() == [pod]
        with pytest.raises(AlreadyExists, match="pod name 'web' is already in use"):
            db.add_pod(PodRecord(id="f" * 64, name="web"))
        with pytest.raises(NotFound, match="no such pod: nope"):
            db.pod("nope")
        db.update_pod(pod.id, infra_id="", config={"share": []})
        assert (db.pod("web").infra_id, db.pod("web").config) == ("", {"share": []})
        member = _record("c" * 64, "member")
        member.pod = pod.id
        db.add_container(member)
        assert db.container("member").pod == pod.id
        db.remove_pod(pod.id)
        assert db.pods() == []


def test_schema_3_database_keeps_every_record(tmp_path: Path) -> None:
    """A database made by an earlier Berth (schema 3) is migrated in place: its containers,
    volumes and networks are all found afterwards, containers belong to no pod, and networks are
    IPv4-only and not internal."""
    path = tmp_path / "berth.db"
    raw = sqlite3.connect(path)
    for number in range(3):
        raw.executescript(_MIGRATIONS[number])
    raw.execute("PRAGMA user_version = 3")
    raw.execute(
        "INSERT INTO containers (id, name, image, config, state, created_at, runtime, restart_count) "
        "VALUES (?, 'old', 'busybox', '{\"args\": [\"true\"]}', 'exited', 1.0, 'runc', 2)",
        ("a" * 64,),
    )
    raw.execute("INSERT INTO volumes VALUES ('data', 'local', '/v/data/_data', '{}', 1.0)")
    raw.execute(
        "INSERT INTO networks VALUES ('net', ?, 'bridge', 'berth1', '10.1.0.0/24', '10.1.0.1', '{}', 1.0)",
        ("1" * 64,),
    )
    raw.commit()
    raw.close()
    with Metadata(path) as db:
        old = db.container("old")
        assert (old.id, old.state, old.restart_count, old.pod) == ("a" * 64, EXITED, 2, "")
        assert [v.name for v in db.volumes()] == ["data"]
        assert [(n.name, n.internal, n.subnet6) for n in db.networks()] == [("net", False, "")]
        assert db.pods() == []
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    raw.close()
