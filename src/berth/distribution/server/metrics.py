"""Prometheus text-format metrics (``/metrics``): requests by method and status, bytes in and out.

Responses are counted by an aiohttp access logger, which runs after the body was sent and so knows
its real length.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger


class Metrics:
    """The registry's counters."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.bytes_in = 0
        self.bytes_out = 0

    def render(self, bytes_received: int) -> str:
        """The exposition text; ``bytes_received`` adds the upload bytes counted by storage."""
        lines = [
            "# HELP berth_registry_requests_total HTTP requests served, by method and status.",
            "# TYPE berth_registry_requests_total counter",
        ]
        for (method, status), count in sorted(self.requests.items()):
            lines.append(f'berth_registry_requests_total{{method="{method}",status="{status}"}} {count}')
        lines += [
            "# HELP berth_registry_bytes_in_total Request body bytes received (blobs and manifests).",
            "# TYPE berth_registry_bytes_in_total counter",
            f"berth_registry_bytes_in_total {self.bytes_in + bytes_received}",
            "# HELP berth_registry_bytes_out_total Response body bytes sent.",
            "# TYPE berth_registry_bytes_out_total counter",
            f"berth_registry_bytes_out_total {self.bytes_out}",
        ]
        return "\n".join(lines) + "\n"


def access_logger(metrics: Metrics) -> type[AbstractAccessLogger]:
    """The access-log class for an aiohttp runner that counts every finished response into
    ``metrics``. Bound to them, not looked up through the request: a request aiohttp refused before
    routing it (a malformed request line or header) has no application to look them up in."""

    class MetricsAccessLogger(AbstractAccessLogger):
        def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
            metrics.requests[(request.method, response.status)] += 1
            metrics.bytes_out += response.body_length

        @property
        def enabled(self) -> bool:
            return True

    return MetricsAccessLogger


METRICS_KEY = web.AppKey("metrics", Metrics)
