#!/usr/bin/env bash
# Installs the Debian packages banger needs to build, boot VMs and run its
# tests. Idempotent; needs root (or sudo).
set -euo pipefail
PKGS=(
  make git ca-certificates           # build
  gcc libc6-dev                      # go test -race (the race detector needs cgo)
  e2fsprogs e2tools kmod             # disks and guest config (mkfs.ext4, debugfs, resize2fs, e2cp)
  openssh-client                     # banger vm ssh
  iproute2 iptables nftables procps  # bridge/netns, NAT, guest isolation, tests
  qemu-system-x86                    # qemu driver (TCG where KVM cannot boot guests)
  mmdebstrap busybox-static cpio zstd xz-utils dpkg-dev debian-archive-keyring util-linux  # runtime bundle build from Debian
  dnsutils python3 curl              # end-to-end tests (dig, http.server)
  sudo                               # image build and image save as a non-root user (their root phase; tested)
)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Go: use the one on PATH (or /usr/local/go). A fresh Debian 12 has none, and
# bookworm's golang is too old to read go.mod, so take golang-1.23 from
# bookworm-backports; the go command then fetches the toolchain go.mod asks
# for from the Go module proxy (GOTOOLCHAIN=auto).
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null; then
  echo "==> installing Go from bookworm-backports"
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/banger-backports.list >/dev/null
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports golang-1.23-go >/dev/null
  $SUDO ln -sf /usr/lib/go-1.23/bin/go /usr/local/bin/go
fi
echo "==> dependencies present"
