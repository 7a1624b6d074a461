#!/usr/bin/env bash
# A busy host, as other software makes one: until killed, keeps creating and removing cgroups (in
# every mounted cgroup v1 hierarchy and in cgroup v2), tmpfs mounts under /tmp/busy-host-<pid>
# and network namespaces (ip netns). Each lives a few rounds, so some appear and some vanish while
# a test runs. Run the tests meanwhile: the leak check must pass, as only Berth's things are its
# business. On SIGTERM or SIGINT it removes everything it made.
#
#   scripts/busy_host.sh [--burn N]     --burn N: also keep N cores busy
set -euo pipefail

burn=0
case "${1:-}" in
    "") ;;
    --burn) burn="${2:?--burn needs a number of cores}" ;;
    *) echo "usage: $0 [--burn N]" >&2; exit 2 ;;
esac
[[ "$burn" =~ ^[0-9]+$ ]] || { echo "busy_host: --burn wants a number of cores, not '$burn'" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "busy_host: needs root (cgroups, mounts, netns)" >&2; exit 1; }

tag="busy-host-$$"
work="/tmp/$tag"
lifetime=3                                  # rounds an item lives before it is removed
mapfile -t hierarchies < <(findmnt -rn -t cgroup,cgroup2 -o TARGET)
netns_dir_existed=$([ -d /run/netns ] && echo yes || echo no)
netns_was_mounted=$(mountpoint -q /run/netns && echo yes || echo no)
burners=()
first=0 next=0                              # items first..next-1 exist

make_item() {
    local n=$1
    mkdir -p "${hierarchies[@]/%//$tag-$n/inner}"
    mkdir -p "$work/$n"
    mount -t tmpfs "$tag" "$work/$n"
    ip netns add "$tag-$n"
}

remove_item() {  # tolerant: the item may be half made if a signal came while making it
    local n=$1 h cgroups=()
    for h in "${hierarchies[@]}"; do cgroups+=("$h/$tag-$n/inner" "$h/$tag-$n"); done
    rmdir "${cgroups[@]}" 2>/dev/null || true
    umount "$work/$n" 2>/dev/null || true
    rmdir "$work/$n" 2>/dev/null || true
    ip netns del "$tag-$n" 2>/dev/null || true
}

cleanup() {
    trap - EXIT INT TERM
    local pid n
    for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null || true; done
    for ((n = first; n <= next; n++)); do remove_item "$n"; done
    rmdir "$work" 2>/dev/null || true
    # ip netns makes /run/netns (a mount point) on first use; undo that if nobody else uses it now.
    if [ "$netns_was_mounted" = no ] && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
        umount /run/netns 2>/dev/null || true
        [ "$netns_dir_existed" = yes ] || rmdir /run/netns 2>/dev/null || true
    fi
    wait
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for ((i = 0; i < burn; i++)); do
    (trap - EXIT INT TERM; while :; do :; done) &
    burners+=("$!")
done

echo "busy_host: $tag: ${#hierarchies[@]} cgroup hierarchies, tmpfs under $work, netns $tag-*, $burn burners" >&2
mkdir -p "$work"
while :; do
    make_item "$next"
    next=$((next + 1))
    if ((next - first > lifetime)); then
        remove_item "$first"
        first=$((first + 1))
    fi
    sleep 0.05
done
