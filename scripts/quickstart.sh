#!/usr/bin/env bash
# Quick start (README, first command): installs what banger needs, builds it,
# builds the runtime bundle from Debian, boots a VM and proves SSH works.
# Run as root on Debian 12 (or as a user with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
NAME="${1:-calm-otter}"

./scripts/install-deps.sh
make build
make runtime-bundle
./banger doctor || echo "(doctor reported problems; continuing)"
if ./banger vm show "$NAME" >/dev/null 2>&1; then
  ./banger vm start "$NAME"
else
  ./banger vm create --name "$NAME"
fi
./banger vm ssh "$NAME" -- sh -c 'echo "hello from $(hostname): $(uname -sr)"'
echo
echo "SSH works. Next: ./banger vm ssh $NAME   |   ./banger vm list   |   ./banger vm stop $NAME"
