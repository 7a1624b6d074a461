#!/usr/bin/env bash
# Regenerates the CRI's Python modules (src/berth/cri/proto/api_pb2*.py and .pyi) from
# src/berth/cri/proto/api.proto, and NRI's and ttrpc's messages (nri_pb2, ttrpc_pb2) from nri.proto
# and ttrpc.proto, with grpcio-tools (the `codegen` dependency group). The generated files are
# checked in, so `berth cri serve` needs only grpcio and protobuf at run time.
#
#   scripts/gen-cri-proto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# -I src makes the generated gRPC module import `berth.cri.proto.api_pb2`, not a top-level `api_pb2`.
uv run --group codegen python -m grpc_tools.protoc -I src \
    --python_out=src --pyi_out=src --grpc_python_out=src \
    src/berth/cri/proto/api.proto
uv run --group codegen python -m grpc_tools.protoc -I src --python_out=src --pyi_out=src \
    src/berth/cri/proto/nri.proto src/berth/cri/proto/ttrpc.proto
