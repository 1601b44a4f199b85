# Runtime bundle targets (included from the main Makefile).
#
#   make runtime-bundle   fetch the archive named in $(RUNTIME_MANIFEST), or,
#                         when its url is empty, install a copy of the bundle
#                         built from Debian in $(BUNDLE_CACHE) (building it
#                         there first; the build needs root: it runs through
#                         sudo). The VM tests (scripts/test-bundle.sh) use
#                         the same cache entry.
#   make runtime-package  write $(RUNTIME_ARCHIVE) and print its SHA256
#   make rootfs           rebuild only the rootfs + work seed from packages.apt
#   make runtime-agent    install runtime/banger-vsock-agent into the bundle's rootfs
#   make test-bundle      build or reuse the cached test bundle; prints its directory
#   make bundle-verify    check ./runtime

GO ?= go
RUNTIME_DIR ?= runtime
RUNTIME_MANIFEST ?= runtime-bundle.toml
RUNTIME_ARCHIVE ?= dist/banger-runtime.tar.gz
RUNTIME_AGENT ?= $(RUNTIME_DIR)/banger-vsock-agent
BANGER_BUNDLE ?= bin/banger-bundle
# Extra flags for the Debian build, e.g. BUNDLE_ARGS="--mirror http://apt-cacher:3142/debian".
BUNDLE_ARGS ?=
# Built bundles by content key (scripts/bundle-hash.sh), shared with scripts/test-bundle.sh.
BUNDLE_CACHE ?= $(or $(BANGER_TEST_BUNDLE_CACHE),$(HOME)/.cache/banger/test-bundle)
# Building a rootfs needs root (mmdebstrap, chroot); files are handed back
# to the invoking user afterwards.
BUNDLE_SUDO ?= $(if $(filter 0,$(shell id -u)),,sudo)

# A copy of the freshly built agent outside the bundle, which a fetch replaces.
BUNDLE_AGENT_COPY := bin/banger-vsock-agent.for-bundle

.PHONY: runtime-bundle runtime-package rootfs runtime-agent test-bundle bundle-verify FORCE

$(BANGER_BUNDLE): FORCE
	@mkdir -p $(dir $@)
	$(GO) build -o $@ ./cmd/banger-bundle

runtime-bundle: $(BANGER_BUNDLE) $(RUNTIME_AGENT) ## fetch ./runtime from RUNTIME_MANIFEST, or copy it from the bundle cache (built from Debian once) when its url is empty
	@mkdir -p $(dir $(BUNDLE_AGENT_COPY))
	cp $(RUNTIME_AGENT) $(BUNDLE_AGENT_COPY)
	$(BUNDLE_SUDO) $(BANGER_BUNDLE) auto --manifest $(RUNTIME_MANIFEST) --dest $(RUNTIME_DIR) --agent $(BUNDLE_AGENT_COPY) \
		--cache "$(BUNDLE_CACHE)" --key "$$(GO="$(GO)" scripts/bundle-hash.sh)" $(BUNDLE_ARGS)
	$(BANGER_BUNDLE) agent --dest $(RUNTIME_DIR) --agent $(BUNDLE_AGENT_COPY)

runtime-package: $(BANGER_BUNDLE) ## write dist/banger-runtime.tar.gz from ./runtime and print its SHA256
	$(BANGER_BUNDLE) package --src $(RUNTIME_DIR) --out $(RUNTIME_ARCHIVE)

rootfs: $(BANGER_BUNDLE) ## rebuild ./runtime/rootfs-docker.ext4 and its work seed from packages.apt
	$(BUNDLE_SUDO) $(BANGER_BUNDLE) rootfs --dest $(RUNTIME_DIR) $(BUNDLE_ARGS)

runtime-agent: $(BANGER_BUNDLE) $(RUNTIME_AGENT) ## install the freshly built guest agent into the bundle and its rootfs
	$(BANGER_BUNDLE) agent --dest $(RUNTIME_DIR) --agent $(RUNTIME_AGENT)

test-bundle: ## build or reuse the cached test bundle and print its directory
	@GO="$(GO)" scripts/test-bundle.sh

bundle-verify: $(BANGER_BUNDLE) ## check ./runtime for completeness and consistency
	$(BANGER_BUNDLE) verify --dir $(RUNTIME_DIR)

FORCE:
