// Package netboot finds what a network offers to boot, given the DHCP
// answer that pointed at it (package lease): the boot file an answer
// names is fetched (package fetch) and read as what it is:
//
//   - an iPXE script (#!ipxe), run by package ipxe to the kernel, initrds
//     and command line it boots: one entry;
//   - pxelinux (pxelinux.0, lpxelinux.0, syslinux.efi, any *.0): its
//     config found as pxelinux finds it (option 209, else pxelinux.cfg/
//     by UUID, 01-MAC, hex IP shortened, default; under option 210 or
//     beside the boot file) and read by the syslinux parser, paths
//     resolved against the path prefix as pxelinux does: its entries;
//   - anything else: a bare kernel, booted with no initrd and an empty
//     command line.
//
// Entries name their files by URL (entry.Net is set) and boot through
// the same pipeline as local ones: staged from the network into sealed
// memfds, hashed on the way, and checked by the same policy, with the
// manifest fetched beside the kernel (verify.NetManifest).
package netboot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/internal/cfgfile"
	"github.com/warmboot/warmboot/boot/netboot/fetch"
	"github.com/warmboot/warmboot/boot/netboot/ipxe"
	"github.com/warmboot/warmboot/boot/netboot/lease"
	"github.com/warmboot/warmboot/boot/netboot/netfs"
	"github.com/warmboot/warmboot/boot/syslinux"
)

// Finder finds what leases point at.
type Finder struct {
	Fetch *fetch.Client
	// UUID is the machine's (SMBIOS), for ${uuid} and pxelinux.cfg/UUID.
	UUID string
	// Sleep is the iPXE scripts' sleep; nil sleeps.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Found is what one lease offers.
type Found struct {
	Config *entry.Config
	// Echo is what an iPXE script printed.
	Echo []string
}

// Find reads what l's boot file is into a config of network entries. It
// returns a config with no entries and its warnings when the boot file
// boots nothing, and an error when there is no boot file to read.
func (f *Finder) Find(ctx context.Context, l lease.Lease) (Found, error) {
	u, err := l.BootURL()
	if err != nil {
		return Found{}, fmt.Errorf("%s: %w", l.Interface, err)
	}
	net := &entry.Net{Interface: l.Interface, BootFile: u.Redacted()}
	if isFirmware(u) {
		return Found{}, fmt.Errorf("boot file %s is a program for firmware (iPXE's or GRUB's), not a kernel or a script warmboot reads: have the DHCP server give warmboot (vendor class %q) an iPXE script, a pxelinux.0 path or a kernel", u.Redacted(), "warmboot:x86_64")
	}
	text, script, err := f.Fetch.Probe(ctx, u, ipxe.MaxScript)
	if err != nil {
		return Found{}, err
	}
	switch {
	case script:
		r := ipxe.Run(ctx, ipxe.Config{Settings: l.Settings(f.UUID), Probe: f.probe, Sleep: f.Sleep}, u, text)
		cfg := &entry.Config{Format: entry.IPXE, Source: entry.Source{File: u.Redacted()}, Warnings: r.Warnings}
		if b := r.Boot; b != nil {
			e := entry.Entry{
				ID:        b.Kernel.Redacted(),
				Label:     "iPXE " + b.Kernel.Redacted(),
				Format:    entry.IPXE,
				Kernel:    b.Kernel.String(),
				Cmdline:   b.Cmdline,
				Source:    redactSource(b.Source),
				TriesLeft: -1,
				Net:       net,
			}
			for _, i := range b.Initrds {
				e.Initrds = append(e.Initrds, i.String())
			}
			cfg.Entries = []entry.Entry{e}
		} else {
			cfg.Warnings = append(cfg.Warnings, entry.Warnf(cfg.Source, "the script ended without booting a kernel"))
		}
		return Found{Config: cfg, Echo: r.Echo}, nil
	case isPXELinux(u):
		cfg, err := f.pxelinux(ctx, l, net)
		return Found{Config: cfg}, err
	}
	e := entry.Entry{ID: u.Redacted(), Label: "kernel " + u.Redacted(), Format: entry.Explicit, Kernel: u.String(),
		Source: entry.Source{File: u.Redacted()}, TriesLeft: -1, Net: net}
	return Found{Config: &entry.Config{Format: entry.Explicit, Source: e.Source, Entries: []entry.Entry{e}}}, nil
}

func (f *Finder) probe(ctx context.Context, u *url.URL) ([]byte, bool, error) {
	return f.Fetch.Probe(ctx, u, ipxe.MaxScript)
}

// redactSource hides a password in a script's URL.
func redactSource(s entry.Source) entry.Source {
	if u, err := url.Parse(s.File); err == nil {
		s.File = u.Redacted()
	}
	return s
}

// isFirmware says u names a program for firmware: iPXE (undionly.kpxe,
// ipxe.efi, *.pxe), GRUB or shim (*.efi), not pxelinux's EFI build.
func isFirmware(u *url.URL) bool {
	b := strings.ToLower(path.Base(u.Path))
	switch path.Ext(b) {
	case ".kpxe", ".kkpxe", ".kkkpxe", ".pxe", ".com":
		return true
	case ".efi":
		return b != "syslinux.efi" && b != "lpxelinux.efi"
	}
	return false
}

func isPXELinux(u *url.URL) bool {
	b := strings.ToLower(path.Base(u.Path))
	return strings.HasSuffix(b, ".0") || b == "syslinux.efi" || b == "lpxelinux.efi"
}

// pxelinux finds and reads the config pxelinux would.
func (f *Finder) pxelinux(ctx context.Context, l lease.Lease, net *entry.Net) (*entry.Config, error) {
	prefix, names, err := l.PXELinuxConfigs(f.UUID)
	if err != nil {
		return nil, err
	}
	// A config is read as from a disk (cfgfile.Read), which says when it
	// is too large.
	fsys := netfs.Root(ctx, f.Fetch, prefix, cfgfile.MaxSize+1)
	dir := strings.Trim(prefix.Path, "/")
	var missing []string
	for _, n := range names {
		name := path.Join(dir, n)
		if strings.Contains(n, "://") {
			// Option 209 may be a URL of its own.
			u, err := url.Parse(n)
			if err != nil {
				return nil, fmt.Errorf("pxelinux config %q: %w", n, err)
			}
			fsys = netfs.Root(ctx, f.Fetch, u, cfgfile.MaxSize+1)
			name = strings.TrimPrefix(u.Path, "/")
		}
		cfg, err := syslinux.ParseIn(fsys, name, dir)
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, n)
			continue
		}
		var pe *fs.PathError
		if err != nil && errors.As(err, &pe) && pe.Op == "fetch" {
			// pxelinux goes on to the next name whatever kept it from
			// this one.
			missing = append(missing, fmt.Sprintf("%s (%v)", n, pe.Err))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pxelinux config %s: %w", fsys.URL(name).Redacted(), err)
		}
		return absolute(fsys, cfg, net), nil
	}
	return nil, fmt.Errorf("pxelinux: none of %s under %s exists", strings.Join(missing, ", "), prefix.Redacted())
}

// absolute turns a config read through fsys into network entries: paths
// become URLs.
func absolute(fsys *netfs.FS, cfg *entry.Config, net *entry.Net) *entry.Config {
	src := func(s entry.Source) entry.Source {
		s.File = fsys.URL(strings.TrimPrefix(s.File, "/")).Redacted()
		return s
	}
	// lpxelinux fetches a KERNEL or INITRD given as a URL from there
	// (ParseIn keeps URLs as they are).
	abs := func(p string) string {
		if strings.Contains(p, "://") {
			return p
		}
		return fsys.URL(strings.TrimPrefix(p, "/")).String()
	}
	cfg.Source = src(cfg.Source)
	for i := range cfg.Warnings {
		cfg.Warnings[i].Source = src(cfg.Warnings[i].Source)
	}
	for i := range cfg.Entries {
		e := &cfg.Entries[i]
		e.Source = src(e.Source)
		e.Kernel = abs(e.Kernel)
		for j, p := range e.Initrds {
			e.Initrds[j] = abs(p)
		}
		e.Label += " (" + cfg.Source.File + ")"
		e.Net = net
		e.Root = ""
	}
	return cfg
}
