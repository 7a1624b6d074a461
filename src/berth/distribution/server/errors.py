"""Registry error responses: the spec's JSON error body (spec.md#error-codes)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from berth.spec.distribution import ErrorCode


class RegistryError(Exception):
    """Raised by a handler to answer with one of the spec's error codes."""

    def __init__(
        self,
        code: ErrorCode,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(message or code.message)
        self.code = code
        self.detail = detail
        self.status = status or code.status
        self.headers = headers or {}
        self.message = message or code.message

    def response(self, head: bool = False) -> web.Response:
        """The HTTP response for this error; a HEAD request gets the status and headers only."""
        entry: dict[str, Any] = {"code": self.code.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        body = json.dumps({"errors": [entry]}).encode()
        if head:
            return web.Response(status=self.status, headers=self.headers)
        return web.Response(
            status=self.status, body=body, content_type="application/json", headers=self.headers
        )
