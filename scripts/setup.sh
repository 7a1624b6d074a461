#!/usr/bin/env bash
# Install everything Berth's tests and demo need on a fresh Debian 12 machine (as root), then the
# project itself into .venv with the locked dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Peers and kernel tools the tests drive for real (see docs/architecture.md#peers).
APT_PACKAGES=(python3.11 busybox-static runc crun podman conmon skopeo umoci containerd docker-registry
              containernetworking-plugins iproute2 iptables libseccomp2 uidmap mmdebstrap catatonit rpm
              buildah)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
# The venv's interpreter is Debian's python3.11 (installed above), not whichever python3 is first
# on PATH: Debian builds it with PGO and LTO and links libpython statically, so all of Berth's
# Python runs faster on it than on an interpreter built without them (pyenv's default);
# berth-runtime's start is ~10% faster (docs/runtime.md#speed). BERTH_PYTHON names another.
uv sync --locked --quiet --python "${BERTH_PYTHON:-/usr/bin/python3.11}"
