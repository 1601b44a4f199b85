#!/usr/bin/env bash
# The whole test suite, as CI runs it (README "Quick start", second command):
# installs what the tests need, builds the binaries, lints (gofmt, go vet,
# staticcheck), builds the test runtime bundle (cached by content hash), then
# runs every Go test, including the privileged network tests and the VM
# end-to-end tests, which boot real VMs under qemu inside network namespaces
# they create and remove. Every package but the VM end-to-end tests runs
# under the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

./scripts/install-deps.sh
make build
make lint

start=$(date +%s)
BANGER_TEST_BUNDLE="$(./scripts/test-bundle.sh)"
export BANGER_TEST_BUNDLE
echo "==> test bundle: $BANGER_TEST_BUNDLE ($(( $(date +%s) - start ))s)"

# -p 1: the VM tests of different packages would otherwise boot guests
# under TCG at the same time on a small machine. The race detector runs on
# every package except internal/e2e, whose tests spend their time in guests
# booting under TCG and exercise bangerd as a separate (uninstrumented)
# binary; the concurrent code they reach has stress tests that run under it.
# Both runs happen even when the first fails; the script fails if either did.
rc=0
start=$(date +%s)
go test -race -count=1 -p 1 -timeout 45m $(go list ./... | grep -v '/internal/e2e$') "$@" || rc=1
echo "==> tests under -race: $(( $(date +%s) - start ))s"
start=$(date +%s)
go test -count=1 -p 1 -timeout 45m ./internal/e2e/ "$@" || rc=1
echo "==> VM end-to-end tests: $(( $(date +%s) - start ))s"
exit $rc
