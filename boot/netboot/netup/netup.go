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
	"log/slog"
	"time"

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
