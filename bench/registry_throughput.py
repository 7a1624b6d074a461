"""How fast does Berth's registry server take pushes and answer manifest GETs, beside Debian's
docker-registry, and how lean is it?

1. skopeo pushes an image of one 256 MiB layer and twenty 1 MiB layers (random bytes) from an OCI
   layout to each registry; MiB/s for each, and the ratio.
2. Manifest GETs per second with 64 concurrent aiohttp clients, for 5 seconds, against each.
3. Peak resident memory (VmHWM) of Berth's server while 16 clients pull one 1 GiB blob at once.

Both servers run on 127.0.0.1 with temporary roots, in the same run. Pulls are measured end to end,
alternating and repeated, by ``bench/registry_pull.py``.

    uv run python bench/registry_throughput.py
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.registry_client.images import make_random_layout
from tests.integration.registry_server.peers import free_port, serve_command

MIB = 1 << 20


def wait_ready(addr: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://{addr}/v2/", timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"registry at {addr} did not start") from None
            time.sleep(0.1)


@contextmanager
def serving(addr: str, command: list[str]) -> Iterator[tuple[str, int]]:
    """Run a registry server until the block ends; yield its address and pid once it answers."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(addr, proc)
        yield addr, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def berth_registry(root: Path) -> AbstractContextManager[tuple[str, int]]:
    addr = f"127.0.0.1:{free_port()}"
    return serving(addr, serve_command(addr, root))


def docker_registry(root: Path) -> AbstractContextManager[tuple[str, int]]:
    addr = f"127.0.0.1:{free_port()}"
    config = root.parent / "docker-registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {addr}\n"
    )
    return serving(addr, ["docker-registry", "serve", str(config)])


def skopeo_copy(source: str, dest: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", source, dest],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


async def manifest_rps(addr: str, clients: int = 64, seconds: float = 5.0) -> float:
    url = f"http://{addr}/v2/bench/image/manifests/bench"
    headers = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    count = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                count += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return count / (time.perf_counter() - start)


async def parallel_pull(addr: str, digest: str, clients: int) -> int:
    url = f"http://{addr}/v2/bench/big/blobs/{digest}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def pull() -> int:
            received = 0
            async with session.get(url) as resp:
                async for chunk in resp.content.iter_chunked(1 << 20):
                    received += len(chunk)
            return received

        return sum(await asyncio.gather(*(pull() for _ in range(clients))))


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


async def push_big_blob(addr: str, path: Path) -> str:
    """Stream a file to the registry with a monolithic POST; return its digest."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(MIB):
            digest.update(chunk)
    ref = f"sha256:{digest.hexdigest()}"

    async def body() -> AsyncIterator[bytes]:
        with path.open("rb") as fh:
            while chunk := fh.read(MIB):
                yield chunk

    url = f"http://{addr}/v2/bench/big/blobs/uploads/?digest={ref}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(path.stat().st_size)}
        async with session.post(url, data=body(), headers=headers) as resp:
            assert resp.status == 201, resp.status
    return ref


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    try:
        layout = work / "layout"
        total = make_random_layout(layout, "bench", [256 * MIB] + [MIB] * 20) / MIB
        print(f"image: {total:.0f} MiB in 21 layers")
        results: dict[str, dict[str, float]] = {}
        for name, server in (("berth", berth_registry), ("docker-registry", docker_registry)):
            (work / name).mkdir()
            with server(work / name / "root") as (addr, _pid):
                push = skopeo_copy(f"oci:{layout}:bench", f"docker://{addr}/bench/image:bench")
                rps = asyncio.run(manifest_rps(addr))
            results[name] = {"push": total / push, "rps": rps}
            print(f"{name:16s} push {total / push:7.1f} MiB/s  manifest GET {rps:7.0f}/s")
        b, d = results["berth"], results["docker-registry"]
        print(
            f"{'berth / docker':16s} push {b['push'] / d['push']:7.2f}x       "
            f"manifest GET {b['rps'] / d['rps']:7.2f}x"
        )
        big = work / "big"
        with big.open("wb") as fh:
            for _ in range(1024):
                fh.write(os.urandom(MIB))
        (work / "mem").mkdir()
        with berth_registry(work / "mem" / "root") as (addr, pid):
            digest = asyncio.run(push_big_blob(addr, big))
            big.unlink()
            start = time.perf_counter()
            received = asyncio.run(parallel_pull(addr, digest, 16))
            elapsed = time.perf_counter() - start
            print(
                f"16 clients pulled {received / MIB / 1024:.0f} GiB in {elapsed:.1f} s; "
                f"berth server peak RSS {peak_rss_mib(pid):.0f} MiB (bar: 200 MiB)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
