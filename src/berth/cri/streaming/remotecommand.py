"""Exec and Attach over Kubernetes' remote command protocol (``v4.channel.k8s.io`` on SPDY).

The client opens one stream per channel, each named by its ``streamtype`` header: ``error``,
``stdin``, ``stdout``, ``stderr`` (not with a terminal) and ``resize`` (only with one: a JSON
object ``{"Width": W, "Height": H}`` per change). The process's output goes to stdout/stderr, each
closed when it ends; then the error stream carries the result as a ``metav1.Status`` (v4: Success,
or Failure with reason NonZeroExitCode and the code as the ExitCode cause) and closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from berth.cri.streaming.spdy import Stream, StreamSession

PROTOCOL = "v4.channel.k8s.io"
_STREAM_WAIT_S = 30.0


def expected_channels(options: dict[str, Any]) -> set[str]:
    """The streams the client opens for a request's stdin/stdout/stderr/tty."""
    wanted = {"error"}
    wanted |= {name for name in ("stdin", "stdout") if options.get(name)}
    if options.get("stderr") and not options.get("tty"):
        wanted.add("stderr")
    if options.get("tty"):
        wanted.add("resize")
    return wanted


def accept_channels(session: StreamSession, wanted: set[str]) -> dict[str, Stream] | None:
    """Wait for the client to open the ``wanted`` streams; None if it does not in time."""
    channels: dict[str, Stream] = {}
    while not wanted <= channels.keys():
        try:
            stream = session.streams.get(timeout=_STREAM_WAIT_S)
        except queue.Empty:
            return None
        if stream is None:
            return None
        channels[stream.headers.get("streamtype", "")] = stream
    return channels


def status_json(code: int | None, command: list[str]) -> bytes:
    """The v4 error stream's ``metav1.Status`` for an exit code (None: the container went away)."""
    if code == 0:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    message = (
        f"command terminated with non-zero exit code: error executing command {command}, exit code {code}"
    )
    return json.dumps(
        {
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    ).encode()


def failure_json(message: str) -> bytes:
    """The error stream's ``metav1.Status`` for a session that could not run."""
    return json.dumps({"metadata": {}, "status": "Failure", "message": message}).encode()


def finish(channels: dict[str, Stream], status: bytes) -> None:
    """Close the output streams, then report ``status`` on the error stream and close it."""
    for name in ("stdout", "stderr", "stdin", "resize"):
        if name in channels:
            channels[name].close()
    channels["error"].write(status)
    channels["error"].close()


def resizes(stream: Stream) -> Any:
    """The (width, height) pairs the resize stream sends, until it ends."""
    decoder, text = json.JSONDecoder(), ""
    while data := stream.read():
        text += data.decode(errors="replace")
        while text.strip():
            try:
                value, end = decoder.raw_decode(text.lstrip())
            except ValueError:
                break  # the rest of the object is still to come
            text = text.lstrip()[end:]
            yield int(value.get("Width", 0)), int(value.get("Height", 0))


def run_exec(argv: list[str], channels: dict[str, Stream], tty: bool) -> int:
    """Run the runtime's foreground ``exec`` (``argv``) with the channels as its stdio; its exit code.

    With a terminal, the runtime's stdio is a pseudo-terminal of ours: the runtime copies between it
    and the container's, and on SIGWINCH takes its size from it (runc's foreground ``--tty``)."""
    stdin = channels.get("stdin")
    if tty:
        master, slave = os.openpty()
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        outputs = [(master, channels.get("stdout"))]
        writer = master
        if "resize" in channels:
            _thread(_apply_resizes, channels["resize"], master, proc)
    else:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        outputs = [
            (proc.stdout.fileno(), channels.get("stdout")),
            (proc.stderr.fileno(), channels.get("stderr")),
        ]
        writer = proc.stdin.fileno() if proc.stdin is not None else -1
    if stdin is not None:
        _thread(_copy_in, stdin, writer, None if tty else proc.stdin)
    pumps = [_thread(_copy_out, fd, stream) for fd, stream in outputs]
    code = proc.wait()
    for pump in pumps:
        pump.join()
    if tty:
        os.close(master)
    return code if code >= 0 else 128 - code


def _apply_resizes(stream: Stream, master: int, proc: subprocess.Popen[bytes]) -> None:
    import fcntl
    import termios

    for width, height in resizes(stream):
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGWINCH)


def _copy_in(stream: Stream, fd: int, pipe: Any) -> None:
    """The client's stdin into ``fd``; at its end, close the pipe (or send ^D to a terminal)."""
    try:
        while data := stream.read():
            os.write(fd, data)
        if pipe is not None:
            pipe.close()
        else:
            os.write(fd, b"\x04")
    except OSError:
        pass


def _copy_out(fd: int, stream: Stream | None) -> None:
    """``fd``'s output to ``stream`` (dropped without one) until its end (EIO: a terminal's)."""
    while True:
        try:
            data = os.read(fd, 32768)
        except OSError:
            data = b""
        if not data:
            return
        if stream is not None:
            stream.write(data)


def run_attach(sock: socket.socket, channels: dict[str, Stream]) -> int | None:
    """Relay between a monitor's attach connection ``sock`` and the channels until the container
    exits (its exit code) or the connection ends (None)."""
    from berth.engine.containers.monitor import CLOSE_STDIN, EXIT, RESIZE, STDERR, STDIN, STDOUT

    stdin = channels.get("stdin")
    if stdin is not None:

        def forward() -> None:
            with contextlib.suppress(OSError):
                while data := stdin.read():
                    sock.send(bytes([STDIN]) + data)
                sock.send(bytes([CLOSE_STDIN]))

        _thread(forward)
    if "resize" in channels:

        def resize() -> None:
            with contextlib.suppress(OSError):
                for width, height in resizes(channels["resize"]):
                    sock.send(bytes([RESIZE]) + struct.pack("HH", height, width))

        _thread(resize)
    # A terminal's one stream comes as stdout; stderr without its own channel goes there too.
    outputs = {STDOUT: channels.get("stdout"), STDERR: channels.get("stderr") or channels.get("stdout")}
    while True:
        try:
            packet = sock.recv(65536)
        except OSError:
            return None
        if not packet:
            return None
        kind, body = packet[0], packet[1:]
        if kind == EXIT:
            return int(body or b"0")
        stream = outputs.get(kind)
        if stream is not None:
            stream.write(body)


def _thread(target: Callable[..., object], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread
