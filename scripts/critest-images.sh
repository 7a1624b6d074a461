#!/bin/bash
# Build critest's offline images from shared/critest's recipes and push them to a registry.
#
#   scripts/critest-images.sh RECIPES WORKDIR HOST:PORT
#
# RECIPES is shared/critest/images (the Containerfiles, the C sources, build-and-save.sh and
# push.sh); WORKDIR a scratch folder (a copy of the recipes, podman's private store, the OCI
# archives); HOST:PORT a plain-HTTP registry, e.g. `berth registry serve --addr 127.0.0.1:5317`.
# Nothing is fetched: the base is Debian's dynamic busybox package (from apt's cache, else
# `apt-get download`) with the host's glibc, and the three C programs are compiled here.
# podman builds with runc and `default_ulimits = []` (shared/critest/NOTES-containerd.md).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 RECIPES WORKDIR HOST:PORT" >&2; exit 2; }
recipes=$(cd "$1" && pwd); work=$2; registry=$3
for tool in podman skopeo gcc dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "critest-images.sh: $tool not found" >&2; exit 1; }
done
mkdir -p "$work"; work=$(cd "$work" && pwd)
rm -rf "$work/images" "$work/busybox-deb"; cp -r "$recipes" "$work/images"
cd "$work/images"

# The three static programs: the sandbox's pause, the nginx stand-in, the setuid nonewprivs one.
nice gcc -static -Os -s -o pause/pause src/pause.c
nice gcc -static -Os -s -o nginx/nginx src/websrv.c
nice gcc -static -Os -s -o nonewprivs/nnp src/nnp.c

# busybox/extra: Debian's dynamic busybox hard-linked to every applet (symbolic links break the
# MaskedPaths spec), the glibc it needs, the pgrep/ipcs scripts, passwd/group/shadow.
deb=$(ls /var/cache/apt/archives/busybox_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then (cd "$work" && apt-get download busybox >/dev/null); deb=$(ls "$work"/busybox_*.deb | head -1); fi
dpkg-deb -x "$deb" "$work/busybox-deb"
extra=busybox/extra
rm -rf "$extra"
mkdir -p "$extra"/{bin,etc,tmp,root,home,var/www,usr/bin,usr/sbin,sbin,lib64,lib/x86_64-linux-gnu}
chmod 1777 "$extra/tmp"
cp "$work/busybox-deb/bin/busybox" "$extra/bin/busybox"
for applet in $("$extra/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln "$extra/bin/busybox" "$extra/bin/$applet"
done
for lib in $(ldd "$extra/bin/busybox" | awk '/=>/ {print $3}'); do cp -L "$lib" "$extra/lib/x86_64-linux-gnu/"; done
cp -L /lib64/ld-linux-x86-64.so.2 "$extra/lib64/"
install -m 755 busybox/extra-scripts/pgrep busybox/extra-scripts/ipcs "$extra/bin/"
grep -v default-user predef/etc/passwd >"$extra/etc/passwd"
grep -v -e default-user -e group-defined predef/etc/group >"$extra/etc/group"
cut -d: -f1 "$extra/etc/passwd" | sed 's/$/:*:10933:0:99999:7:::/' >"$extra/etc/shadow"
chmod 640 "$extra/etc/shadow"

# podman in a store of its own; localhost/bb:1 (the recipes' base) is an empty tree.
printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
  >"$work/containers.conf"
cat >"$work/podman.sh" <<EOF
#!/bin/bash
export CONTAINERS_CONF=$work/containers.conf
exec nice podman --root $work/pstore --runroot $work/prun --storage-driver vfs "\$@"
EOF
chmod +x "$work/podman.sh"
rm -rf "$work/base"; mkdir -p "$work/base"/{proc,sys,dev,etc,tmp,root,home,var,usr}; chmod 1777 "$work/base/tmp"
tar -C "$work/base" -cf "$work/base.tar" .
"$work/podman.sh" import "$work/base.tar" localhost/bb:1 >/dev/null

sed -e "s#@WORK@#$work#; s#@PEERS@#$work#" build-and-save.sh >build-and-save.local.sh
OUT=$work/archives bash build-and-save.local.sh
cp push.sh "$work/archives/push.sh"
"$work/archives/push.sh" "$registry"
