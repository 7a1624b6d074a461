"""docker-py's integration suite against ``berth system service`` and ``podman system service``, in one
run, and the two results side by side.

The suite is docker/docker-py's ``tests/integration``, fetched and extracted outside the project
(this script fetches nothing): pass the extracted tree. Its swarm, service, plugin, secret, config
and node tests are left out, the one that needs the internet (an ``ADD`` of an https URL), and the
credential-helper tests (no engine in them; one rebinds ``os.environ``, losing ``DOCKER_HOST``).

The images the suite names (``alpine:3.10``, ``alpine:latest``, ``busybox``, ``hello-world``) are
stand-ins built here from Debian's busybox-static and served from a Berth registry on 127.0.0.1,
which a registries.conf given to both engines makes the location of ``docker.io``: every pull the
suite makes (its session set-up pulls ``alpine:3.10``) stays on this host. Both engines run with
runc in temporary roots; podman with ``default_ulimits = []`` (its default asks for limits above
this host's hard ones) and CNI configuration of its own. The suite runs with ``--python`` (a
virtual environment with docker-py, pytest, pytest-timeout and paramiko), once per service.

Run as root::

    uv run python scripts/dockerpy_suite.py /tmp/docker-py --python /tmp/venv/bin/python [-k EXPR]

It prints each side's counts, the tests podman passes and Berth does not (the bar: none), and the
number Berth passes and podman does not; junit files and logs stay in ``--keep DIR`` if given.
Exit status 0 when Berth passes every test podman passes, and more.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dockerapi import wait_for_socket
from bench.engine_run import Engines, become_subreaper, engines
from tests.busybox import make_rootfs
from tests.integration.engine_images.image_builder import store_busybox_image

from berth.spec.image_config import ContainerConfig

#: The suite's files for swarm mode and plugins, which neither engine offers.
LEFT_OUT_FILES = (
    "api_swarm_test.py",
    "api_service_test.py",
    "api_plugin_test.py",
    "api_secret_test.py",
    "api_config_test.py",
    "models_swarm_test.py",
    "models_services_test.py",
    "models_nodes_test.py",
)
#: Tests that reach the internet whatever the registries say.
INTERNET = ("api_build_test.py::BuildTest::test_build_streaming",)
#: The credential-helper tests drive docker-credential-* programs, no engine; and one of them
#: (utils_test) rebinds os.environ, so every later test loses DOCKER_HOST.
NOT_OF_AN_ENGINE = ("credentials",)

_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The stand-ins: repository:tag under docker.io/library, and the image's config.
STAND_INS = {
    "alpine:3.10": ContainerConfig(env=(_PATH,), cmd=("/bin/sh",)),
    "alpine:latest": ContainerConfig(env=(_PATH,), cmd=("/bin/sh",)),
    "busybox:latest": ContainerConfig(env=(_PATH,), cmd=("sh",)),
    "hello-world:latest": ContainerConfig(env=(_PATH,), cmd=("echo", "Hello from Docker!")),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the registry on port {port} did not start") from None
            time.sleep(0.1)


def push_stand_ins(e: Engines, registry: str) -> None:
    """Build the stand-ins in a scratch Berth root and push them to ``registry``/library."""
    rootfs = make_rootfs(e.work / "rootfs")
    env = {**e.berth_env, "BERTH_ROOT": str(e.work / "seed"), "BERTH_RUNROOT": str(e.work / "seed-run")}
    for name, config in STAND_INS.items():
        ref = f"{registry}/library/{name}"
        store_busybox_image(e.work / "seed", rootfs, ref, config)
        subprocess.run([*e.berth, "push", "-q", "--tls-verify=false", ref], env=env, check=True)


def write_configs(work: Path, registry: str) -> dict[str, str]:
    """registries.conf (docker.io is the local registry) and podman's containers.conf; the
    environment variables that name them."""
    registries = work / "registries.conf"
    registries.write_text(f'[[registry]]\nprefix = "docker.io"\nlocation = "{registry}"\ninsecure = true\n')
    containers = work / "containers.conf"
    containers.write_text(
        "[containers]\ndefault_ulimits = []\n"
        f'[network]\nnetwork_config_dir = "{work / "podman-networks"}"\n'
        '[engine]\nruntime = "runc"\n'
    )
    (work / "podman-networks").mkdir()
    return {"CONTAINERS_REGISTRIES_CONF": str(registries), "CONTAINERS_CONF": str(containers)}


def run_suite(suite: Path, python: str, sock: Path, junit: Path, log: Path, select: list[str]) -> None:
    """The suite against the service at ``sock``; its output to ``log``."""
    argv = [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--timeout", "300",
            f"--junitxml={junit}", "tests/integration", *select]  # fmt: skip
    argv += [f"--ignore=tests/integration/{name}" for name in (*LEFT_OUT_FILES, *NOT_OF_AN_ENGINE)]
    argv += [f"--deselect=tests/integration/{test}" for test in INTERNET]
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    env.pop("DOCKER_TEST_API_VERSION", None)
    with open(log, "w") as out:
        subprocess.run(argv, cwd=suite, env=env, stdout=out, stderr=subprocess.STDOUT)


def outcomes(junit: Path) -> dict[str, str]:
    """Each test's outcome (passed, failed, error or skipped) from a junit file."""
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        result[test] = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(
            kinds[0] if kinds else "", "passed"
        )
    return result


def summary(name: str, results: dict[str, str]) -> str:
    counts = {k: sum(1 for v in results.values() if v == k) for k in ("passed", "failed", "error", "skipped")}
    return f"{name:7s} " + ", ".join(f"{n} {k}" for k, n in counts.items()) + f" of {len(results)}"


def compare(berth: dict[str, str], podman: dict[str, str]) -> bool:
    """Print the comparison; whether Berth meets the bar."""
    print(summary("berth", berth))
    print(summary("podman", podman))
    missing = sorted(t for t, v in podman.items() if v == "passed" and berth.get(t) != "passed")
    extra = sorted(t for t, v in berth.items() if v == "passed" and podman.get(t) != "passed")
    print(f"podman passes and berth does not: {len(missing)}")
    for test in missing:
        print(f"  {test} ({berth.get(test, 'not run')})")
    print(f"berth passes and podman does not: {len(extra)}")
    return not missing and len(extra) > 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="the extracted docker-py source tree")
    parser.add_argument("--python", default=sys.executable, help="a Python with docker-py and pytest")
    parser.add_argument("-k", dest="keyword", help="only the tests matching this pytest expression")
    parser.add_argument("--keep", type=Path, help="keep the junit files and logs in this directory")
    args = parser.parse_args()
    if not (args.suite / "tests/integration/conftest.py").is_file():
        raise SystemExit(f"{args.suite}: not docker-py's source tree (no tests/integration)")
    select = ["-k", args.keyword] if args.keyword else []
    become_subreaper()
    with engines("berth-dockerpy-") as e:
        port = free_port()
        registry = f"127.0.0.1:{port}"
        serve = [*e.berth, "registry", "serve", "--addr", registry, "--root", str(e.work / "registry")]
        procs = [subprocess.Popen(serve, env=e.berth_env, stderr=subprocess.DEVNULL)]
        try:
            wait_for_port(port, procs[0])
            push_stand_ins(e, registry)
            os.environ.update(write_configs(e.work, registry))
            sockets = {"berth": e.work / "berth.sock", "podman": e.work / "podman.sock"}
            procs.append(subprocess.Popen(
                [*e.berth, "system", "service", f"unix://{sockets['berth']}", "--time", "0"],
                env=e.berth_env, stderr=open(e.work / "berth-service.log", "w"),  # noqa: SIM115
            ))  # fmt: skip
            procs.append(subprocess.Popen(
                [*e.podman, "system", "service", "--time", "0", f"unix://{sockets['podman']}"],
                env=e.env, stderr=open(e.work / "podman-service.log", "w"),  # noqa: SIM115
            ))  # fmt: skip
            results = {}
            for (side, sock), proc in zip(sockets.items(), procs[1:], strict=True):
                wait_for_socket(sock, proc)
                junit, log = e.work / f"{side}.xml", e.work / f"{side}.log"
                run_suite(args.suite, args.python, sock, junit, log, select)
                results[side] = outcomes(junit)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            subprocess.run([*e.podman, "network", "prune", "-f"], env=e.env, capture_output=True)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for path in e.work.glob("*.xml"):
                    shutil.copy(path, args.keep)
                for path in e.work.glob("*.log"):
                    shutil.copy(path, args.keep)
    return 0 if compare(results["berth"], results["podman"]) else 1


if __name__ == "__main__":
    sys.exit(main())
