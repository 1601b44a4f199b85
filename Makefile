# banger — developer entry points. `make help` lists them.
GO       ?= go
PREFIX   ?= $(HOME)/.local
# The root-owned privileged helper. Every directory above it must be
# root-owned and writable by root only (not /usr/local on older Debian,
# which is group-writable by staff); a path other than the default needs
# helper_path in config.toml.
HELPER_DIR ?= /usr/libexec/banger
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X banger/internal/version.Version=$(VERSION)
RUNTIME  := runtime
AGENT    := $(RUNTIME)/banger-vsock-agent
GOFILES  := $(shell find . -name '*.go' -not -path './runtime/*' 2>/dev/null)

.PHONY: help build install install-helper uninstall uninstall-helper test test-all test-e2e lint bench bench-create bench-boot bench-image clean

help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort | awk -F'\t' '{printf "  %-18s %s\n", $$1, $$2}'

build: banger bangerd $(AGENT) ## build ./banger, ./bangerd and the static guest agent into ./runtime/

banger: $(GOFILES) go.mod go.sum
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/banger

bangerd: $(GOFILES) go.mod go.sum
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/bangerd

$(AGENT): $(GOFILES) go.mod go.sum
	@mkdir -p $(RUNTIME)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/banger-vsock-agent

install: build ## install binaries to $(PREFIX)/bin and the runtime bundle to $(PREFIX)/lib/banger
	install -d $(PREFIX)/bin $(PREFIX)/lib/banger
	install -m 0755 banger bangerd $(PREFIX)/bin/
	@if [ -f $(RUNTIME)/bundle.json ]; then \
		cp -a --reflink=auto --sparse=always $(RUNTIME)/. $(PREFIX)/lib/banger/; \
		echo "installed runtime bundle to $(PREFIX)/lib/banger"; \
	else \
		install -m 0755 $(AGENT) $(PREFIX)/lib/banger/; \
		echo "note: ./runtime has no bundle.json; run 'make runtime-bundle' and 'make install' again (make install does not fetch artifacts)"; \
	fi
	@if [ -e $(HELPER_DIR)/bangerd ] && ! cmp -s bangerd $(HELPER_DIR)/bangerd; then \
		echo "note: the privileged helper $(HELPER_DIR)/bangerd is not this bangerd: run 'sudo make install-helper' to update it"; \
	fi

# No build here: under sudo it would build as root (and git describe would
# refuse a checkout root does not own). doctor compares versions instead.
install-helper: ## install ./bangerd root-owned as the privileged helper in $(HELPER_DIR) (make build first, then sudo make install-helper)
	@[ "$$(id -u)" = 0 ] || { echo "install-helper installs a root-owned file: run 'make build' and then 'sudo make install-helper'"; exit 1; }
	@[ -x bangerd ] || { echo "no ./bangerd: run 'make build' (as yourself) first"; exit 1; }
	install -d -o root -g root -m 0755 $(HELPER_DIR)
	install -o root -g root -m 0755 bangerd $(HELPER_DIR)/bangerd.new
	mv -f $(HELPER_DIR)/bangerd.new $(HELPER_DIR)/bangerd
	@echo "installed $(HELPER_DIR)/bangerd; 'banger doctor' checks it and prints the sudoers rule"

uninstall-helper: ## remove the privileged helper from $(HELPER_DIR) (run with sudo)
	rm -f $(HELPER_DIR)/bangerd
	-rmdir $(HELPER_DIR) 2>/dev/null

uninstall: ## remove what install put in $(PREFIX)
	rm -f $(PREFIX)/bin/banger $(PREFIX)/bin/bangerd
	rm -rf $(PREFIX)/lib/banger

test: ## unit and CLI tests (no root, no VMs)
	$(GO) test ./...

test-all: ## the whole suite: unit, privileged and VM end-to-end tests (root; builds the cached test bundle)
	./scripts/test-all.sh

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench: ## Go benchmarks (store, disks, DNS, agent)
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-create: build ## every VM figure as JSON (create/start/resume → SSH, suspend, snapshot, clone 4G/64G, idle CPU, RSS), root, own netns: sudo make bench-create ARGS="--runs 3"
	$(GO) run ./cmd/banger-bench create $(ARGS)

bench-image: ## time `banger image build --docker` (warm cache) next to a bundle rootfs build, both as root: sudo make bench-image
	./scripts/bench-image.sh

bench-boot: build ## boot → SSH of two images in one run, root, own netns: sudo make bench-boot ARGS="--register old=BUNDLE_DIR --image old --image default"
	$(GO) run ./cmd/banger-bench boot $(ARGS)

clean: ## remove built binaries (not the runtime bundle)
	rm -f banger bangerd $(AGENT)
	rm -rf dist

-include mk/bundle.mk
-include mk/void.mk
