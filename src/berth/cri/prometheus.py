"""Prometheus ``/metrics`` of ``berth cri serve``: RPC counts and latencies, containers and
sandboxes by state, in the text exposition format (version 0.0.4).

``RpcMetrics`` counts the calls as the server answers them; the state gauges are read from the
engine at each scrape. ``MetricsServer`` serves them over HTTP at the configured ``metrics_address``.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from berth.cri.service import Services, cri_record

#: Upper bounds (seconds) of the latency histogram's buckets.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RpcMetrics:
    """Calls per RPC and status code, and a latency histogram per RPC (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], int] = {}
        self._latency: dict[str, list[float]] = {}  # per RPC: a count per bucket, +Inf, sum

    def observe(self, method: str, code: str, seconds: float) -> None:
        """Count one answered call of ``method`` that took ``seconds``."""
        with self._lock:
            self._calls[method, code] = self._calls.get((method, code), 0) + 1
            row = self._latency.setdefault(method, [0.0] * (len(BUCKETS) + 2))
            row[bisect.bisect_left(BUCKETS, seconds)] += 1
            row[-1] += seconds

    def lines(self) -> Iterator[str]:
        """The counters in the exposition format."""
        with self._lock:
            calls, latency = dict(self._calls), {k: list(v) for k, v in self._latency.items()}
        yield "# HELP berth_cri_requests_total CRI calls answered, by RPC and gRPC status code."
        yield "# TYPE berth_cri_requests_total counter"
        for (method, code), count in sorted(calls.items()):
            yield f'berth_cri_requests_total{{method="{method}",code="{code}"}} {count}'
        yield "# HELP berth_cri_request_duration_seconds Time to answer a CRI call, by RPC."
        yield "# TYPE berth_cri_request_duration_seconds histogram"
        name = "berth_cri_request_duration_seconds"
        for method, row in sorted(latency.items()):
            cumulative: float = 0
            for bound, in_bucket in zip((*map(str, BUCKETS), "+Inf"), row[:-1], strict=True):
                cumulative += in_bucket
                yield f'{name}_bucket{{method="{method}",le="{bound}"}} {cumulative:g}'
            yield f'{name}_sum{{method="{method}"}} {row[-1]:.6f}'
            yield f'{name}_count{{method="{method}"}} {cumulative:g}'


def state_lines(services: Services) -> Iterator[str]:
    """Gauges of the CRI's containers and sandboxes by state (api.proto's state names)."""
    from berth.cri.containers import cri_of, state_name
    from berth.engine.containers.state import refresh
    from berth.engine.metadata import RUNNING

    containers: dict[str, int] = {}
    sandboxes: dict[str, int] = {}
    with services.engine() as engine:
        records = {r.id: r for r in engine.db.containers()}
        for record in records.values():
            if cri_of(record) is not None:
                state = state_name(refresh(engine, record))
                containers[state] = containers.get(state, 0) + 1
        for pod in engine.db.pods():
            if cri_record(pod.annotations) is None:
                continue
            infra = records.get(pod.infra_id)
            ready = infra is not None and refresh(engine, infra).state == RUNNING
            state = "SANDBOX_READY" if ready else "SANDBOX_NOTREADY"
            sandboxes[state] = sandboxes.get(state, 0) + 1
    yield "# HELP berth_cri_containers The CRI's containers, by state."
    yield "# TYPE berth_cri_containers gauge"
    for state in ("CONTAINER_CREATED", "CONTAINER_RUNNING", "CONTAINER_EXITED", "CONTAINER_UNKNOWN"):
        yield f'berth_cri_containers{{state="{state}"}} {containers.get(state, 0)}'
    yield "# HELP berth_cri_pod_sandboxes The CRI's pod sandboxes, by state."
    yield "# TYPE berth_cri_pod_sandboxes gauge"
    for state in ("SANDBOX_READY", "SANDBOX_NOTREADY"):
        yield f'berth_cri_pod_sandboxes{{state="{state}"}} {sandboxes.get(state, 0)}'


class MetricsServer:
    """``GET /metrics`` at ``address`` (HOST:PORT; port 0 picks one), in a thread of its own."""

    def __init__(self, address: str, services: Services) -> None:
        host, _, port = address.rpartition(":")
        self._http = ThreadingHTTPServer((host or "127.0.0.1", int(port)), _handler(services))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="cri-metrics", daemon=True)

    @property
    def url(self) -> str:
        """Where the metrics are served."""
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/metrics"

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._http.shutdown()
        self._http.server_close()


def _handler(services: Services) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            lines = [*services.rpc_metrics.lines(), *state_lines(services)]
            body = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes are not logged (one every few seconds)."""

    return Handler
