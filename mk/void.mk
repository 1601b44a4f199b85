# Experimental Void Linux guest targets (included from the main Makefile).
#
#   make rootfs-void       build ./runtime/rootfs-void.ext4 + work seed from packages.void
#   make void-register     create or update the unmanaged image $(VOID_IMAGE) in place
#   make void-vm           build if needed, register, create VM $(VOID_VM_NAME)
#   make verify-void       smoke test a Void VM (SSH, /root across stop/start, agent, Docker)
#
# The Debian default image and bundle are not touched by any of these.

VOID_IMAGE     ?= void-exp
VOID_VM_NAME   ?= void-dev
# Extra flags for the builder, e.g. VOID_ARGS="--mirror https://repo-fi.voidlinux.org --size 2G".
VOID_ARGS      ?=
VOID_ROOTFS    := $(RUNTIME_DIR)/rootfs-void.ext4
VOID_WORK_SEED := $(RUNTIME_DIR)/rootfs-void.work-seed.ext4

.PHONY: rootfs-void void-register void-vm verify-void

rootfs-void: $(RUNTIME_AGENT) ## build ./runtime/rootfs-void.ext4 and its work seed (experimental Void guest; needs root via sudo)
	./make-rootfs-void.sh $(VOID_ARGS)

# Rebuilt when packages.void changes; void-vm uses this to "build if needed".
$(VOID_ROOTFS): packages.void
	./make-rootfs-void.sh $(VOID_ARGS)

void-register: banger ## create or update the unmanaged image void-exp from the Void rootfs (in place)
	./scripts/void-register.sh --name $(VOID_IMAGE) --runtime $(RUNTIME_DIR)

void-vm: banger $(VOID_ROOTFS) ## build if needed, register and create a Void VM: make void-vm VOID_VM_NAME=void-a
	$(MAKE) --no-print-directory void-register
	./banger vm create --image $(VOID_IMAGE) --name $(VOID_VM_NAME)

verify-void: banger ## smoke test of a Void VM: SSH, /root across stop/start, agent, Docker (make void-register first)
	./scripts/verify-void.sh --image $(VOID_IMAGE)
