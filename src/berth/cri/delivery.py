"""What each open GetContainerEvents stream has sent, so an RPC can return once every stream has
told of what it did.

containerd sends a CRI event from the RPC that caused it. Berth's streams follow the engine's event
log instead, a moment behind. The kubelet's evented PLEG keeps the pod status the latest event
carried, and a sync of the pod that runs on an event read before StartContainer's start shows the
container only created: the kubelet starts another, and again for each (seen with kubelet 1.28 and
EventedPLEG). So StartContainer waits, briefly, until every stream has sent the start, and a
moment more: the kubelet applies an event in a goroutine of its own, and a sync that began a
fraction of a millisecond before it did (seen once in four runs) still started a second sidecar.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

#: How many of its latest events a stream's record keeps (a waiter asks for one just sent).
_KEPT = 256


class Deliveries:
    """The (object id, CRI event type) pairs each open stream sent lately, and waiting on them."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._opened: dict[int, float] = {}  # stream -> when it opened
        self._sent: dict[int, collections.deque[tuple[str, str]]] = {}
        self._count = 0

    @contextlib.contextmanager
    def stream(self) -> Iterator[Callable[[str, str], None]]:
        """Register a stream while the block runs; it calls the function it gets with each event's
        object id and type once the event is sent."""
        with self._changed:
            self._count += 1
            key = self._count
            self._opened[key] = time.time()
            self._sent[key] = collections.deque(maxlen=_KEPT)

        def sent(object_id: str, kind: str) -> None:
            with self._changed:
                self._sent[key].append((object_id, kind))
                self._changed.notify_all()

        try:
            yield sent
        finally:
            with self._changed:
                del self._opened[key], self._sent[key]
                self._changed.notify_all()

    def wait(self, object_id: str, kind: str, since: float, timeout: float, grace: float = 0.0) -> bool:
        """Wait until every stream open since before ``since`` (seconds since the epoch) has sent
        the event ``kind`` of ``object_id``, or has closed, then ``grace`` seconds more for their
        clients to take it in (none without such a stream); False after ``timeout`` seconds (a
        client that stopped reading holds no RPC up for long)."""
        with self._changed:
            waited = [key for key, opened in self._opened.items() if opened < since]
            done = self._changed.wait_for(
                lambda: all((object_id, kind) in self._sent.get(key, [(object_id, kind)]) for key in waited),
                timeout,
            )
        if waited and done:
            time.sleep(grace)
        return done
