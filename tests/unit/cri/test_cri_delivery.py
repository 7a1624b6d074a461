"""``Deliveries``: StartContainer's wait until every open event stream has sent its event."""

from __future__ import annotations

import threading
import time

from berth.cri.delivery import Deliveries

STARTED = "CONTAINER_STARTED_EVENT"


def test_a_wait_ends_once_every_older_stream_sent_the_event() -> None:
    deliveries = Deliveries()
    with deliveries.stream() as first, deliveries.stream() as second:
        since = time.time() + 1  # both streams opened before
        assert not deliveries.wait("c1", STARTED, since, timeout=0.01)
        first("c1", STARTED)
        second("c1", "CONTAINER_CREATED_EVENT")  # another event of it is not the one
        assert not deliveries.wait("c1", STARTED, since, timeout=0.01)
        sender = threading.Timer(0.05, second, ("c1", STARTED))
        sender.start()
        assert deliveries.wait("c1", STARTED, since, timeout=30)
        sender.join()


def test_a_stream_opened_after_the_start_holds_no_wait() -> None:
    deliveries = Deliveries()
    with deliveries.stream():
        assert deliveries.wait("c2", STARTED, time.time() - 1, timeout=30)  # it never reads the event
