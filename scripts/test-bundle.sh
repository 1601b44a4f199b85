#!/bin/sh
# Build (or reuse) the runtime bundle the VM tests boot, and print its
# directory on stdout (progress goes to stderr):
#
#   export BANGER_TEST_BUNDLE="$(scripts/test-bundle.sh)"
#
# Bundles are cached in ${BANGER_TEST_BUNDLE_CACHE:-~/.cache/banger/test-bundle}/<hash>,
# where <hash> covers everything the bundle is built from: packages.apt, the
# bundle build code, the guest agent's sources, go.mod/go.sum and the Go
# version. The build needs root; without it the script uses sudo.
# BANGER_TEST_BUNDLE_MIRROR passes --mirror to the build.
set -eu

cd "$(dirname "$0")/.."
GO=${GO:-go}
cache=${BANGER_TEST_BUNDLE_CACHE:-${HOME:-/root}/.cache/banger/test-bundle}
mkdir -p "$cache"

hash=$(
	{
		find internal/bundle cmd/banger-bundle cmd/banger-vsock-agent internal/agent internal/vsock \
			-type f \( -name '*.go' -o -name '*.sh' \) ! -name '*_test.go' 2>/dev/null |
			LC_ALL=C sort | xargs sha256sum
		sha256sum packages.apt go.mod go.sum
		"$GO" version
	} | sha256sum | cut -c1-16
)
dir="$cache/$hash"

# One build at a time per cache; a second caller waits and reuses it.
exec 9>"$cache/.lock"
flock 9

bin="$cache/.bin-$$"
trap 'rm -rf "$bin"' EXIT
mkdir -p "$bin"
"$GO" build -o "$bin/banger-bundle" ./cmd/banger-bundle >&2

if [ -f "$dir/bundle.json" ] && "$bin/banger-bundle" verify --dir "$dir" >/dev/null 2>&1; then
	echo "test bundle $hash is cached" >&2
	echo "$dir"
	exit 0
fi

echo "building test bundle $hash (log: $cache/$hash.log)" >&2
CGO_ENABLED=0 "$GO" build -o "$bin/banger-vsock-agent" ./cmd/banger-vsock-agent >&2
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
rm -rf "$dir.partial"
# shellcheck disable=SC2086 # the mirror flag is optional
$sudo "$bin/banger-bundle" build --dest "$dir.partial" --agent "$bin/banger-vsock-agent" \
	--packages packages.apt --log "$cache/$hash.log" \
	${BANGER_TEST_BUNDLE_MIRROR:+--mirror "$BANGER_TEST_BUNDLE_MIRROR"} >&2
rm -rf "$dir"
mv "$dir.partial" "$dir"

# Keep the eight most recent bundles (several branches may be tested at once).
ls -1dt "$cache"/*/ 2>/dev/null | tail -n +9 | while read -r old; do
	echo "removing old test bundle $old" >&2
	rm -rf "$old" "${old%/}.log"
done
echo "$dir"
