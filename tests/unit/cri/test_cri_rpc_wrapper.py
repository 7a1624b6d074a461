"""``berth.cri.service.rpc``: what it logs and counts for a call, and how a failure ends it."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

from berth.cri.service import log, rpc, rpc_stream
from berth.errors import NotFound


class _Aborted(Exception):
    pass


class _Context:
    """The part of ``grpc.ServicerContext`` that ``rpc`` uses: ``abort`` raises, as gRPC's does."""

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _Aborted(code, details)


def _call(
    quiet: bool, level: int, handler: Any
) -> tuple[list[tuple[str, str]], list[logging.LogRecord], Any]:
    seen: list[tuple[str, str]] = []
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep, old_level = Keep(), log.level
    log.addHandler(keep)
    log.setLevel(level)
    try:  # the level is read when the function is made, as the server makes it once at its start
        function = rpc("ListThings", handler, None, lambda name, code, _s: seen.append((name, code)), quiet)
        try:
            answer: Any = function("request", _Context())
        except _Aborted as err:
            answer = err.args
    finally:
        log.removeHandler(keep)
        log.setLevel(old_level)
    return seen, records, answer


@pytest.mark.parametrize(
    ("quiet", "level", "logged"),
    [
        (False, logging.INFO, [logging.INFO]),
        (True, logging.INFO, []),  # a read the kubelet makes every second: no log call at all
        (True, logging.DEBUG, [logging.DEBUG]),
    ],
)
def test_a_success_is_counted_and_logged_by_its_level(quiet: bool, level: int, logged: list[int]) -> None:
    seen, records, answer = _call(quiet, level, lambda services, request: f"answer to {request}")
    assert answer == "answer to request"
    assert seen == [("ListThings", "OK")]
    assert [r.levelno for r in records] == logged
    assert all(r.getMessage().startswith("rpc=ListThings code=OK ms=") for r in records)


def test_a_berth_error_ends_the_call_with_its_code_even_when_quiet() -> None:
    def missing(services: object, request: object) -> None:
        raise NotFound("no such pod sandbox x")

    seen, records, answer = _call(True, logging.INFO, missing)
    assert answer == (grpc.StatusCode.NOT_FOUND, "no such pod sandbox x")
    assert seen == [("ListThings", "NOT_FOUND")]
    assert [r.getMessage() for r in records] == [
        'rpc=ListThings code=NOT_FOUND error="no such pod sandbox x"'
    ]


def test_a_stream_is_counted_when_it_ends() -> None:
    seen: list[tuple[str, str]] = []
    function = rpc_stream(
        "StreamThings", lambda s, r: iter([1, 2]), None, lambda n, c, _s: seen.append((n, c)), True
    )
    answers = function("request", _Context())
    assert seen == []
    assert list(answers) == [1, 2]
    assert seen == [("StreamThings", "OK")]
