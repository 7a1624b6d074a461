"""What every RPC handler shares: an engine per call, Berth's errors as gRPC status codes, and the
CRI's own facts about a pod or container, kept in one engine annotation.

The CRI is a front end over the engine (docs/architecture.md): a sandbox is an engine pod, a
container an engine container in it. What the CRI knows and the engine does not (the kubelet's
metadata, the log path) is stored as JSON in the annotation ``RECORD_KEY`` of the pod or container,
so it lives in the engine's database and survives a restart of the server.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

import grpc

from berth.cri.commits import CommitMarker
from berth.cri.config import CriConfig
from berth.cri.delivery import Deliveries
from berth.cri.snapshot import Listing, Snapshot
from berth.cri.starter import Starter
from berth.engine.config import EngineConfig
from berth.engine.engine import Engine
from berth.errors import AlreadyExists, BerthError, InvalidArgument, InvalidState, NotFound, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.cri.nri.adaptation import Nri
    from berth.cri.prometheus import RpcMetrics
    from berth.cri.streaming.server import StreamServer

#: The engine annotation holding the CRI's record of a pod or container (never shown to the kubelet).
RECORD_KEY = "io.berth.cri.record"

log = logging.getLogger("berth.cri")

_CODES: dict[type[BerthError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    InvalidState: grpc.StatusCode.FAILED_PRECONDITION,
    Unsupported: grpc.StatusCode.UNIMPLEMENTED,
}


class Services:
    """What the handlers work with: the engine's and the server's settings."""

    def __init__(self, engine_config: EngineConfig, config: CriConfig) -> None:
        self.engine_config = engine_config
        self.config = config
        #: the streaming server, once ``serve`` started it
        self.streams: StreamServer | None = None
        #: where containers start (in clean processes: ``berth.cri.starter``)
        self.starter = Starter(engine_config)
        #: the calls answered, for ``/metrics``
        self.rpc_metrics: RpcMetrics = _rpc_metrics()
        #: what each GetContainerEvents stream sent (StartContainer waits for its start event)
        self.deliveries = Deliveries()
        #: NRI, once ``serve`` started it (None without ``nri_socket``)
        self.nri: Nri | None = None
        #: sandboxes and containers made but not yet shown: an NRI hook is deciding on them
        self._hidden: set[str] = set()
        self._hidden_lock = threading.Lock()
        #: the engine's and the image store's databases, open for the server's life
        self._held = _hold_databases(engine_config)
        self._held_lock = threading.Lock()
        self._commits = CommitMarker(engine_config.db_path)
        self._snapshots: dict[Callable[[Engine], Any], Snapshot[Any]] = {}

    def database_version(self) -> bytes:
        """Bytes that change whenever anyone commits to the engine's database (its WAL-index
        header, ``berth.cri.commits``), so cached answers are true while they stay."""
        return self._commits.read()

    def snapshot(self, make: Callable[[Engine], tuple[Made, Iterable[int]]]) -> Made:
        """What ``make`` builds from the engine, kept while the database and the monitors it
        names stay as they were (``berth.cri.snapshot``)."""
        kept: Snapshot[Made] | None = self._snapshots.get(make)  # made once: after that, no lock
        if kept is None:
            with self._held_lock:
                kept = self._snapshots.get(make)
                if kept is None:
                    kept = self._snapshots[make] = Snapshot(make)
        return kept.get(self)

    def listed(
        self,
        make: Callable[[Engine], tuple[Listing[Identified], Iterable[int]]],
        wanted: Any,
        selected: Callable[[Any, Identified], bool],
    ) -> bytes:
        """A list RPC's encoded answer from ``make``'s kept ``Listing``: the whole of it for an
        empty filter ``wanted`` (the kubelet's relist) while nothing is hidden, else the items
        ``selected`` by ``wanted`` that are not hidden."""
        listing = self.snapshot(make)
        if not self._hidden and wanted.ByteSize() == 0:  # a set's truth needs no lock
            return listing.whole
        hidden = self.hidden_now()
        return listing.select(lambda item: item.id not in hidden and selected(wanted, item))

    def close(self) -> None:
        """Close the held databases (``_hold_databases``), then the commit marker, and the
        snapshots' pidfds."""
        for kept in self._snapshots.values():
            kept.close()
        with self._held_lock:
            for connection in self._held:
                connection.close()
        self._commits.close()

    @contextlib.contextmanager
    def hiding(self, object_id: str) -> Iterator[None]:
        """Keep the sandbox or container ``object_id`` out of every answer meanwhile (NRI's
        RunPodSandbox and CreateContainer hooks decide whether it is made at all)."""
        with self._hidden_lock:
            self._hidden.add(object_id)
        try:
            yield
        finally:
            with self._hidden_lock:
                self._hidden.discard(object_id)

    def hidden(self, object_id: str) -> bool:
        """Whether ``object_id`` is being kept out of answers (``hiding``)."""
        with self._hidden_lock:
            return object_id in self._hidden

    def hidden_now(self) -> frozenset[str]:
        """Every id being kept out of answers now (``hiding``)."""
        with self._hidden_lock:
            return frozenset(self._hidden)

    @functools.cache  # noqa: B019 (one Services per server, kept to its end)
    def handler_features(self) -> dict[str, dict[str, bool]]:
        """Per runtime handler ("" for the default), what its runtime's ``features`` document says
        it can do, as api.proto RuntimeHandlerFeatures: recursive read-only mounts (the ``rro``
        mount option) and user namespaces (the namespace, and idmapped mounts for the rootfs and
        volumes); asked once."""
        handlers = {"": self.config.runtime_for("")}
        handlers.update({k: v for k, v in self.config.runtime_handlers.items() if k != "default"})
        with self.engine() as engine:
            documents = {r: engine.runtime(r).features() for r in set(handlers.values())}
        found = {}
        for name, runtime in handlers.items():
            doc = documents[runtime]
            linux = doc.get("linux") or {}
            idmap = ((linux.get("mountExtensions") or {}).get("idmap") or {}).get("enabled", False)
            found[name] = {
                "recursive_read_only_mounts": "rro" in (doc.get("mountOptions") or []),
                "user_namespaces": "user" in (linux.get("namespaces") or []) and bool(idmap),
            }
        return found

    def config_json(self) -> str:
        """The server's settings as JSON (``crictl info`` shows them)."""
        from berth.spec.records import as_dict

        return json.dumps(as_dict(self.config))

    @contextlib.contextmanager
    def engine(self) -> Iterator[Engine]:
        """An engine of its own for one call: its database connection belongs to this thread."""
        engine = Engine(self.engine_config)
        try:
            yield engine
        finally:
            engine.close()


def _hold_databases(engine_config: EngineConfig) -> list[sqlite3.Connection]:
    """Connections to the engine's database and the image store's, made (and migrated) first.

    Every call opens and closes its own connections, and so does each start in a starter worker;
    SQLite checkpoints and deletes a WAL file when the last connection to its database closes,
    which cost 3-5 ms per call here. Held idle for the server's life (no transaction left open,
    so writers' automatic checkpoints still complete) they keep the WAL in place."""
    from berth.engine.images.store import images_root
    from berth.image.store import _db

    with Engine(engine_config) as engine:
        engine.db  # noqa: B018 (made and migrated to WAL mode, which a held connection would block)
    _db.connect(images_root(engine_config)).close()
    paths = (engine_config.db_path, images_root(engine_config) / _db.DB_NAME)
    held = [sqlite3.connect(p, isolation_level=None, check_same_thread=False) for p in paths]
    for connection in held:  # a connection maps the WAL's index (which marks it open) on its first read
        connection.execute("PRAGMA data_version").fetchone()
    return held


def _rpc_metrics() -> RpcMetrics:
    from berth.cri.prometheus import RpcMetrics

    return RpcMetrics()


Made = TypeVar("Made")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


Identified = TypeVar("Identified", bound=_HasId)
#: Counts one answered call: (RPC, status code name, seconds).
Observer = Callable[[str, str, float], None]


def rpc(
    name: str, handler: Callable[[Services, Any], Any], services: Services, observe: Observer, quiet: bool
) -> Any:
    """The function gRPC calls for the unary RPC ``name``: ``handler(services, request)``, counted
    with ``observe``, logged in one line, and ended, when it raised ``BerthError``, with the status
    code naming its kind (InvalidArgument, NotFound...) and its message. A ``quiet`` RPC's success
    is logged only at debug level; whether that level is on is read once, here."""
    done = _success_log(quiet)

    # A try and straight calls rather than a context manager or a servicer's method: the kubelet's
    # relist comes through here every second, and what runs besides its answer is what Berth adds
    # to gRPC's own time.
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        try:
            answer = handler(services, request)
        except BaseException as err:
            _failed(name, context, observe, started, err)
            raise
        _answered(name, observe, done, started)
        return answer

    return handle


def rpc_stream(
    name: str,
    handler: Callable[[Services, Any], Iterator[Any]],
    services: Services,
    observe: Observer,
    quiet: bool,
) -> Any:
    """``rpc`` for an RPC that streams its answer (``handler`` is a generator): counted and logged
    when the stream ends."""
    done = _success_log(quiet)

    def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        started = time.monotonic()
        try:
            yield from handler(services, request)
        except BaseException as err:
            _failed(name, context, observe, started, err)
            raise
        _answered(name, observe, done, started)

    return handle


def _success_log(quiet: bool) -> Callable[..., None] | None:
    """How a success is logged: at info level, or for a ``quiet`` RPC at debug level, or not at all
    when debug is off (no call per success then)."""
    if not quiet:
        return log.info
    return log.debug if log.isEnabledFor(logging.DEBUG) else None


def _answered(name: str, observe: Observer, done: Callable[..., None] | None, started: float) -> None:
    """Count a call that succeeded, and log it with ``done`` (None: not logged)."""
    elapsed = time.monotonic() - started
    observe(name, "OK", elapsed)
    if done is not None:
        done("rpc=%s code=OK ms=%.1f", name, 1000 * elapsed)


def _failed(
    name: str, context: grpc.ServicerContext, observe: Observer, started: float, err: BaseException
) -> None:
    """Count a call that raised ``err`` and end it with the status code naming its kind (INTERNAL,
    with the traceback logged, for anything but Berth's errors; CANCELLED, with nothing more to
    send, for the client gone)."""
    code = grpc.StatusCode.CANCELLED
    try:
        if isinstance(err, BerthError):
            code = next((c for k, c in _CODES.items() if isinstance(err, k)), grpc.StatusCode.UNKNOWN)
            log.info("rpc=%s code=%s error=%s", name, code.name, json.dumps(str(err)))
            context.abort(code, str(err))
        elif isinstance(err, Exception):
            code = grpc.StatusCode.INTERNAL
            log.error("rpc=%s code=INTERNAL", name, exc_info=err)
            context.abort(code, f"{name}: {type(err).__name__}: {err}")
    finally:
        observe(name, code.name, time.monotonic() - started)


def require(value: str, what: str) -> str:
    """``value`` if set; an empty required field is the caller's error (InvalidArgument)."""
    if not value:
        raise InvalidArgument(f"{what} is required")
    return value


def find_made(
    find: Callable[[str], Made],
    made_here: Callable[[Made], bool],
    ref: str,
    what: str,
    missing_ok: bool = False,
) -> Made | None:
    """What ``find`` (an engine lookup) gives for ``ref`` if the CRI made it and ``ref`` is its id or a
    prefix of it (never an engine name); NotFound, or None with ``missing_ok``, otherwise."""
    try:
        found: Made | None = find(ref)
    except NotFound:
        found = None
    if found is None or not made_here(found) or not str(getattr(found, "id", "")).startswith(ref):
        if missing_ok:
            return None
        raise NotFound(f"{what} {ref!r} not found")
    return found


def unless_gone(
    services: Services,
    ref: str,
    field: str,
    find: Callable[[Engine, str, bool], Made | None],
    act: Callable[[Engine, Made], object],
) -> None:
    """Stop or remove idempotently, as the CRI asks (the kubelet repeats them): ``act`` on what
    ``find`` (with ``missing_ok``) gives for ``ref``; nothing for an id already gone."""
    require(ref, field)
    with services.engine() as engine:
        found = find(engine, ref, True)
        if found is not None:
            act(engine, found)


def cri_record(annotations: dict[str, str]) -> dict[str, Any] | None:
    """The CRI's record of an engine pod or container; None if the CRI did not make it."""
    text = annotations.get(RECORD_KEY)
    return json.loads(text) if text else None


def user_annotations(annotations: dict[str, str]) -> dict[str, str]:
    """The annotations the kubelet gave, without the CRI's record."""
    return {k: v for k, v in annotations.items() if k != RECORD_KEY}


def nanoseconds(seconds: float | None) -> int:
    """A timestamp in nanoseconds since the epoch, as the CRI gives times (0 for none)."""
    return int(seconds * 1e9) if seconds else 0


def matches_labels(labels: dict[str, str], selector: dict[str, str] | Any) -> bool:
    """Whether ``labels`` hold every pair of a filter's ``label_selector`` (ANDed, as the CRI says)."""
    return all(labels.get(k) == v for k, v in selector.items())
