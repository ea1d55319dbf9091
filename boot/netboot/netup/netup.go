// Package netup brings the network up for netbooting: every Ethernet
// interface the kernel has (its driver built in, or loaded by modalias
// before this runs) is set up, its link waited for (bounded), and DHCPv4
// and DHCPv6 asked on each, all at once; each answer is configured on its
// interface and returned as a lease.Lease.
//
// It uses u-root's pkg/dhclient (netlink, insomniacslk/dhcp's clients),
// asking as "warmboot:x86_64" (option 60, so a DHCP server can tell
// warmboot from firmware PXE and iPXE) with the machine's UUID (option
// 97) when it knows it.
package netup

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/boot/netboot/lease"
)

// VendorClass is what warmboot says it is in DHCP's option 60.
const VendorClass = "warmboot:x86_64"

// Config is how the network is brought up.
type Config struct {
	// LinkWait bounds the wait for each interface's link.
	LinkWait time.Duration
	// Timeout bounds each DHCP attempt; Retries more are made.
	Timeout time.Duration
	Retries int
	// UUID is the machine's (/sys/class/dmi/id/product_uuid), sent as
	// option 97; empty sends none.
	UUID string
	// Log receives what happens on each interface; nil discards.
	Log *slog.Logger
	// RandomReady says whether the kernel's random number generator is
	// seeded; nil asks the kernel (sys.RandomReady).
	RandomReady func() (bool, error)
}

// ErrNoRandom is why the network is not looked at on a machine whose
// kernel has no seeded random number generator yet.
var ErrNoRandom = errors.New("the kernel's random number generator is not seeded yet, and DHCP and HTTPS take their numbers from it: not looking on the network. A CPU with RDRAND or a hardware RNG (a TPM's, QEMU's -device virtio-rng-pci) seeds it at once, interrupts only slowly (QEMU's default qemu64 CPU has no RDRAND: -cpu qemu64,+rdrand, or -cpu host under KVM); warmboot.net.wait= waits longer")

// waitRandom waits, until ctx ends, for the kernel's random number
// generator to be seeded. The DHCP clients draw their transaction IDs,
// and TLS its keys, from Go's crypto/rand, whose getrandom(2) blocks
// until then and cannot be interrupted: on a machine with no RDRAND and
// no hardware RNG (QEMU's default CPU under TCG) that can be minutes, or
// for ever on an idle machine, and DHCP's own timeouts do not end it.
// Asking first, without blocking, keeps the network's wait bounded.
func waitRandom(ctx context.Context, ready func() (bool, error)) error {
	if ready == nil {
		ready = sys.RandomReady
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := ready()
		if ok || err != nil {
			// A kernel that cannot say (getrandom(2) missing) is not
			// kept off the network for it.
			return nil
		}
		select {
		case <-ctx.Done():
			return ErrNoRandom
		case <-tick.C:
		}
	}
}

// Result is what bringing the network up gave.
type Result struct {
	// Leases are the DHCPv4 answers, configured, in the order they
	// came; BootURL6 the DHCPv6 boot file URLs (option 59) by interface.
	Leases []lease.Lease
	// Interfaces are the interfaces tried.
	Interfaces []string
	// Problems are what went wrong, one per interface and protocol.
	Problems []string
}
