# warmboot: see README.md. The two commands a newcomer needs:
#   make demo   boot the demo disk in QEMU with warmboot
#   make test   every test: lint, unit, fuzz, VM
# Both install what they need (scripts/setup.sh).

SHELL    := /bin/bash
OUT      := out
KDIR     := $(OUT)/kernel
IMAGE    := $(OUT)/warmboot.cpio
PEER     := $(OUT)/uroot-boot.cpio
DISK     := $(OUT)/demo.img
TARGET   := $(OUT)/target.img
GOSRC    := $(shell find cmds boot images -name '*.go' -not -name '*_test.go' 2>/dev/null) go.mod go.sum
# TCG (there is no KVM here) with a 64 MiB translation cache instead of
# QEMU's 1 GiB default: with the large cache, code translated from a
# system's pages stays until those pages are written, and every first
# write to such a page after a kexec pays for dropping it. Measured in a
# Debian 12 VM just kexec'd from its systemd system: copying a 30 MB
# initrd into a memfd took 10.0 s with the default cache and 0.36 s with
# this one (0.26-0.30 s on later copies either way), and the kexec to the
# next userspace took 39 s instead of 22 s. This is what made warmboot's
# "read" and "load" phases take 4-40 s after a swap, varying from run to
# run. On hardware and under KVM there is no such cost.
QEMU_ACCEL := -accel tcg,tb-size=64
export WARMBOOT_QEMU_ACCEL := $(QEMU_ACCEL)
# QEMU's CPU model for the demo and the tests: qemu64 (x86-64 v1, all
# that Debian's kernels and ours need) with RDRAND, which every server
# of the last decade has. Under TCG the SIMD paths a guest picks on -cpu
# max (SSSE3/AVX hashing, copying) cost more to emulate than the scalar
# ones: five VM tests one at a time, models interleaved, took 0.88 and
# 0.87 of max's time (README: Tests). Without RDRAND nothing seeds the
# kernel's RNG for minutes under TCG (TestNetNoRandom boots so).
# Benchmarks keep max, as README's figures were measured.
QEMU_CPU := qemu64,+rdrand
export WARMBOOT_QEMU_CPU := $(QEMU_CPU)
QEMU     := qemu-system-x86_64 -machine q35 $(QEMU_ACCEL) -cpu $(QEMU_CPU) -m 1G -smp 1 -nographic -no-reboot
# Fuzz budgets are execution counts: a wall-clock -fuzztime races the fuzz
# coordinator at its deadline in Go 1.26 (golang/go#75804) and fails with a
# bare "context deadline exceeded" and no reproducer. 100 000 each: the 39
# targets fuzzed 428 s in a cold make test on 2 cores (607 s at 200 000);
# make fuzz FUZZTIME=5000000x for a long run.
FUZZTIME ?= 100000x
# Tests that drive real tools (signify-openbsd, swtpm, tpm2_eventlog) fail
# rather than skip when run from make, which installs them.
export WARMBOOT_REQUIRE_TOOLS := 1
BENCH_N  ?= 5
BENCH    ?= ^(BenchmarkBoot|BenchmarkVerifiedBoot|BenchmarkSwap|BenchmarkPayload|BenchmarkSwapPayload|BenchmarkDebian)$$
# RUN narrows the VM tests to a regexp: make vmtest RUN=TestMenuEdit
RUN      ?= .
# VMPAR is how many VM tests run at once. Two on this 2-core machine (TCG,
# one vCPU each for most tests) took 0.60 of the time of one at a time,
# each test as long as alone (README, Tests); VMPAR=1 runs them one by one.
VMPAR    ?= 2

export WARMBOOT_KERNEL_DIR := $(abspath $(KDIR))

PAYLOAD  := $(OUT)/warmboot.bzImage
PAYLOAD_IMAGE := $(OUT)/payload.cpio

.PHONY: help deps kernel image payload peer disk demo test systems lint unit fuzz vmtest bench clean deb debian soak

DEB      := $(OUT)/warmboot.deb
DEBSRC   := $(GOSRC) $(shell find images/deb cmds/warmswap/systemd -type f 2>/dev/null) README.md

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

deps: $(OUT)/.deps ## install Debian packages and Go modules
$(OUT)/.deps: scripts/setup.sh go.mod go.sum
	@mkdir -p $(OUT)
	scripts/setup.sh deps
	@touch $@

kernel: $(KDIR)/release ## download and extract the Debian test kernel
$(KDIR)/release: | $(OUT)/.deps
	scripts/setup.sh kernel $(KDIR)

image: $(IMAGE).zst ## build out/warmboot.cpio and .zst; prints sizes (TRUST_KEYS="a.pub b.pub db.crt" [TLS_CAS=ca.crt] [POLICY=enforce|warn|off] [EDITS=refuse|unsigned] [UKI=either|manifest|authenticode|both] [MODULES=… MATCH=… ONDEMAND=…])
$(IMAGE).zst: $(GOSRC) $(KDIR)/release $(OUT)/.deps $(OUT)/trust.stamp
	go run ./images/mkimage -kernel-dir $(KDIR) -o $(IMAGE) $(TRUSTARGS) $(MODARGS)

# The image is rebuilt when the trust or module settings or the key files
# change. MODULES (loaded at start), MATCH (loaded for the hardware found)
# and ONDEMAND ("GROUP=mod,… …") override images/mkimage's defaults, e.g.
# MATCH=virtio_pci,virtio_blk ONDEMAND= for an image that only runs in QEMU.
TRUSTARGS := $(if $(TRUST_KEYS),-trust-keys "$(TRUST_KEYS)") $(if $(TLS_CAS),-tls-cas "$(TLS_CAS)") $(if $(POLICY),-policy $(POLICY)) $(if $(EDITS),-edits $(EDITS)) $(if $(UKI),-uki $(UKI))
MODARGS   := $(if $(MODULES),-modules "$(MODULES)") $(if $(filter undefined,$(origin MATCH)),,-match "$(MATCH)") $(if $(filter undefined,$(origin ONDEMAND)),,-ondemand "$(ONDEMAND)")
$(OUT)/trust.stamp: FORCE
	@mkdir -p $(OUT); { echo '$(TRUSTARGS) $(MODARGS)'; cat $(TRUST_KEYS) $(TLS_CAS) /dev/null; } > $@.new; \
	if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi
.PHONY: FORCE
FORCE:

# The payload's NIC drivers (images/payload/nic-NAME.config): those that keep it under 8 MiB.
# Add intel-10g, intel-ice, broadcom-bnxt, mellanox (and PAYLOAD_IPV6=1 for DHCPv6) for the
# machines that need them; the size is printed.
PAYLOAD_NICS ?= virtio intel-1g broadcom-tg3 realtek
comma := ,
PAYLOAD_CONFIG := $(subst $(eval) ,$(comma),$(strip images/payload/payload.config images/payload/net.config \
	$(if $(PAYLOAD_IPV6),images/payload/net-ipv6.config) $(foreach n,$(PAYLOAD_NICS),images/payload/nic-$(n).config)))
payload: $(PAYLOAD) ## build the LinuxBoot payload: out/warmboot.bzImage and out/warmboot.efi, one kernel with the image inside (TRUST_KEYS… as for image; SIGN_KEY=key SIGN_CERT=cert.pem to sign the .efi)
$(PAYLOAD_IMAGE).zst: $(GOSRC) $(KDIR)/release $(OUT)/.deps $(OUT)/trust.stamp
	go run ./images/mkimage -kernel-dir $(KDIR) -o $(PAYLOAD_IMAGE) $(TRUSTARGS) -modules "" -match "" -ondemand ""
$(PAYLOAD): $(PAYLOAD_IMAGE).zst $(wildcard images/payload/*.config) images/payload/main.go $(OUT)/sign.stamp
	@dpkg-query -W -f='payload: kernel source $${Package} $${Version}\n' linux-source-6.1
	go run ./images/payload -initramfs $(PAYLOAD_IMAGE) -o $@ -efi $(OUT)/warmboot.efi -config $(PAYLOAD_CONFIG) $(if $(SIGN_KEY),-sign-key $(SIGN_KEY) -sign-cert $(SIGN_CERT))
$(OUT)/sign.stamp: FORCE
	@mkdir -p $(OUT); { echo '$(SIGN_KEY) $(SIGN_CERT) $(PAYLOAD_CONFIG)'; cat $(SIGN_CERT) /dev/null; } > $@.new; \
	if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

deb: $(DEB) ## build the Debian package out/warmboot.deb (dpkg-deb; lintian-clean): warmswap, warmboot, warmsign, units, initramfs and kernel hooks
$(DEB): $(DEBSRC) $(OUT)/.deps
	images/deb/mkdeb.sh $(OUT)/warmboot.new.deb
	@echo "lintian --fail-on error,warning $(OUT)/warmboot.new.deb"; \
	out=$$(lintian --fail-on error,warning $(OUT)/warmboot.new.deb 2>&1); st=$$?; \
	grep -v '^running with root privileges' <<<"$$out" || true; exit $$st
	mv $(OUT)/warmboot.new.deb $@

debian: $(OUT)/.deps ## build (once, cached in ~/.cache/warmboot) the stock Debian 12 and 13 systems TestDebian and TestTrixie run
	images/debian/mkdebian.sh
	images/debian/mkdebian.sh trixie

peer: $(PEER).zst ## build u-root's boot command image (the benchmark's peer)
$(PEER).zst: go.mod go.sum images/mkimage/main.go $(KDIR)/release $(OUT)/.deps
	go run ./images/mkimage -kernel-dir $(KDIR) -o $(PEER) -flavor uroot-boot

disk: $(DISK) ## build the demo disk
$(DISK): $(GOSRC) $(KDIR)/release $(OUT)/.deps
	go run ./images/mkdisk -kernel $(KDIR)/vmlinuz -release $$(cat $(KDIR)/release) -o $(DISK) -target $(TARGET)

# The demo has no NIC (-nic none): QEMU's default one would answer DHCP with no boot file, and
# warmboot would wait warmboot.net.wait for DHCPv6 before its menu (README: Network boot).
demo: image disk ## boot the demo disk in QEMU: menu, countdown, then the target's marker
	$(QEMU) -nic none -kernel $(KDIR)/vmlinuz -initrd $(IMAGE).zst -append "console=ttyS0 quiet" \
		-drive file=$(DISK),if=virtio,format=raw,snapshot=on

# $(call CPUTIME,LABEL) COMMAND: bash's time, its line ("LABELcpu: …")
# last in the job's log; make test prints them at its end: where a cold
# run's time goes.
CPUTIME = TIMEFORMAT="$(1)cpu: %0R s wall, %0U s user, %0S s sys"; time

# The fuzz targets run beside the VM tests, niced to the lowest priority:
# they take the CPU the VMs leave idle (their countdowns, waits and disk
# I/O) instead of holding up the kernel builds and the VMs. make test
# waits for both and fails if either did.
test: systems lint unit ## every test (what CI runs)
	@echo "fuzz: beside the VM tests, niced (log: $(OUT)/fuzz.log)"; \
	bash -c '$(CPUTIME) nice -n 19 $(MAKE) --no-print-directory fuzz' >$(OUT)/fuzz.log 2>&1 & fuzz=$$!; \
	$(call CPUTIME,vmtest with its images and package: ) $(MAKE) --no-print-directory vmtest; vm=$$?; \
	wait $$fuzz; fz=$$?; \
	if [ $$fz = 0 ]; then grep -E '^(fuzz |ok )' $(OUT)/fuzz.log | paste - - | awk '{print "fuzz:", $$2, $$3, $$NF}'; \
	else cat $(OUT)/fuzz.log; echo "fuzz: FAILED (above; $(OUT)/fuzz.log)"; fi; \
	for f in $(OUT)/systems-*.log $(OUT)/fuzz.log; do echo "$$(basename $$f .log): $$(grep '^cpu: ' $$f | tail -1)"; done; \
	test $$vm = 0 -a $$fz = 0

# The Debian systems and the ukify root the VM tests boot are built (once,
# cached) in the background from the start of make test: their downloads
# overlap the lint, unit and image builds; vmtest's own calls wait
# for them (flock) and take the cached result, or build again and say why
# if a background build failed. The payload's kernel tree is compiled
# beside them (payload -prepare), and make payload waits for it (the
# tree's lock) and relinks. Not niced: it is what the VM phase waits for
# longest, and the fuzz targets, niced to 19, must not take its CPU (at
# nice 10, 2026-12-04, the extraction took 7 minutes and the fuzz
# targets ran before the VM tests instead of beside them). Logs in
# $(OUT)/systems-*.log.
systems: $(OUT)/.deps
	@for s in bookworm trixie; do nohup bash -c '$(CPUTIME) images/debian/mkdebian.sh $$0' $$s >/dev/null 2>$(OUT)/systems-$$s.log & done; \
	nohup bash -c '$(CPUTIME) images/ukify/mkukify.sh' >/dev/null 2>$(OUT)/systems-ukify.log & \
	nohup bash -c '$(CPUTIME) go run ./images/payload -prepare -config $(PAYLOAD_CONFIG)' >$(OUT)/systems-kernel.log 2>&1 & \
	echo "systems: building the Debian 12 and 13 systems, the ukify root and the payload's kernel tree in the background (logs: $(OUT)/systems-*.log)"

lint: $(OUT)/.deps ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l cmds boot images internal vmtest)" || { gofmt -l cmds boot images internal vmtest; echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...
	GOOS=darwin go vet ./...  # the seam builds off Linux (internal/sys/sys_other.go)
	go tool staticcheck ./...

unit: $(KDIR)/release ## unit tests (no root, no VM)
	go test ./boot/... ./cmds/... ./images/... ./internal/...

fuzz: $(OUT)/.deps ## each fuzz target for FUZZTIME
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' boot images cmds internal); do \
		d=./$$(dirname $$t); \
		for f in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$t | cut -d' ' -f2); do \
			echo "fuzz $$d $$f"; go test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$d || exit 1; \
		done; \
	done

vmtest: image payload deb $(KDIR)/release ## VM tests: boot real kernels in QEMU (TCG)
	debian=$$(images/debian/mkdebian.sh) && test -d "$$debian" && \
	trixie=$$(images/debian/mkdebian.sh trixie) && test -d "$$trixie" && \
	ukify=$$(images/ukify/mkukify.sh) && test -d "$$ukify" && \
	WARMBOOT_UKIFY=$$ukify WARMBOOT_DEBIAN=$$debian WARMBOOT_TRIXIE=$$trixie WARMBOOT_DEB=$(abspath $(DEB)) WARMBOOT_SOAK_N=$(WARMBOOT_SOAK_N) \
	VMTEST_QEMU="qemu-system-x86_64 -machine q35 $(QEMU_ACCEL) -cpu $(QEMU_CPU) -m 1G -smp 1 -nic none" \
	VMTEST_KERNEL=$(abspath $(KDIR))/vmlinuz WARMBOOT_IMAGE=$(abspath $(IMAGE)).zst \
	WARMBOOT_PAYLOAD=$(abspath $(PAYLOAD)) WARMBOOT_PAYLOAD_IMAGE=$(abspath $(PAYLOAD_IMAGE)) \
		WARMBOOT_VMPAR=$(VMPAR) go test -count=1 -timeout 60m -parallel 1000 -run '$(RUN)' -v ./vmtest/ 2>&1 | tee $(OUT)/vmtest.log; exit $${PIPESTATUS[0]}

SOAK_N ?= 100
soak: image payload deb $(KDIR)/release ## the swap soak with SOAK_N swaps in one VM (default 100; make test does 10)
	$(MAKE) vmtest RUN=TestSwapSoak WARMBOOT_SOAK_N=$(SOAK_N)

bench: image peer payload deb $(KDIR)/release ## boot the demo disk BENCH_N times with warmboot and u-root's boot, the payload and Debian's kernel; swaps; reboots of the stock Debian system; report medians (BENCH=regexp narrows)
	debian=$$(images/debian/mkdebian.sh) && test -d "$$debian" && \
	trixie=$$(images/debian/mkdebian.sh trixie) && test -d "$$trixie" && \
	ukify=$$(images/ukify/mkukify.sh) && test -d "$$ukify" && \
	WARMBOOT_UKIFY=$$ukify WARMBOOT_DEBIAN=$$debian WARMBOOT_TRIXIE=$$trixie WARMBOOT_DEB=$(abspath $(DEB)) \
	WARMBOOT_QEMU_CPU=max VMTEST_QEMU="qemu-system-x86_64 -machine q35 $(QEMU_ACCEL) -cpu max -m 1G -smp 1 -nic none" \
	VMTEST_KERNEL=$(abspath $(KDIR))/vmlinuz WARMBOOT_IMAGE=$(abspath $(IMAGE)).zst WARMBOOT_PEER=$(abspath $(PEER)).zst \
	WARMBOOT_PAYLOAD=$(abspath $(PAYLOAD)) WARMBOOT_PAYLOAD_IMAGE=$(abspath $(PAYLOAD_IMAGE)) \
	WARMBOOT_BENCH_N=$(BENCH_N) go test -count=1 -timeout 90m -run '^$$' -bench '$(BENCH)' -benchtime=1x -v ./vmtest/ | tee $(OUT)/bench.log; exit $${PIPESTATUS[0]}
	go test -count=1 -run '^$$' -bench '^BenchmarkVerifyVsSha256sum$$' -benchtime=5x ./boot/verify/ | tee $(OUT)/bench-hash.log; exit $${PIPESTATUS[0]}

clean: ## remove build outputs (keeps the downloaded kernel)
	rm -rf $(OUT)/*.cpio $(OUT)/*.zst $(OUT)/*.img
