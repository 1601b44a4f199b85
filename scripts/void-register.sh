#!/bin/sh
# Create or update (in place) the unmanaged image void-exp from the Void
# rootfs and work seed, with the runtime bundle's kernel, initrd and
# modules named explicitly (so it does not depend on which image is the
# default). Used by `make void-register`.
#
#   scripts/void-register.sh [--name void-exp] [--runtime runtime]
set -eu
cd "$(dirname "$0")/.."
BANGER=${BANGER:-./banger}
NAME=void-exp
RUNTIME=runtime
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME="$2"; shift ;;
    --runtime) RUNTIME="$2"; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "void-register.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
RUNTIME=$(cd "$RUNTIME" && pwd)
rootfs=$RUNTIME/rootfs-void.ext4
seed=$RUNTIME/rootfs-void.work-seed.ext4
for f in "$rootfs" "$seed"; do
  [ -f "$f" ] || { echo "void-register.sh: no $f: run 'make rootfs-void' first" >&2; exit 1; }
done
[ -f "$RUNTIME/bundle.json" ] || { echo "void-register.sh: no $RUNTIME/bundle.json: run 'make runtime-bundle' first" >&2; exit 1; }
# bundle.json is written one key per line.
key() { sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" "$RUNTIME/bundle.json"; }
kernel=$(key kernel_elf) initrd=$(key initrd) modules=$(key modules_dir)
[ -n "$kernel" ] && [ -n "$initrd" ] && [ -n "$modules" ] || { echo "void-register.sh: $RUNTIME/bundle.json lacks kernel_elf, initrd or modules_dir" >&2; exit 1; }
exec "$BANGER" image register --name "$NAME" --rootfs "$rootfs" --work-seed "$seed" \
  --kernel "$RUNTIME/$kernel" --initrd "$RUNTIME/$initrd" --modules "$RUNTIME/$modules" \
  --packages "$(pwd)/packages.void"
