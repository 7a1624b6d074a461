"""The runtime's side of NRI (the Node Resource Interface, containerd/nri): plugins connect to a
unix socket, register, are configured and synchronized, then see the pod and container lifecycle.

A plugin's connection (``berth.cri.nri.ttrpc``) serves the runtime's service (RegisterPlugin,
UpdateContainers) and carries the runtime's calls of the plugin's. After RegisterPlugin the
runtime calls Configure (the plugin answers with the events it subscribes to, one bit per
``nri.Event``, bit ``event - 1``), then Synchronize with every pod and container it has; then the
plugin gets the hooks it subscribed to, in the order of the plugins' indexes.

One lock orders hooks and synchronizations: a plugin is synchronized and added to the plugins
under it, so a container is either in its Synchronize or reaches it by a later CreateContainer,
never lost in between. A plugin's error fails RunPodSandbox, CreateContainer and StartContainer;
the other hooks only log it. A plugin that does not answer in time, or whose connection ends, is
dropped.

What plugins ask for is applied (``berth.cri.nri.adjust``): CreateContainer's adjustments, merged
in the plugins' order, edit the new container; the updates and evictions of other containers that
CreateContainer, UpdateContainer, StopContainer and Synchronize answer with, and those a plugin
sends unsolicited (UpdateContainers), go to ``apply_updates`` once the lock is released.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from berth.cri.nri.ttrpc import PLUGIN_CHANNEL, RUNTIME_CHANNEL, CallFailed, Peer, Unanswered
from berth.cri.proto import nri_pb2
from berth.errors import BerthError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.cri.nri.adjust import Adjustment

log = logging.getLogger("berth.cri.nri")

PLUGIN_SERVICE = "nri.pkg.api.v1alpha1.Plugin"
#: The NRI version whose protocol this implements (sent in Configure).
NRI_VERSION = "v0.12.1"
#: How long a plugin may take to be configured and synchronized, and to answer a hook (seconds).
REGISTRATION_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0

#: What a new plugin is synchronized with: the pods and containers now (ready ones only).
Snapshot = Callable[[], tuple[list[nri_pb2.PodSandbox], list[nri_pb2.Container]]]
#: Applies plugins' updates and evictions of existing containers; the updates that failed.
ApplyUpdates = Callable[
    [list[nri_pb2.ContainerUpdate], list[nri_pb2.ContainerEviction]], list[nri_pb2.ContainerUpdate]
]


class HookFailed(BerthError):
    """A plugin refused a lifecycle step (its error is the message)."""


@dataclass
class Plugin:
    """A registered plugin: its name and index, its connection, the events it subscribed to."""

    name: str
    index: str
    peer: Peer
    events: int = 0

    def wants(self, event: int) -> bool:
        return bool(self.events & (1 << (event - 1)))

    def call(self, method: str, request: bytes, timeout: float) -> bytes:
        return self.peer.call(PLUGIN_SERVICE, method, request, timeout)


class Nri:
    """NRI at ``socket_path`` for the runtime ``runtime_name`` ``runtime_version``."""

    def __init__(
        self,
        socket_path: str,
        runtime_name: str,
        runtime_version: str,
        snapshot: Snapshot,
        apply_updates: ApplyUpdates,
    ) -> None:
        self.socket_path = socket_path
        self._runtime = (runtime_name, runtime_version)
        self._snapshot = snapshot
        self._apply_updates = apply_updates
        self._plugins: list[Plugin] = []
        self._lock = threading.RLock()  # hooks and synchronizations, one at a time
        self._listener: socket.socket | None = None
        self._stopped: set[str] = set()  # containers whose StopContainer went out since their start

    # -- the socket and plugins -------------------------------------------------------------

    def start(self) -> None:
        """Listen for plugins (in a thread of its own)."""
        path = Path(self.socket_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # a previous server's, left by SIGKILL
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="nri-accept", daemon=True).start()

    def stop(self) -> None:
        """Stop listening, disconnect every plugin and remove the socket."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            plugins, self._plugins = self._plugins, []
        for plugin in plugins:
            plugin.peer.close()
        Path(self.socket_path).unlink(missing_ok=True)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        registered: list[Plugin] = []

        def runtime_service(method: str, payload: bytes) -> bytes:
            if method == "RegisterPlugin":
                request = nri_pb2.RegisterPluginRequest.FromString(payload)
                plugin = Plugin(request.plugin_name, request.plugin_idx, peer)
                registered.append(plugin)
                # Configured from another thread: this one must go on reading its answers.
                threading.Thread(
                    target=self._register, args=(plugin,), name="nri-register", daemon=True
                ).start()
                reply = nri_pb2.Empty()
            elif method == "UpdateContainers":
                asked = nri_pb2.UpdateContainersRequest.FromString(payload)
                failed = self._apply_updates(list(asked.update), list(asked.evict))
                reply = nri_pb2.UpdateContainersResponse(failed=failed)
            else:
                raise CallFailed(f"nri.pkg.api.v1alpha1.Runtime/{method} is not implemented")
            encoded: bytes = reply.SerializeToString()
            return encoded

        peer = Peer(conn, PLUGIN_CHANNEL, RUNTIME_CHANNEL, runtime_service)
        peer.serve()
        for plugin in registered:
            self._drop(plugin, "its connection closed")

    def _register(self, plugin: Plugin) -> None:
        """Configure the plugin, then synchronize it and add it to the plugins, under the lock."""
        name, version = self._runtime
        configure = nri_pb2.ConfigureRequest(
            runtime_name=name,
            runtime_version=version,
            registration_timeout=int(REGISTRATION_TIMEOUT * 1000),
            request_timeout=int(REQUEST_TIMEOUT * 1000),
            NRI_version=NRI_VERSION,
        )
        try:
            reply = plugin.call("Configure", configure.SerializeToString(), REGISTRATION_TIMEOUT)
            plugin.events = nri_pb2.ConfigureResponse.FromString(reply).events
            with self._lock:
                pods, containers = self._snapshot()
                sync = nri_pb2.SynchronizeRequest(pods=pods, containers=containers)
                synced = plugin.call("Synchronize", sync.SerializeToString(), REGISTRATION_TIMEOUT)
                self._plugins.append(plugin)
                self._plugins.sort(key=lambda p: (p.index, p.name))
            self._apply_updates(list(nri_pb2.SynchronizeResponse.FromString(synced).update), [])
        except CallFailed as err:
            log.info("msg=nri-plugin-refused plugin=%s-%s error=%s", plugin.index, plugin.name, err)
            plugin.peer.close()
            return
        log.info("msg=nri-plugin-ready plugin=%s-%s events=%#x", plugin.index, plugin.name, plugin.events)

    def _drop(self, plugin: Plugin, why: str) -> None:
        with self._lock:
            if plugin in self._plugins:
                self._plugins.remove(plugin)
                log.info("msg=nri-plugin-dropped plugin=%s-%s reason=%s", plugin.index, plugin.name, why)
        plugin.peer.close()

    # -- the hooks --------------------------------------------------------------------------

    def run_pod_sandbox(self, pod: nri_pb2.PodSandbox) -> None:
        """RunPodSandbox; ``HookFailed`` if a plugin refuses the pod."""
        self._pod_hook(nri_pb2.RUN_POD_SANDBOX, "RunPodSandbox", pod, must_succeed=True)

    def stop_pod_sandbox(self, pod: nri_pb2.PodSandbox) -> None:
        """StopPodSandbox (plugins' errors are logged)."""
        self._pod_hook(nri_pb2.STOP_POD_SANDBOX, "StopPodSandbox", pod, must_succeed=False)

    def remove_pod_sandbox(self, pod: nri_pb2.PodSandbox) -> None:
        """RemovePodSandbox (plugins' errors are logged)."""
        self._pod_hook(nri_pb2.REMOVE_POD_SANDBOX, "RemovePodSandbox", pod, must_succeed=False)

    def create_container(
        self, pod: nri_pb2.PodSandbox, container: nri_pb2.Container, adjust: Callable[[Adjustment], None]
    ) -> None:
        """CreateContainer; the plugins' adjustments, merged in their order, given to ``adjust``
        (which edits the container); then PostCreateContainer, and the updates and evictions of
        other containers applied. ``HookFailed`` if a plugin refuses it, two adjust one field, or an
        update asked for fails."""
        from berth.cri.nri.adjust import Adjustment

        request = nri_pb2.ContainerRequest(pod=pod, container=container).SerializeToString()
        merged, updates, evictions = Adjustment(), [], []
        with self._lock:
            for plugin, reply in self._dispatch(nri_pb2.CREATE_CONTAINER, "CreateContainer", request, True):
                answer = nri_pb2.CreateContainerResponse.FromString(reply)
                merged.add(f"{plugin.index}-{plugin.name}", answer.adjust)
                updates += answer.update
                evictions += answer.evict
            if merged != Adjustment():
                adjust(merged)
            self._dispatch(nri_pb2.POST_CREATE_CONTAINER, "PostCreateContainer", request, False)
        self._apply_required(updates, evictions)

    def update_container(
        self, pod: nri_pb2.PodSandbox, container: nri_pb2.Container, resources: nri_pb2.LinuxResources
    ) -> Callable[[], None]:
        """UpdateContainer before the update (the updates and evictions plugins answer with
        applied after it: what to call then, which also tells PostUpdateContainer)."""
        request = nri_pb2.UpdateContainerRequest(pod=pod, container=container, linux_resources=resources)
        updates, evictions = [], []
        with self._lock:
            for _, reply in self._dispatch(
                nri_pb2.UPDATE_CONTAINER, "UpdateContainer", request.SerializeToString(), True
            ):
                answer = nri_pb2.UpdateContainerResponse.FromString(reply)
                updates += answer.update
                evictions += answer.evict

        def updated() -> None:
            self._apply_required(updates, evictions)
            self._container_hook(nri_pb2.POST_UPDATE_CONTAINER, "PostUpdateContainer", pod, container)

        return updated

    def _apply_required(
        self, updates: list[nri_pb2.ContainerUpdate], evictions: list[nri_pb2.ContainerEviction]
    ) -> None:
        """Apply updates a hook answered with; ``HookFailed`` if one that may not fail did."""
        failed = [u.container_id for u in self._apply_updates(updates, evictions) if not u.ignore_failure]
        if failed:
            raise HookFailed(f"NRI plugins' updates of containers {', '.join(failed)} failed")

    def start_container(self, pod: nri_pb2.PodSandbox, container: nri_pb2.Container) -> None:
        """StartContainer before the start; ``HookFailed`` if a plugin refuses it."""
        request = nri_pb2.ContainerRequest(pod=pod, container=container).SerializeToString()
        with self._lock:
            self._stopped.discard(container.id)
            self._dispatch(nri_pb2.START_CONTAINER, "StartContainer", request, True)

    def post_start_container(self, pod: nri_pb2.PodSandbox, container: nri_pb2.Container) -> None:
        """PostStartContainer, once it runs."""
        self._container_hook(nri_pb2.POST_START_CONTAINER, "PostStartContainer", pod, container)

    def stop_container(self, pod: nri_pb2.PodSandbox, container: nri_pb2.Container) -> None:
        """StopContainer, once it stopped (by the CRI or by itself); once per run. The updates of
        other containers plugins answer with are applied."""
        with self._lock:
            if container.id in self._stopped:
                return
            self._stopped.add(container.id)
            replies = self._container_hook(nri_pb2.STOP_CONTAINER, "StopContainer", pod, container)
        updates = [u for _, r in replies for u in nri_pb2.StopContainerResponse.FromString(r).update]
        if updates:
            self._apply_updates(updates, [])

    def remove_container(self, pod: nri_pb2.PodSandbox, container: nri_pb2.Container) -> None:
        """RemoveContainer, once it is removed."""
        with self._lock:
            self._stopped.discard(container.id)
            self._container_hook(nri_pb2.REMOVE_CONTAINER, "RemoveContainer", pod, container)

    def _pod_hook(self, event: int, method: str, pod: nri_pb2.PodSandbox, must_succeed: bool) -> None:
        request = nri_pb2.PodSandboxRequest(pod=pod).SerializeToString()
        with self._lock:
            self._dispatch(event, method, request, must_succeed)

    def _container_hook(
        self, event: int, method: str, pod: nri_pb2.PodSandbox, container: nri_pb2.Container
    ) -> list[tuple[Plugin, bytes]]:
        request = nri_pb2.ContainerRequest(pod=pod, container=container).SerializeToString()
        with self._lock:
            return self._dispatch(event, method, request, False)

    def _dispatch(
        self, event: int, method: str, request: bytes, must_succeed: bool
    ) -> list[tuple[Plugin, bytes]]:
        """Call ``method`` of every plugin subscribed to ``event``, in index order (the caller holds
        the lock); each plugin that answered, with its reply. A plugin's error raises ``HookFailed``
        if ``must_succeed``."""
        replies = []
        for plugin in list(self._plugins):
            if not plugin.wants(event):
                continue
            try:
                replies.append((plugin, plugin.call(method, request, REQUEST_TIMEOUT)))
            except Unanswered as err:
                self._drop(plugin, str(err))
            except CallFailed as err:
                if must_succeed:
                    raise HookFailed(f"NRI plugin {plugin.index}-{plugin.name}: {err}") from None
                log.info("msg=nri-hook-error plugin=%s-%s error=%s", plugin.index, plugin.name, err)
        return replies
