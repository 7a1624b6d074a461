#!/usr/bin/env bash
# Run Berth's whole test suite: lint, type-check, then pytest (unit, integration, interop).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -k digest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
uv run --locked ruff check src tests bench
uv run --locked ruff format --check src tests bench
uv run --locked mypy
exec uv run --locked pytest "$@"
