"""Exec endpoints (engine API v1.44, Exec): create, start (hijacked, with a TTY or multiplexed),
resize, inspect. An exec instance lives in the service's memory, as in dockerd; its process is
the runtime's foreground ``exec`` (the engine's ``prepare_exec``), a child of the service."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
import time
from typing import Any

from aiohttp import web

from berth.dockerapi.app import Router, api_version, blocking, json_response, query_int, read_json
from berth.dockerapi.container_config import Fields
from berth.dockerapi.errors import ApiError
from berth.dockerapi.streams import STDERR, STDOUT, Hijacked, frame, hijack, stream_type
from berth.engine.engine import Engine, new_id
from berth.engine.rootfs import CommandNotExecutable, CommandNotFound

_CHUNK = 32768
#: How long an ended exec stays inspectable (its exit code) before it is forgotten, as dockerd
#: forgets them.
_KEEP_ENDED_S = 300.0


class ExecInstance:
    """One exec: what to run, and once started its process and exit code."""

    def __init__(self, container: str, body: Fields) -> None:
        self.id = new_id()
        self.container = container
        self.command = body.strings("Cmd")
        if not self.command:
            raise ApiError(400, "no command given: Cmd is required")
        self.env = body.strings("Env")
        self.user = body.text("User")
        self.workdir = body.text("WorkingDir")
        self.tty = body.flag("Tty")
        self.stdin = body.flag("AttachStdin")
        self.stdout = body.flag("AttachStdout")
        self.stderr = body.flag("AttachStderr")
        self.privileged = body.flag("Privileged")
        self.running = False
        self.started = False
        self.ended_at: float | None = None
        self.exit_code: int | None = None
        self.pid = 0
        self.master: int | None = None  # the terminal's master side, with a TTY
        #: The output unframed: the start asked for ``Tty`` (dockerd decides by the start's
        #: ``Tty``, not the exec's, so a TTY exec started without it is multiplexed as stdout).
        self.raw_output = False
        self.process: asyncio.subprocess.Process | None = None

    def document(self) -> dict[str, Any]:
        """``GET /exec/{id}/json``."""
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.command[0],
                "arguments": self.command[1:],
                "privileged": self.privileged,
                "user": self.user,
            },
            "OpenStdin": self.stdin,
            "OpenStderr": self.stderr,
            "OpenStdout": self.stdout,
            "CanRemove": False,
            "ContainerID": self.container,
            "DetachKeys": "",
            "Pid": self.pid,
        }


EXECS = web.AppKey("execs", dict)


def _instance(request: web.Request) -> ExecInstance:
    execs: dict[str, ExecInstance] = request.app[EXECS]
    found = execs.get(request.match_info["exec_id"])
    if found is None:
        raise ApiError(404, f"No such exec instance: {request.match_info['exec_id']}")
    return found


def _running_container(engine: Engine, ref: str) -> str:
    from berth.engine.containers.state import refresh
    from berth.engine.metadata import RUNNING

    record = refresh(engine, engine.db.container(ref))
    if record.state != RUNNING:
        raise ApiError(409, f"container {record.name} is not running")
    return record.id


async def create(request: web.Request) -> web.StreamResponse:
    """``POST /containers/{id}/exec``: 201 ``{"Id"}``."""
    body = Fields(await read_json(request, {}), "")
    cid = await blocking(request, _running_container, request.match_info["id"])
    instance = ExecInstance(cid, body)
    execs: dict[str, ExecInstance] = request.app[EXECS]
    now = time.monotonic()
    for ended in [
        e.id for e in execs.values() if e.ended_at is not None and now - e.ended_at > _KEEP_ENDED_S
    ]:
        del execs[ended]
    execs[instance.id] = instance
    return json_response({"Id": instance.id}, status=201)


def _prepare(engine: Engine, instance: ExecInstance) -> tuple[list[str], str]:
    from berth.engine.containers.execute import prepare_exec
    from berth.engine.containers.state import refresh
    from berth.engine.event_log import container_event

    record = refresh(engine, engine.db.container(instance.container))
    argv, process_file = prepare_exec(
        engine, record, instance.command, instance.tty, instance.env, instance.user, instance.workdir
    )
    container_event(engine.config, record, "exec")
    return argv, str(process_file)


async def _spawn(instance: ExecInstance, argv: list[str]) -> asyncio.subprocess.Process:
    pipe = asyncio.subprocess.PIPE
    if not instance.tty:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=pipe if instance.stdin else asyncio.subprocess.DEVNULL,
            stdout=pipe,
            stderr=pipe,
            start_new_session=True,
        )
    # The runtime's foreground exec with --tty relays between its stdio and the container's
    # terminal, resizing that one to its stdin's size on SIGWINCH: give it a terminal of ours.
    master, slave = os.openpty()
    # A size until the client sends its own (docker sends it after the start): 0x0 confuses programs.
    _set_size(master, 24, 80)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    instance.master = master
    return process


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


async def _output(instance: ExecInstance, hijacked: Hijacked | None) -> None:
    """Relay the process's output to the client until it ends (dropped once the client left)."""
    process = instance.process
    assert process is not None

    async def send(data: bytes) -> None:
        nonlocal hijacked
        if hijacked is not None:
            try:
                await hijacked.send(data)
            except ConnectionError:
                hijacked = None

    if instance.master is not None:
        reader = _MasterReader(instance.master)
        while data := await reader.read():
            await send(data if instance.raw_output else frame(STDOUT, data))
        return

    async def pump(stream: asyncio.StreamReader | None, kind: int, wanted: bool) -> None:
        if stream is None:
            return
        while data := await stream.read(_CHUNK):
            if wanted:
                await send(frame(kind, data))

    await asyncio.gather(
        pump(process.stdout, STDOUT, instance.stdout), pump(process.stderr, STDERR, instance.stderr)
    )


class _MasterReader:
    """Reads a terminal's master side from the event loop; ``b""`` once the other side is closed."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)

    async def read(self) -> bytes:
        loop = asyncio.get_running_loop()
        while True:
            try:
                return os.read(self.fd, _CHUNK)
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_reader(self.fd, ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_reader(self.fd)
            except OSError:
                return b""  # EIO: every process holding the terminal has gone


async def _input(instance: ExecInstance, hijacked: Hijacked) -> None:
    """Relay the client's input to the process until the client closes its side."""
    process = instance.process
    assert process is not None
    while True:
        data = await hijacked.receive()
        if instance.master is not None:
            if not data:
                return
            with contextlib.suppress(OSError):
                os.write(instance.master, data)
            continue
        if process.stdin is None:
            return
        if not data:
            with contextlib.suppress(OSError):
                process.stdin.close()
            return
        with contextlib.suppress(ConnectionError):
            process.stdin.write(data)
            await process.stdin.drain()


async def _run(
    request: web.Request,
    instance: ExecInstance,
    argv: list[str],
    process_file: str,
    hijacked: Hijacked | None,
) -> None:
    instance.process = await _spawn(instance, argv)
    instance.pid = instance.process.pid
    pump = asyncio.ensure_future(_input(instance, hijacked)) if hijacked and instance.stdin else None
    try:
        await _output(instance, hijacked)
        code = await instance.process.wait()
    finally:
        if pump is not None:
            pump.cancel()
        if instance.master is not None:
            os.close(instance.master)
            instance.master = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(process_file)
    instance.exit_code = code if code >= 0 else 128 - code
    instance.running = False
    instance.ended_at = time.monotonic()
    await blocking(request, _exec_died, instance.container)


def _exec_died(engine: Engine, cid: str) -> None:
    from berth.engine.event_log import container_event

    container_event(engine.config, engine.db.container(cid), "exec_died")


async def start(request: web.Request) -> web.StreamResponse:
    """``POST /exec/{id}/start`` (``{"Detach", "Tty"}``): the hijacked stream until the process
    ends, or with ``Detach`` 200 at once."""
    instance = _instance(request)
    body = Fields(await read_json(request, {}), "")
    if instance.started:
        raise ApiError(409, f"exec {instance.id} has already started")
    instance.started = instance.running = True
    instance.raw_output = body.flag("Tty")
    try:
        argv, process_file = await blocking(request, _prepare, instance)
    except (CommandNotFound, CommandNotExecutable) as err:
        # dockerd: the exec ends with the shell's status for it (127, 126) and says why
        return await _unrunnable(request, instance, body.flag("Detach"), err)
    except BaseException:
        instance.started = instance.running = False
        raise
    if body.flag("Detach"):
        task = asyncio.ensure_future(_run(request, instance, argv, process_file, None))
        request.app[BACKGROUND].add(task)
        task.add_done_callback(request.app[BACKGROUND].discard)
        return web.Response(status=200)  # dockerd answers a detached start with no body
    hijacked = await hijack(request, stream_type(instance.raw_output, api_version(request)))
    try:
        await _run(request, instance, argv, process_file, hijacked)
    finally:
        await hijacked.close()
    return hijacked.response


async def _unrunnable(
    request: web.Request, instance: ExecInstance, detach: bool, err: CommandNotFound | CommandNotExecutable
) -> web.StreamResponse:
    """An exec whose command can not be run: ended with the error's status, its message on the
    process's stderr."""
    instance.exit_code, instance.running, instance.ended_at = err.exit_code, False, time.monotonic()
    if detach:
        return web.Response(status=200)
    hijacked = await hijack(request, stream_type(instance.raw_output, api_version(request)))
    message = f"{err}\n".encode()
    try:
        await hijacked.send(message if instance.raw_output else frame(STDERR, message))
    finally:
        await hijacked.close()
    return hijacked.response


BACKGROUND = web.AppKey("exec_background", set)


async def resize(request: web.Request) -> web.StreamResponse:
    """``POST /exec/{id}/resize?h=&w=``: the terminal's size (a TTY exec that runs)."""
    instance = _instance(request)
    height, width = query_int(request, "h", 0) or 0, query_int(request, "w", 0) or 0
    if instance.master is None or instance.process is None:
        raise ApiError(409, f"exec {instance.id} has no running terminal")
    _set_size(instance.master, height, width)
    # The runtime's exec resizes the container's terminal to its own on SIGWINCH.
    with contextlib.suppress(ProcessLookupError):
        instance.process.send_signal(signal.SIGWINCH)
    return web.Response(status=201)


async def inspect(request: web.Request) -> web.StreamResponse:
    """``GET /exec/{id}/json``."""
    return json_response(_instance(request).document())


def register(router: Router) -> None:
    """Add the exec endpoints."""
    router.app[EXECS] = {}
    router.app[BACKGROUND] = set()
    router.add("POST", "/containers/{id}/exec", create)
    router.add("POST", "/exec/{exec_id}/start", start)
    router.add("POST", "/exec/{exec_id}/resize", resize)
    router.add("GET", "/exec/{exec_id}/json", inspect)
