"""Code generated from api.proto by scripts/gen-cri-proto.sh (runtime.v1); do not edit."""
