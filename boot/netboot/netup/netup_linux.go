//go:build linux

package netup

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"sort"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"

	"github.com/warmboot/warmboot/boot/netboot/lease"
)

// Up brings up every Ethernet interface and asks DHCP on each, until
// every attempt has ended or ctx does.
func Up(ctx context.Context, c Config) (Result, error) {
	var r Result
	links, err := netlink.LinkList()
	if err != nil {
		return r, fmt.Errorf("listing network interfaces: %w", err)
	}
	var ifs []netlink.Link
	for _, l := range links {
		// Physical NICs only: not lo, bridges, bonds, tunnels.
		if l.Type() != "device" || l.Attrs().Flags&net.FlagLoopback != 0 || len(l.Attrs().HardwareAddr) != 6 {
			continue
		}
		ifs = append(ifs, l)
		r.Interfaces = append(r.Interfaces, l.Attrs().Name)
	}
	sort.Strings(r.Interfaces)
	if len(ifs) == 0 {
		return r, fmt.Errorf("no network interface: not looking on the network (a NIC whose driver the image lacks is not seen: the console's \"kernel modules\" line lists those loaded)")
	}
	if err := waitRandom(ctx, c.RandomReady); err != nil {
		return r, err
	}
	mods := []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier(VendorClass)),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionPXELinuxConfigFile, dhcpv4.OptionPXELinuxPathPrefix,
			dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName, dhcpv4.OptionHostName, dhcpv4.OptionDomainName)}
	if id, err := lease.ParseUUID(c.UUID); err == nil {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, id...))))
	}
	// dhclient logs with the standard logger: not on our consoles.
	log.SetOutput(io.Discard)
	cfg := dhclient.Config{Timeout: c.Timeout, Retries: c.Retries, Modifiers4: mods}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := dhclient.SendRequests(ctx, ifs, true, true, cfg, c.LinkWait)
	v4 := map[string]bool{}
	stopped := false
	for res := range results {
		name := res.Interface.Attrs().Name
		if res.Protocol == dhclient.NetIPv4 {
			v4[name] = true
		}
		if res.Err != nil && stopped {
			continue // cancelled by us
		}
		if res.Err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %s: %v", name, res.Protocol, res.Err))
			continue
		}
		if err := res.Lease.Configure(); err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %s: configuring the lease: %v", name, res.Protocol, err))
			continue
		}
		p4, p6 := res.Lease.Message()
		switch {
		case p4 != nil:
			l := lease.FromPacket(name, p4)
			r.Leases = append(r.Leases, l)
			logf(c.Log, "%s: DHCPv4 %s from %s, boot file %q", name, l.IP, l.Server, l.Bootfile)
		case p6 != nil:
			if u, err := res.Lease.Boot(); err == nil {
				l := lease.Lease{Interface: name, MAC: res.Interface.Attrs().HardwareAddr, Bootfile: u.String()}
				r.Leases = append(r.Leases, l)
				logf(c.Log, "%s: DHCPv6, boot file URL %s", name, u)
			}
		}
		if !stopped && enough(len(v4) == len(ifs), r.Leases) {
			// DHCPv6, which may never answer, is not waited for.
			stopped = true
			cancel()
		}
	}
	return r, nil
}

// enough says DHCP may stop: every interface's DHCPv4 attempt has ended
// and an answer named a boot file.
func enough(allV4 bool, leases []lease.Lease) bool {
	if !allV4 {
		return false
	}
	for _, l := range leases {
		if l.Bootfile != "" {
			return true
		}
	}
	return false
}

func logf(l *slog.Logger, format string, args ...any) {
	if l != nil {
		l.Info(fmt.Sprintf(format, args...))
	}
}
