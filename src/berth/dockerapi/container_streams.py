"""Container endpoints that stream: attach (hijacked), logs, wait, stats, export; and start,
which hands a started container's output to a client that attached before it started (``docker
run`` attaches, then starts)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from berth.dockerapi.app import (
    Router,
    api_version,
    blocking,
    iterate_in_thread,
    query_bool,
    query_int,
    send_all,
)
from berth.dockerapi.detach_keys import DEFAULT as DEFAULT_DETACH_KEYS
from berth.dockerapi.detach_keys import DetachKeys
from berth.dockerapi.errors import ApiError
from berth.dockerapi.streams import STDERR, STDOUT, Hijacked, ResponseWriter, frame, hijack, stream_type
from berth.engine.containers.monitor import CLOSE_STDIN, EXIT, RESIZE, STDIN
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE, CONFIGURED, ContainerRecord
from berth.engine.options import CreateOptions
from berth.errors import NotFound

#: Clients attached to a container that has not started yet, by container id: its start hands
#: each the monitor connection it makes (one client; a second one waits for the next start).
PENDING_ATTACH = web.AppKey("pending_attach", dict)

_PACKET = 32768


def _record(engine: Engine, ref: str) -> ContainerRecord:
    from berth.engine.containers.state import refresh

    return refresh(engine, engine.db.container(ref))


def _start(engine: Engine, cid: str, attach: bool) -> socket.socket | None:
    from berth.engine.containers.start import start_container

    return start_container(engine, cid, attach=attach)


async def start(request: web.Request, ref: str) -> None:
    """Start container ``ref``, connected to the client that attached to it first, if one did."""
    record = await blocking(request, _record, ref)
    pending: dict[str, asyncio.Future[socket.socket]] = request.app[PENDING_ATTACH]
    waiter = pending.pop(record.id, None)
    if waiter is None or waiter.done():
        await blocking(request, _start, record.id, False)
        return
    try:
        sock = await blocking(request, _start, record.id, True)
    except BaseException as err:
        waiter.set_exception(err)
        raise
    assert sock is not None
    waiter.set_result(sock)


async def attach(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=&detachKeys=``: the
    hijacked connection. To a container not started yet it waits for the start (docker run).
    ``logs`` sends the output logged so far first (output between that and the attach itself
    is not sent); without ``stream`` the answer ends there."""
    record = await blocking(request, _record, request.match_info["id"])
    opts = CreateOptions.from_json(record.config["options"])
    with_logs, streaming = query_bool(request, "logs"), query_bool(request, "stream")
    if record.state not in ACTIVE and record.state != CONFIGURED and (streaming or not with_logs):
        raise ApiError(409, "You cannot attach to a stopped container, start it first")
    wanted = {STDOUT: query_bool(request, "stdout"), STDERR: query_bool(request, "stderr")}
    use_stdin = query_bool(request, "stdin") and opts.interactive
    detach = DetachKeys.parse(request.query.get("detachKeys") or DEFAULT_DETACH_KEYS)
    # a container not started yet has logged nothing: its attach waits for the start as below
    if (with_logs or not streaming) and record.state != CONFIGURED:
        hijacked = await hijack(request, stream_type(opts.tty, api_version(request)))
        if with_logs and opts.log_driver != "none":  # none logged nothing to send
            await _send_logged(request, hijacked, record.id, opts.tty, wanted)
        if not streaming:
            await hijacked.close()
            return hijacked.response
        record = await blocking(request, _record, record.id)  # it may have started meanwhile
        return await _attach_hijacked(request, hijacked, record, opts, wanted, use_stdin, detach)
    hijacked = await hijack(request, stream_type(opts.tty, api_version(request)))
    return await _attach_hijacked(request, hijacked, record, opts, wanted, use_stdin, detach)


async def _send_logged(
    request: web.Request, hijacked: Hijacked, cid: str, tty: bool, wanted: dict[int, bool]
) -> None:
    """The container's logged output so far, on the hijacked connection."""
    from berth.engine.containers.observe import log_output

    def produce(engine: Engine, stop: threading.Event) -> Iterator[tuple[int, bytes]]:
        return log_output(engine, cid, False, cancelled=stop.is_set)

    async for fd, data in iterate_in_thread(request, produce):
        if wanted[fd]:
            await hijacked.send(data if tty else frame(fd, data))


async def _attach_hijacked(
    request: web.Request,
    hijacked: Hijacked,
    record: ContainerRecord,
    opts: CreateOptions,
    wanted: dict[int, bool],
    use_stdin: bool,
    detach: DetachKeys,
) -> web.StreamResponse:
    """Relay between the hijacked connection and the container's monitor (once it has started,
    for one not started yet)."""
    waiter: asyncio.Future[socket.socket] | None = None
    if record.state == CONFIGURED:
        waiter = asyncio.get_running_loop().create_future()
        request.app[PENDING_ATTACH][record.id] = waiter
        sock_call = None
    else:
        sock_call = _connect
    try:
        if waiter is not None:
            sock = await waiter
        else:
            assert sock_call is not None
            sock = await blocking(request, sock_call, record.id)
    except BaseException:
        request.app[PENDING_ATTACH].pop(record.id, None)
        await hijacked.close()
        raise
    with sock:
        await relay(hijacked, sock, opts.tty, wanted, use_stdin, detach)
    await hijacked.close()
    return hijacked.response


def _connect(engine: Engine, cid: str) -> socket.socket:
    from berth.engine.containers.attach import attach_container

    return attach_container(engine, cid)[0]


async def relay(
    hijacked: Hijacked,
    sock: socket.socket,
    tty: bool,
    wanted: dict[int, bool],
    use_stdin: bool,
    detach: DetachKeys | None = None,
) -> None:
    """Pump the monitor's output to the client (framed unless ``tty``) and, with ``use_stdin``,
    the client's input to the container, until the container exits, the client goes, or it types
    the ``detach`` sequence."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)

    async def output() -> None:
        while True:
            try:
                packet = await loop.sock_recv(sock, _PACKET + 1)
            except OSError:
                return
            if not packet or packet[0] == EXIT:
                return
            kind, body = packet[0], packet[1:]
            if wanted.get(kind):
                await hijacked.send(body if tty else frame(kind, body))

    async def input_() -> bool:
        """Relay input until its end (False) or the detach sequence (True)."""
        while True:
            data = await hijacked.receive()
            ended, detached = not data, False
            if data and detach is not None:
                data, detached = detach.feed(data)
            with contextlib.suppress(OSError):
                if data:
                    await loop.sock_sendall(sock, bytes([STDIN]) + data)
                elif ended:
                    await loop.sock_sendall(sock, bytes([CLOSE_STDIN]))
            if ended or detached:
                return detached

    relayed = asyncio.ensure_future(output())
    typed = asyncio.ensure_future(input_()) if use_stdin else None
    try:
        if typed is not None:
            await asyncio.wait([relayed, typed], return_when=asyncio.FIRST_COMPLETED)
            if typed.done() and typed.result():
                return  # detached: the container runs on
        await relayed  # the input ended (or there is none): the output goes on
    except ConnectionError:
        pass  # the client went away: the container runs on
    finally:
        for pump in (relayed, typed):
            if pump is not None:
                pump.cancel()


def _resize(engine: Engine, ref: str, height: int, width: int) -> None:
    from berth.engine.containers.monitor import attach_client

    record = _record(engine, ref)
    if record.state not in ACTIVE:
        raise ApiError(409, f"container {record.name} is not running")
    with attach_client(engine.paths(record.id).attach_socket) as sock:
        sock.send(bytes([RESIZE]) + struct.pack("HH", height, width))


async def resize(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/resize?h=&w=``: the terminal's size."""
    height, width = query_int(request, "h", 0) or 0, query_int(request, "w", 0) or 0
    await blocking(request, _resize, request.match_info["id"], height, width)
    return web.Response(status=200)


def _wait(engine: Engine, ref: str, condition: str, stop: threading.Event) -> Iterator[int]:
    """The exit code once ``condition`` holds: ``not-running`` (now, if it is not running),
    ``next-exit`` (its next exit, even if it has not started) or ``removed``. Read from the event
    log, which holds every exit and removal whoever caused it (the monitor, a ``--rm``)."""
    from berth.events import follow_events, log_path, parse_time

    now = time.time()
    record = _record(engine, ref)
    if condition == "not-running" and record.state not in ACTIVE:
        yield record.exit_code if record.exit_code is not None else 0
        return
    # A running container's exit is the first after its start: the monitor logs it before the
    # record says so, so it may be in the log already.
    since = min(now, record.started_at or now) if record.state in ACTIVE else now
    code = record.exit_code or 0
    engine.close()
    for event in follow_events(log_path(engine.config.root), poll=0.02, cancelled=stop.is_set):
        if event.get("ID") != record.id or event.get("Type") != "container":
            continue
        if parse_time(event.get("Time", "")) < since:
            continue
        if event.get("Status") == "died":
            code = int(event.get("ContainerExitCode") or 0)
            if condition != "removed":
                break
        elif event.get("Status") == "remove":
            break
    else:
        return  # the client went away
    if condition != "removed":
        _until_recorded(engine, record.id, stop)
    yield code


def _until_recorded(engine: Engine, cid: str, stop: threading.Event) -> None:
    """Wait until the container's record says it is no longer running (the monitor logs the exit
    a moment before it records it), so an inspect after the wait sees the exit as dockerd's does."""
    from berth.engine.containers.state import refresh

    while not stop.is_set():
        try:
            if refresh(engine, engine.db.container(cid)).state not in ACTIVE:
                return
        except NotFound:
            return  # removed (``AutoRemove``)
        finally:
            engine.close()
        time.sleep(0.02)


async def wait(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/wait?condition=``: ``{"StatusCode": N, "Error": null}`` when it holds.
    The answer's headers go out at once, as dockerd sends them, so clients know the wait is set."""
    condition = request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise ApiError(400, f"invalid condition {condition!r}: want not-running, next-exit or removed")
    ref = request.match_info["id"]
    await blocking(request, _record, ref)  # a 404 before the 200 is sent
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    codes = iterate_in_thread(request, lambda engine, stop: _wait(engine, ref, condition, stop))
    return await send_all(
        response, (json.dumps({"StatusCode": c, "Error": None}).encode() + b"\n" async for c in codes)
    )


def _log_window(request: web.Request) -> Any:
    from berth.engine.containers.logs import rfc3339_nano
    from berth.engine.containers.observe import TimeWindow

    def moment(name: str) -> str | None:
        text = request.query.get(name, "")
        if not text or text == "0":
            return None
        try:
            return rfc3339_nano(int(float(text) * 1e9))
        except ValueError:
            raise ApiError(400, f"invalid {name} {text!r}: want Unix seconds") from None

    return TimeWindow(moment("since"), moment("until"))


async def logs(request: web.Request) -> web.StreamResponse:
    """``GET /containers/{id}/logs?follow=&stdout=&stderr=&since=&until=&timestamps=&tail=``:
    frames (raw with a TTY)."""
    from berth.engine.containers.observe import log_output

    record = await blocking(request, _record, request.match_info["id"])
    opts = CreateOptions.from_json(record.config["options"])
    if opts.log_driver == "none":
        raise ApiError(501, "configured logging driver does not support reading")
    tty = opts.tty
    wanted = {1: query_bool(request, "stdout"), 2: query_bool(request, "stderr")}
    if not any(wanted.values()):
        raise ApiError(400, "You must choose at least one stream")
    tail_text = request.query.get("tail", "all")
    if tail_text != "all" and not tail_text.lstrip("-").isdigit():
        raise ApiError(400, f"invalid tail {tail_text!r}: want a number or all")
    tail_lines = None if tail_text == "all" else int(tail_text)
    follow, timestamps, window = (
        query_bool(request, "follow"),
        query_bool(request, "timestamps"),
        _log_window(request),
    )
    response = web.StreamResponse(headers={"Content-Type": stream_type(tty, api_version(request))})
    await response.prepare(request)

    def produce(engine: Engine, stop: threading.Event) -> Iterator[tuple[int, bytes]]:
        return log_output(engine, record.id, follow, tail_lines, timestamps, window, stop.is_set)

    output = iterate_in_thread(request, produce)
    return await send_all(
        response, (data if tty else frame(fd, data) async for fd, data in output if wanted[fd])
    )


def _system_cpu_ns() -> int:
    """The host's CPU time in nanoseconds (``/proc/stat``, in USER_HZ ticks of 10 ms)."""
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:]
    return sum(int(f) for f in fields[:8]) * 10_000_000


def _stats_sample(engine: Engine, ref: str) -> dict[str, Any]:
    from berth.engine.containers.observe import stats

    sample = stats(engine, ref)
    sample["system_ns"] = _system_cpu_ns()
    sample["read"] = time.time()
    sample["networks"] = _interface_counters(engine.db.container(ref).pid)
    return sample


def _interface_counters(pid: int | None) -> dict[str, dict[str, int]]:
    """Each of the container's network interfaces but the loopback, with its byte, packet, error
    and drop counts (proc(5) /proc/PID/net/dev, read in the container's network namespace)."""
    try:
        with open(f"/proc/{pid}/net/dev") as fh:
            lines = fh.read().splitlines()[2:]
    except (OSError, TypeError):
        return {}
    counters = {}
    for line in lines:
        name, _, numbers = line.partition(":")
        fields = [int(n) for n in numbers.split()]
        if name.strip() == "lo" or len(fields) < 12:
            continue
        counters[name.strip()] = {
            **dict(zip(("rx_bytes", "rx_packets", "rx_errors", "rx_dropped"), fields[0:4], strict=True)),
            **dict(zip(("tx_bytes", "tx_packets", "tx_errors", "tx_dropped"), fields[8:12], strict=True)),
        }
    return counters


def _stats_document(now: dict[str, Any], before: dict[str, Any] | None, mem_total: int) -> dict[str, Any]:
    """One ``GET /containers/{id}/stats`` object from two samples (the CLI's CPU % is the change
    in the container's CPU time over the change in the host's)."""
    from berth.engine.containers.logs import rfc3339_nano

    def cpu(sample: dict[str, Any] | None) -> dict[str, Any]:
        if sample is None:
            return {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
        return {
            "cpu_usage": {"total_usage": sample["cpu_ns"], "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "system_cpu_usage": sample["system_ns"],
            "online_cpus": _online_cpus(),
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        }

    return {
        "read": rfc3339_nano(int(now["read"] * 1e9)),
        "preread": rfc3339_nano(int(before["read"] * 1e9)) if before else "0001-01-01T00:00:00Z",
        "id": now["id"],
        "name": f"/{now['name']}",
        "pids_stats": {"current": now["pids"]},
        "num_procs": 0,
        "blkio_stats": {},
        "storage_stats": {},
        "cpu_stats": cpu(now),
        "precpu_stats": cpu(before),
        "memory_stats": {"usage": now["mem_usage"], "limit": now["mem_limit"] or mem_total, "stats": {}},
        **({"networks": now["networks"]} if now["networks"] else {}),
    }


def _online_cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _stats(engine: Engine, ref: str, stream: bool, one_shot: bool, stop: threading.Event) -> Iterator[Any]:
    from berth.dockerapi.system import mem_total

    total = mem_total()
    before = None if one_shot else _stats_sample(engine, ref)
    if before is not None and not stream:
        stop.wait(1.0)  # a second between the two samples, as dockerd's non-streamed stats
    while not stop.is_set():
        sample = _stats_sample(engine, ref)
        yield _stats_document(sample, before, total)
        if not stream:
            return
        before = sample
        stop.wait(1.0)


async def stats(request: web.Request) -> web.StreamResponse:
    """``GET /containers/{id}/stats?stream=&one-shot=``: one JSON object, or one a second."""
    ref = request.match_info["id"]
    stream, one_shot = query_bool(request, "stream", True), query_bool(request, "one-shot")
    if one_shot and stream:
        raise ApiError(400, "cannot have stream=true and one-shot=true")
    record = await blocking(request, _record, ref)
    if record.state not in ACTIVE:
        raise ApiError(409, f"container {record.name} is not running")
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    docs = iterate_in_thread(request, lambda engine, stop: _stats(engine, ref, stream, one_shot, stop))
    return await send_all(response, (json.dumps(doc).encode() + b"\n" async for doc in docs))


async def export(request: web.Request) -> web.StreamResponse:
    """``GET /containers/{id}/export``: the root filesystem as a tar."""
    from berth.engine.containers.filesystem import export_container

    ref = request.match_info["id"]
    await blocking(request, _record, ref)
    response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
    await response.prepare(request)
    writer = ResponseWriter(response, asyncio.get_running_loop())
    with contextlib.suppress(ConnectionResetError):  # the client went away
        await blocking(request, export_container, ref, writer, watch=True)
        await response.write_eof()
    return response


def register(router: Router) -> None:
    """Add the streaming container endpoints."""
    router.app[PENDING_ATTACH] = {}
    router.add("POST", "/containers/{id}/attach", attach)
    router.add("POST", "/containers/{id}/resize", resize)
    router.add("POST", "/containers/{id}/wait", wait)
    router.add("GET", "/containers/{id}/logs", logs)
    router.add("GET", "/containers/{id}/stats", stats)
    router.add("GET", "/containers/{id}/export", export)
