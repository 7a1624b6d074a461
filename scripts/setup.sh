#!/usr/bin/env bash
# Install everything Berth's tests and demo need on a fresh Debian 12 machine (as root), then the
# project itself into .venv with the locked dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Peers and kernel tools the tests drive for real (see docs/architecture.md#peers).
APT_PACKAGES=(python3.11 busybox-static runc crun podman conmon skopeo umoci containerd docker-registry
              containernetworking-plugins iproute2 iptables libseccomp2 uidmap mmdebstrap catatonit rpm
              buildah golang-go gcc)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's docker client, which tests/interop/test_docker_cli.py points at `berth system service`.
# The package also holds dockerd, which must never run here: policy-rc.d (invoke-rc.d's hook)
# keeps its postinst from starting it.
if ! dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q "install ok installed"; then
    echo "setup: installing docker.io (the client; its daemon is kept from starting)"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
    fi
fi

command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
# The venv's interpreter is Debian's python3.11 (installed above), not whichever python3 is first
# on PATH: Debian builds it with PGO and LTO and links libpython statically, so all of Berth's
# Python runs faster on it than on an interpreter built without them (pyenv's default);
# berth-runtime's start is ~10% faster (docs/runtime.md#speed). BERTH_PYTHON names another.
uv sync --locked --quiet --python "${BERTH_PYTHON:-/usr/bin/python3.11}"
