#!/usr/bin/env bash
# The whole test suite, as CI runs it (README "Quick start", second command):
# installs what the tests need, builds the binaries and the test runtime
# bundle (cached by content hash), then runs every Go test, including the
# privileged network tests and the VM end-to-end tests, which boot real VMs
# under qemu inside network namespaces they create and remove.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

./scripts/install-deps.sh
make build

start=$(date +%s)
BANGER_TEST_BUNDLE="$(./scripts/test-bundle.sh)"
export BANGER_TEST_BUNDLE
echo "==> test bundle: $BANGER_TEST_BUNDLE ($(( $(date +%s) - start ))s)"

# -p 1: the VM tests of different packages would otherwise boot guests
# under TCG at the same time on a small machine.
go test -count=1 -p 1 -timeout 45m ./... "$@"
