#!/bin/sh
# Build the experimental Void Linux rootfs: ./runtime/rootfs-void.ext4 and
# ./runtime/rootfs-void.work-seed.ext4, from the packages in packages.void
# (x86_64-glibc), reusing the runtime bundle's kernel modules and guest
# agent. A thin wrapper around `banger-bundle void-rootfs`.
#
#   ./make-rootfs-void.sh [--mirror URL] [--size SIZE] [--out PATH]
#
#   --mirror URL   Void mirror root (default https://repo-default.voidlinux.org);
#                  a local copy (an absolute directory holding current/) works too
#   --size SIZE    rootfs image size, e.g. 2G (default: content plus headroom)
#   --out PATH     rootfs image to write (default ./runtime/rootfs-void.ext4);
#                  the work seed goes beside it as NAME.work-seed.ext4
#
# Other flags (--packages, --bundle, --agent, --artifact-mirror, --log) are
# passed through; see `bin/banger-bundle void-rootfs -h`. Needs root (via
# sudo): package files keep their owners and package scripts run in a chroot.
set -eu
cd "$(dirname "$0")"
case "${1:-}" in -h|--help) sed -n '2,18p' "$0"; exit 0 ;; esac
GO=${GO:-go}
mkdir -p bin
"$GO" build -o bin/banger-bundle ./cmd/banger-bundle
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
exec $sudo bin/banger-bundle void-rootfs --bundle "${RUNTIME_DIR:-runtime}" "$@"
