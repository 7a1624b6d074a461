#!/usr/bin/env bash
# Berth's main job end to end, offline: build a small image from Debian's busybox-static, serve it
# from Berth's own registry on 127.0.0.1, pull it back with Berth, and run it.
# Everything lives in a temporary directory that is removed at the end (keep it with BERTH_DEMO_KEEP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${BERTH_DEMO_SKIP_SETUP:-0}" = 1 ] || scripts/setup.sh

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
export BERTH_ROOT="$work/root" BERTH_RUNROOT="$work/run"
berth() { .venv/bin/berth "$@"; }
registry_pid=""
cleanup() {
    local status=$?
    set +e
    if [ -n "$registry_pid" ]; then kill "$registry_pid"; wait "$registry_pid"; fi 2>/dev/null
    berth system prune --force >/dev/null 2>&1
    [ "${BERTH_DEMO_KEEP:-0}" = 1 ] || rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
step() { printf '\n==> %s\n' "$*"; }

step "building a root filesystem from /bin/busybox (busybox-static)"
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$rootfs/$(dirname "$applet")"
    ln -sf /bin/busybox "$rootfs/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"

step "berth import: packing it into an image"
berth import "$rootfs" localhost/busybox:demo --change 'CMD ["/bin/sh"]'
berth images

step "berth registry serve: Berth's own registry on 127.0.0.1"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/berth registry serve --addr "127.0.0.1:$port" --root "$work/registry" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do
    .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/')" 2>/dev/null && break
    sleep 0.1
done
image="127.0.0.1:$port/demo/busybox:latest"

step "berth push $image"
berth push --tls-verify=false localhost/busybox:demo "docker://$image"

step "removing the local copy, then berth pull $image"
berth rmi localhost/busybox:demo
berth pull --tls-verify=false "$image"

step "berth run --rm $image echo hello"
berth run --rm "$image" echo hello
