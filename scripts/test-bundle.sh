#!/bin/sh
# Build (or reuse) the runtime bundle the VM tests boot, and print its
# directory on stdout (progress goes to stderr):
#
#   export BANGER_TEST_BUNDLE="$(scripts/test-bundle.sh)"
#
# Bundles are cached in ${BANGER_TEST_BUNDLE_CACHE:-~/.cache/banger/test-bundle}/<key>,
# where <key> (scripts/bundle-hash.sh) covers everything the bundle is built
# from. `make runtime-bundle` builds through the same cache and installs a
# copy as ./runtime, so whichever runs first builds the Debian rootfs and the
# other reuses it. The tests only read the cached bundle. A build needs root;
# without it the script uses sudo. BANGER_TEST_BUNDLE_MIRROR passes --mirror
# to the build.
set -eu

cd "$(dirname "$0")/.."
GO=${GO:-go}
cache=${BANGER_TEST_BUNDLE_CACHE:-${HOME:-/root}/.cache/banger/test-bundle}
key=$(GO="$GO" scripts/bundle-hash.sh)
mkdir -p "$cache"

bin=$(mktemp -d "$cache/.bin-XXXXXX")
trap 'rm -rf "$bin"' EXIT
"$GO" build -o "$bin/banger-bundle" ./cmd/banger-bundle >&2

# A complete entry is never changed, so it can be used without the lock.
if "$bin/banger-bundle" verify --dir "$cache/$key" >/dev/null 2>&1; then
	echo "test bundle $key is cached" >&2
	echo "$cache/$key"
	exit 0
fi

CGO_ENABLED=0 "$GO" build -o "$bin/banger-vsock-agent" ./cmd/banger-vsock-agent >&2
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
# shellcheck disable=SC2086 # the mirror flag is optional
$sudo "$bin/banger-bundle" cache --cache "$cache" --key "$key" \
	--agent "$bin/banger-vsock-agent" --packages packages.apt \
	${BANGER_TEST_BUNDLE_MIRROR:+--mirror "$BANGER_TEST_BUNDLE_MIRROR"}
