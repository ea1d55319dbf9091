package loader

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/netboot"
	"github.com/warmboot/warmboot/boot/netboot/fetch"
	"github.com/warmboot/warmboot/boot/netboot/netup"
	"github.com/warmboot/warmboot/boot/timeline"
)

// NetMode is where network entries go in the menu (warmboot.net=).
type NetMode string

// The modes: after the disks' entries (the default), before them, or no
// network at all.
const (
	NetLast  NetMode = "last"
	NetFirst NetMode = "first"
	NetOff   NetMode = "off"
)

// ParseNetMode reads warmboot.net='s value.
func ParseNetMode(s string) (NetMode, error) {
	switch m := NetMode(s); m {
	case NetLast, NetFirst, NetOff:
		return m, nil
	}
	return "", fmt.Errorf("%q: want first, last or off", s)
}

// Network finds what the network offers: the configs of every DHCP
// answer's boot file, and what to say about it. RealNetwork is the
// machine's.
type Network func(ctx context.Context) NetFound

// NetFound is what the network offered.
type NetFound struct {
	Configs []*entry.Config
	// Said is what to tell the consoles, in order.
	Said []string
}

// DefaultNetWait bounds DHCP, on every interface at once (warmboot.net.wait=).
const DefaultNetWait = 5 * time.Second

// netFindWait bounds fetching and reading what the answers point at.
const netFindWait = 60 * time.Second

// RealNetwork brings the network up (package netup) for at most wait and
// reads what each answer's boot file offers (package netboot), with
// fetch, timing the dhcp and fetch phases on tl.
func RealNetwork(f *fetch.Client, wait time.Duration, tl *timeline.Timeline) Network {
	return func(ctx context.Context) NetFound {
		var out NetFound
		say := func(format string, args ...any) { out.Said = append(out.Said, fmt.Sprintf(format, args...)) }
		uuid := ""
		if b, err := os.ReadFile("/sys/class/dmi/id/product_uuid"); err == nil {
			uuid = strings.TrimSpace(string(b))
		}
		end := tl.Begin("dhcp")
		dctx, cancel := context.WithTimeout(ctx, wait)
		res, err := netup.Up(dctx, netup.Config{LinkWait: wait, Timeout: wait / 2, Retries: 1, UUID: uuid})
		cancel()
		end()
		if err != nil {
			say("network: %v", err)
			return out
		}
		if len(res.Leases) == 0 {
			say("network: no DHCP answer on %s within %s (warmboot.net.wait= waits longer, warmboot.net=off skips the network)", strings.Join(res.Interfaces, ", "), wait)
			for _, p := range res.Problems {
				say("network:   %s", p)
			}
			return out
		}
		end = tl.Begin("fetch")
		defer end()
		fctx, cancel := context.WithTimeout(ctx, netFindWait)
		defer cancel()
		finder := &netboot.Finder{Fetch: f, UUID: uuid}
		seen := map[string]bool{}
		for _, l := range res.Leases {
			say("network: %s: %s from %s", l.Interface, l.IP, l.Server)
			if l.Bootfile == "" {
				say("network: %s: the DHCP answer names no boot file", l.Interface)
				continue
			}
			if seen[l.Bootfile] {
				continue // the same boot file on another interface
			}
			seen[l.Bootfile] = true
			found, err := finder.Find(fctx, l)
			if err != nil {
				say("network: %s: %v", l.Interface, err)
				continue
			}
			for _, e := range found.Echo {
				say("network: %s: %s", found.Config.Source.File, e)
			}
			out.Configs = append(out.Configs, found.Config)
		}
		return out
	}
}

// startNetwork starts looking on the network, beside the disks, unless
// warmboot.net=off or a running system asked for an entry (a swap does
// not wait for DHCP). The result is read with finishNetwork.
func (l *Loader) startNetwork(ctx context.Context) <-chan NetFound {
	if l.network == nil || l.cfg.Net == NetOff || l.handoff != nil {
		return nil
	}
	ch := make(chan NetFound, 1)
	go func() { ch <- l.network(ctx) }()
	return ch
}

// finishNetwork waits for the network and puts its entries in m.
func (l *Loader) finishNetwork(ch <-chan NetFound, m choose.Menu) choose.Menu {
	if ch == nil {
		return m
	}
	found := <-ch
	for _, s := range found.Said {
		l.say("%s", s)
	}
	if len(found.Configs) == 0 {
		return m
	}
	return choose.WithNetwork(m, choose.Rank(found.Configs), l.cfg.Net == NetFirst)
}
