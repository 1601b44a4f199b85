#!/bin/sh
# Print the content key of the runtime bundle this checkout builds: a hash
# over everything a bundle is built from (packages.apt, the bundle build
# code, the guest agent's sources, go.mod/go.sum and the Go version). It
# names the entry in the bundle cache that `make runtime-bundle` and
# scripts/test-bundle.sh share (internal/bundle/cache).
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
{
	find internal/bundle cmd/banger-bundle cmd/banger-vsock-agent internal/agent internal/vsock \
		-type f \( -name '*.go' -o -name '*.sh' \) ! -name '*_test.go' 2>/dev/null |
		LC_ALL=C sort | xargs sha256sum
	sha256sum packages.apt go.mod go.sum
	"$GO" version
} | sha256sum | cut -c1-16
