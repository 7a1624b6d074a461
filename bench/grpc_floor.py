"""A gRPC server that does no work: the floor under any CRI server written on grpcio's Python server.

It answers ``/runtime.v1.RuntimeService/ListContainers`` with the bytes of a file, as they are,
from grpcio's synchronous server with the thread pool ``berth cri serve`` has (16 workers), on a
unix socket. ``bench/cri_speed.py`` starts it with the answer Berth gave and times it beside Berth
and containerd: what is left between Berth and this floor is Berth's own work per call.

    python bench/grpc_floor.py ANSWER_FILE SOCKET     (prints "ready" once it listens)
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc


def main() -> None:
    answer_file, socket = sys.argv[1:3]
    answer = Path(answer_file).read_bytes()

    def same(data: bytes) -> bytes:
        return data

    server = grpc.server(ThreadPoolExecutor(max_workers=16))
    handler = grpc.unary_unary_rpc_method_handler(
        lambda request, context: answer, request_deserializer=same, response_serializer=same
    )
    server.add_registered_method_handlers("runtime.v1.RuntimeService", {"ListContainers": handler})
    server.add_insecure_port(f"unix://{socket}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
