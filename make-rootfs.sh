#!/bin/sh
# Rebuild ./runtime/rootfs-docker.ext4 and ./runtime/rootfs-docker.work-seed.ext4:
# a thin wrapper around `banger-bundle rootfs`.
#
#   ./make-rootfs.sh                              # mmdebstrap + packages.apt
#   ./make-rootfs.sh --base-rootfs /path/to.ext4  # start from an existing image
#
# Other flags (--mirror, --suite, --packages, --agent, --force, --log) are
# passed through; see `bin/banger-bundle rootfs -h`. Needs root (via sudo).
set -eu
cd "$(dirname "$0")"
GO=${GO:-go}
mkdir -p bin
"$GO" build -o bin/banger-bundle ./cmd/banger-bundle
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
exec $sudo bin/banger-bundle rootfs --dest "${RUNTIME_DIR:-runtime}" "$@"
