#!/bin/sh
# make bench-image: the wall time of `banger image build --docker` from a
# warm cache, next to the time of a bundle rootfs build (mmdebstrap,
# customize, mkfs; `banger-bundle rootfs --force`) measured in the same run
# on a scratch copy of the bundle. Both need root. The fetch phase
# (`banger image fetch`) runs first and is not timed. The built image is
# deleted at the end.
#
#   sudo make bench-image
#   BANGER_BENCH_NETNS=ns  runs the banger commands (daemon, build) inside
#                          network namespace ns, to show the build is offline.
set -eu

cd "$(dirname "$0")/.."
GO=${GO:-go}
bundle=${BANGER_RUNTIME_DIR:-$PWD/runtime}
if [ ! -f "$bundle/bundle.json" ]; then
	echo "no runtime bundle at $bundle: run 'make runtime-bundle' or set BANGER_RUNTIME_DIR" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "bench-image needs root (both builds chroot): sudo make bench-image" >&2
	exit 1
fi
export BANGER_RUNTIME_DIR="$bundle"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/banger-bench-image.XXXXXX")
name="bench-image-$$"
in_ns() {
	if [ -n "${BANGER_BENCH_NETNS:-}" ]; then
		ip netns exec "$BANGER_BENCH_NETNS" "$@"
	else
		"$@"
	fi
}
cleanup() {
	in_ns "$tmp/bin/banger" image delete "$name" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/bin" "$tmp/bundle"
"$GO" build -o "$tmp/bin/" ./cmd/banger ./cmd/bangerd ./cmd/banger-bundle
export BANGER_DAEMON_BIN="$tmp/bin/bangerd"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fs", b - a }'; }

# A scratch copy of the bundle for the rootfs build (the original stays).
for f in bundle.json .build-stamps.json packages.apt banger-vsock-agent; do
	if [ -e "$bundle/$f" ]; then cp "$bundle/$f" "$tmp/bundle/"; fi
done
# Kernel files are only read (and verified): links, or copies across filesystems.
for f in vmlinux vmlinuz initrd.img; do
	if [ -e "$bundle/$f" ]; then ln "$bundle/$f" "$tmp/bundle/" 2>/dev/null || cp "$bundle/$f" "$tmp/bundle/"; fi
done
cp -a "$bundle/modules" "$tmp/bundle/"

echo "== fetch phase (not timed)"
"$tmp/bin/banger" image fetch >/dev/null

echo "== bundle rootfs build"
t0=$(now)
"$tmp/bin/banger-bundle" rootfs --dest "$tmp/bundle" --agent "$bundle/banger-vsock-agent" --force --log "$tmp/bundle.log"
t1=$(now)
bundle_time=$(elapsed "$t0" "$t1")

echo "== image build --docker (warm cache)"
t0=$(now)
in_ns "$tmp/bin/banger" image build --name "$name" --docker
t1=$(now)
image_time=$(elapsed "$t0" "$t1")

echo
printf '%-44s %s\n' "bundle rootfs build (banger-bundle rootfs):" "$bundle_time"
printf '%-44s %s\n' "image build --docker (warm cache):" "$image_time"
