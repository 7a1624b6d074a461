"""The CRI's speed beside containerd 1.6.20 + runc: a pod started, and ListContainers.

Both runtimes run in one process tree here, each on its own roots and socket under a temporary
directory, on the same CNI configuration (bridge, host-local with its data under that directory,
portmap; no masquerade rule) and the same images (busybox and Berth's pause image, pushed to a
``berth registry serve`` on 127.0.0.1 and pulled by each through PullImage). The client is the same
for both: Berth's generated ``runtime.v1`` stubs over gRPC.

1. A round is RunPodSandbox + CreateContainer + StartContainer (``sleep 3600``), timed end to end;
   the pod is stopped and removed after it, outside the timing. Rounds alternate containerd (runc),
   Berth on runc and Berth on berth-runtime (its ``berth-runtime`` handler), in the opposite order
   every other round; the median of ``--rounds`` each.
2. ListContainers (no filter) with ``--containers`` running containers on each side (in pods of
   20), ``--calls`` calls each, alternating (the order reversed every other call); the median.
   Beside them, the floor: ``bench/grpc_floor.py``, grpcio's Python server answering Berth's
   encoded answer with no work at all (what no server on grpcio's Python server can go under).

The ratios are Berth/containerd. The machine's load average is printed at the start and the end.
containerd is configured as the kubelet would have it on this host: the CRI plugin with the runc
v2 shim and cgroupfs, and ``restrict_oom_score_adj`` (the host lacks CAP_SYS_RESOURCE, so runc
cannot lower a sandbox's oom_score_adj to -998: without it every RunPodSandbox fails with
"can't get final child's PID from pipe: EOF").

    uv run python bench/cri_speed.py [--rounds 50] [--containers 200] [--calls 50]   (0: skip that part)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_run import _mounts_under
from bench.registry_throughput import serving
from tests.busybox import make_rootfs
from tests.integration.engine_images.image_builder import store_busybox_image
from tests.integration.registry_server.peers import free_port, serve_command

from berth.cri.proto import api_pb2 as pb
from berth.cri.proto import api_pb2_grpc
from berth.spec.image_config import ContainerConfig

BERTH = str(Path(sys.executable).with_name("berth"))
CONTAINERD = "containerd"
#: A cgroup parent for every pod of the run, as the kubelet gives one (not ``berth-*``: the test
#: suite's leak check counts those host-wide).
CGROUP_PARENT = f"/cribench-{os.getpid()}"
PODS_OF = 20  # containers per pod for ListContainers


@dataclass(frozen=True)
class Side:
    """One CRI server as a client sees it: its runtime and image services, and the runtime handler
    its pods ask for."""

    name: str
    runtime: Any
    images: Any
    handler: str = ""

    @classmethod
    def connect(cls, name: str, socket: Path) -> Side:
        import grpc

        channel = grpc.insecure_channel(f"unix://{socket}")
        grpc.channel_ready_future(channel).result(timeout=60)
        return cls(name, api_pb2_grpc.RuntimeServiceStub(channel), api_pb2_grpc.ImageServiceStub(channel))


class Bench:
    """Pods made through one ``Side``, numbered so names and log directories never repeat."""

    def __init__(self, work: Path, image: str) -> None:
        self.work = work
        self.image = image
        self.count = 0
        #: each side's time per RPC of its rounds: where a round's time goes
        self.per_rpc: dict[str, dict[str, list[float]]] = {}

    def _timed_rpc(self, side: Side, rpc: str, call: Callable[[Any], Any], request: Any) -> Any:
        start = time.perf_counter()
        answer = call(request)
        self.per_rpc.setdefault(side.name, {}).setdefault(rpc, []).append(time.perf_counter() - start)
        return answer

    def run_pod(self, side: Side, containers: int = 1) -> str:
        """RunPodSandbox, then CreateContainer and StartContainer ``containers`` times."""
        self.count += 1
        name = f"p{self.count}"
        logs = self.work / "logs" / side.name.replace(" ", "-") / name
        logs.mkdir(parents=True)
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="bench"),
            hostname=name,
            log_directory=str(logs),
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=CGROUP_PARENT,
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(pid=pb.NamespaceMode.Value("CONTAINER"))
                ),
            ),
        )
        pod = self._timed_rpc(
            side,
            "RunPodSandbox",
            side.runtime.RunPodSandbox,
            pb.RunPodSandboxRequest(config=config, runtime_handler=side.handler),
        ).pod_sandbox_id
        for n in range(containers):
            container = pb.ContainerConfig(
                metadata=pb.ContainerMetadata(name=f"c{n}"),
                image=pb.ImageSpec(image=self.image),
                command=["sleep", "3600"],
                log_path=f"c{n}.log",
            )
            cid = self._timed_rpc(
                side,
                "CreateContainer",
                side.runtime.CreateContainer,
                pb.CreateContainerRequest(pod_sandbox_id=pod, config=container, sandbox_config=config),
            ).container_id
            self._timed_rpc(
                side,
                "StartContainer",
                side.runtime.StartContainer,
                pb.StartContainerRequest(container_id=cid),
            )
        return pod

    @staticmethod
    def remove_pod(side: Side, pod: str) -> None:
        side.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod))
        side.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod))


def turns(sides: list[Side], n: int) -> list[Side]:
    """The sides in turn, in the opposite order every other time: whoever goes right after
    containerd shares the cores with the Go runtime's threads still spinning from its call."""
    return sides if n % 2 == 0 else sides[::-1]


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def report(title: str, times: dict[str, list[float]], anchor: str) -> None:
    """Each side's median (with its quartiles) in ms, and its ratio to ``anchor``'s."""
    print(title)
    base = statistics.median(times[anchor])
    for name, values in times.items():
        median = statistics.median(values)
        q1, _, q3 = statistics.quantiles(values, n=4)
        ratio = "" if name == anchor else f"   {median / base:.2f}x {anchor}"
        print(
            f"  {name:22s} median {median * 1000:8.2f} ms  (quartiles {q1 * 1000:.2f}-{q3 * 1000:.2f}){ratio}"
        )


def start_rounds(bench: Bench, sides: list[Side], rounds: int) -> None:
    for side in sides:  # warm: images unpacked, caches and bytecode
        bench.remove_pod(side, bench.run_pod(side))
    times: dict[str, list[float]] = {side.name: [] for side in sides}
    for n in range(rounds):
        for side in turns(sides, n):
            pods: list[str] = []
            times[side.name].append(timed(lambda: pods.append(bench.run_pod(side))))  # noqa: B023
            bench.remove_pod(side, pods[0])
    report(f"RunPodSandbox + CreateContainer + StartContainer, median of {rounds}", times, sides[0].name)
    for side in sides:  # the rounds' calls only (the warm-up's are the first of each)
        medians = {rpc: statistics.median(t[1:]) * 1000 for rpc, t in bench.per_rpc[side.name].items()}
        print(f"  {side.name:22s} " + ", ".join(f"{rpc} {ms:.1f} ms" for rpc, ms in medians.items()))


def list_rounds(bench: Bench, sides: list[Side], containers: int, calls: int) -> None:
    pods = {side.name: [bench.run_pod(side, PODS_OF) for _ in range(containers // PODS_OF)] for side in sides}
    request = pb.ListContainersRequest()
    for side in sides:
        answer = side.runtime.ListContainers(request)
        if len(answer.containers) != containers:
            raise SystemExit(f"{side.name} lists {len(answer.containers)} containers, not {containers}")
        print(f"  {side.name}: the answer is {answer.ByteSize()} bytes")
    with grpc_floor(bench.work, answer.SerializeToString()) as floor:
        timed_sides = [*sides, floor]
        times: dict[str, list[float]] = {side.name: [] for side in timed_sides}
        for n in range(calls):
            for side in turns(timed_sides, n):
                times[side.name].append(timed(lambda: side.runtime.ListContainers(request)))  # noqa: B023
    report(f"ListContainers with {containers} running containers, median of {calls}", times, sides[0].name)
    for side in sides:
        for pod in pods[side.name]:
            bench.remove_pod(side, pod)


@contextmanager
def grpc_floor(work: Path, answer: bytes) -> Iterator[Side]:
    """``bench/grpc_floor.py`` serving ``answer`` (the last side's): grpcio's Python server doing no
    work, timed beside the others as the floor under Berth's time."""
    (work / "floor-answer").write_bytes(answer)
    socket = work / "floor.sock"
    script = Path(__file__).with_name("grpc_floor.py")
    server = subprocess.Popen(
        [sys.executable, str(script), str(work / "floor-answer"), str(socket)], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise SystemExit("bench/grpc_floor.py did not start")
        yield Side.connect("grpcio, no work", socket)
    finally:
        stop(server)


def push_images(work: Path, registry: str) -> tuple[str, str]:
    """Busybox and Berth's pause image, made in a scratch store and pushed to ``registry``."""
    from berth.engine.config import load_config
    from berth.engine.engine import Engine
    from berth.engine.images.pause import ensure_pause_image

    root, env = work / "source", berth_env(work / "source")
    store_busybox_image(
        root, make_rootfs(work / "rootfs"), "localhost/bench/busybox:1", ContainerConfig(cmd=("sh",))
    )
    engine = Engine(
        load_config(root=str(root), runroot=str(work / "source-run"), config_file=env["BERTH_CONFIG"])
    )
    try:
        pause = ensure_pause_image(engine)
    finally:
        engine.close()
    busybox, sandbox = f"{registry}/bench/busybox:1", f"{registry}/bench/pause:1"
    for source, dest in (("localhost/bench/busybox:1", busybox), (pause, sandbox)):
        subprocess.run([BERTH, "push", "-q", "--tls-verify=false", source, dest], env=env, check=True)
    return busybox, sandbox


def berth_env(root: Path) -> dict[str, str]:
    """Berth's roots under ``root``, no configuration file, bytecode written as a user has it."""
    return {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "BERTH_ROOT": str(root),
        "BERTH_RUNROOT": f"{root}-run",
        "BERTH_CONFIG": str(root.parent / "none.toml"),
    }


def write_cni(work: Path, bridge: str) -> Path:
    """The pods' network for both sides: one conflist, host-local's allocations under ``work``."""
    import json

    net_d = work / "net.d"
    net_d.mkdir()
    conflist = {
        "cniVersion": "1.0.0",
        "name": "cribench",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.236.0.0/16"}]],
                    "dataDir": str(work / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (net_d / "10-cribench.conflist").write_text(json.dumps(conflist))
    return net_d


@contextmanager
def containerd(work: Path, net_d: Path, registry: str, sandbox: str) -> Iterator[Path]:
    """containerd 1.6's CRI plugin with the runc v2 shim, everything under ``work/containerd``."""
    top = work / "containerd"
    hosts = top / "certs.d" / registry
    hosts.mkdir(parents=True)
    (hosts / "hosts.toml").write_text(
        f'server = "http://{registry}"\n[host."http://{registry}"]\n  capabilities = ["pull", "resolve"]\n'
    )
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    (top / "config.toml").write_text(
        f'version = 2\nroot = "{top}/root"\nstate = "{top}/state"\n'
        f'[grpc]\n  address = "{top}/containerd.sock"\n'
        f'[ttrpc]\n  address = "{top}/containerd.sock.ttrpc"\n'
        f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{top}/opt"\n'
        f'[{cri}]\n  sandbox_image = "{sandbox}"\n  restrict_oom_score_adj = true\n'
        f'[{cri}.containerd]\n  snapshotter = "overlayfs"\n  default_runtime_name = "runc"\n'
        f'[{cri}.containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n'
        f'[{cri}.containerd.runtimes.runc.options]\n  SystemdCgroup = false\n  Root = "{top}/runc"\n'
        f'[{cri}.cni]\n  bin_dir = "/usr/lib/cni"\n  conf_dir = "{net_d}"\n'
        f'[{cri}.registry]\n  config_path = "{top}/certs.d"\n'
    )
    socket = top / "containerd.sock"
    with (top / "containerd.log").open("w") as log:
        process = subprocess.Popen([CONTAINERD, "--config", str(top / "config.toml")], stdout=log, stderr=log)
    try:
        wait_for_socket(socket, process, top / "containerd.log")
        yield socket
    finally:
        stop(process)


@contextmanager
def berth_cri(work: Path, net_d: Path, registry: str, sandbox: str) -> Iterator[Path]:
    """``berth cri serve``: runc the default handler, berth-runtime the ``berth-runtime`` one."""
    top = work / "berth"
    top.mkdir()
    (top / "registries.conf").write_text(f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n')
    (top / "cri.toml").write_text(
        f'sandbox_image = "{sandbox}"\nregistries_conf = "{top}/registries.conf"\n'
        f'cni_plugin_dirs = ["/usr/lib/cni"]\ncni_conf_dir = "{net_d}"\n'
        '[runtime_handlers]\ndefault = "runc"\nberth-runtime = "berth-runtime"\n'
    )
    socket = top / "cri.sock"
    with (top / "cri.log").open("w") as log:
        process = subprocess.Popen(
            [BERTH, "cri", "serve", "--listen", f"unix://{socket}", "--config", str(top / "cri.toml")],
            env=berth_env(top / "root"),
            stdout=log,
            stderr=log,
        )
    try:
        wait_for_socket(socket, process, top / "cri.log")
        yield socket
    finally:
        stop(process)


def wait_for_socket(path: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{path.name} did not appear: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def remove_every_pod(side: Side) -> None:
    """What a failed run left on ``side``."""
    for pod in side.runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items:
        Bench.remove_pod(side, pod.id)


def clean_host(work: Path, bridge: str) -> None:
    """What outlives the servers: mounts under ``work``, the pods' cgroup parent, the bridge."""
    for target in sorted(_mounts_under(work), reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        parent = hierarchy / CGROUP_PARENT.lstrip("/")
        for cgroup in sorted(parent.glob("**/"), reverse=True):
            try:
                cgroup.rmdir()
            except OSError as err:
                print(f"left behind: {err}", file=sys.stderr)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--containers", type=int, default=200, help="a multiple of 20")
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    work = Path(tempfile.mkdtemp(prefix="cribench-"))
    bridge = f"crib{os.getpid() % 100000}"
    print(f"load average {os.getloadavg()[0]:.2f} at the start ({os.cpu_count()} CPUs)")
    try:
        with ExitStack() as stack:
            registry = f"127.0.0.1:{free_port()}"
            stack.enter_context(serving(registry, serve_command(registry, work / "registry")))
            busybox, sandbox = push_images(work, registry)
            net_d = write_cni(work, bridge)
            theirs = Side.connect(
                "containerd (runc)", stack.enter_context(containerd(work, net_d, registry, sandbox))
            )
            ours = Side.connect(
                "berth (runc)", stack.enter_context(berth_cri(work, net_d, registry, sandbox))
            )
            sides = [theirs, ours, replace(ours, name="berth (berth-runtime)", handler="berth-runtime")]
            for side in (theirs, ours):
                stack.callback(remove_every_pod, side)
                for image in (busybox, sandbox):
                    side.images.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=image)))
            bench = Bench(work, busybox)
            if args.rounds:
                start_rounds(bench, sides, args.rounds)
            if args.calls:
                list_rounds(bench, sides[:2], args.containers, args.calls)
    finally:
        clean_host(work, bridge)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
