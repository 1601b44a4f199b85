#!/bin/sh
# Rebuild ./runtime/rootfs-docker.ext4 and ./runtime/rootfs-docker.work-seed.ext4:
# a thin wrapper around `banger-bundle rootfs`.
#
#   ./make-rootfs.sh                              # mmdebstrap + packages.apt
#   ./make-rootfs.sh --base-rootfs /path/to.ext4  # an existing Debian image + packages.apt
#
# With --base-rootfs the base's content is copied out (no mount), the
# packages of packages.apt (or --packages FILE) it lacks are downloaded on
# the host and installed in a chroot, as `banger image build` does; then the
# same banger customisation as an mmdebstrap build is applied.
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
