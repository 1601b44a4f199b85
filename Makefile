# banger — developer entry points. `make help` lists them.
GO       ?= go
PREFIX   ?= $(HOME)/.local
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X banger/internal/version.Version=$(VERSION)
RUNTIME  := runtime
AGENT    := $(RUNTIME)/banger-vsock-agent
GOFILES  := $(shell find . -name '*.go' -not -path './runtime/*' 2>/dev/null)

.PHONY: help build install uninstall test test-all test-e2e lint bench bench-create bench-boot clean

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

bench-create: build ## benchmark vm create and first-SSH readiness: make bench-create ARGS="--runs 3 --image NAME"
	$(GO) run ./cmd/banger-bench create $(ARGS)

bench-boot: build ## boot → SSH of two images in one run: make bench-boot ARGS="--register old=BUNDLE_DIR --image old --image default"
	$(GO) run ./cmd/banger-bench boot $(ARGS)

clean: ## remove built binaries (not the runtime bundle)
	rm -f banger bangerd $(AGENT)
	rm -rf dist

-include mk/bundle.mk
