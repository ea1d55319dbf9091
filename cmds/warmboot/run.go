package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/warmboot/warmboot/boot/authenticode"
	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/coldpath"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/installed"
	"github.com/warmboot/warmboot/boot/netboot"
	"github.com/warmboot/warmboot/boot/netboot/fetch"
	"github.com/warmboot/warmboot/boot/netboot/lease"
	"github.com/warmboot/warmboot/boot/nextboot"
	"github.com/warmboot/warmboot/boot/restart"
	"github.com/warmboot/warmboot/boot/safefs"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/timeline"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// run runs the subcommands that return: "list", "bless", "booted",
// "efi-entry". Booting is
// main's.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) > 0 && args[0] == "list":
		return list(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "bless":
		return blessCmd(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "booted":
		return bootedCmd(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "efi-entry":
		return efiEntryCmd(args[1:], stdout, stderr)
	}
	fmt.Fprintln(stderr, "usage: warmboot list [-root DIR] [-bootloader DIR | -trust DIR] [-json] | warmboot bless [-root DIR] | warmboot booted [-root DIR] | warmboot efi-entry [-remove] [-esp DIR] [-file \\EFI\\...] [-label TEXT] [-dry-run] (without one, warmboot boots: only as its image's uinit, in the initramfs)")
	return cli.ExitUsage
}

// ListSchema names the JSON form of "warmboot list -json".
const ListSchema = "warmboot.list/v2"

// ListOutput is the stable JSON document "warmboot list -json" prints.
type ListOutput struct {
	Schema string `json:"schema"`
	Root   string `json:"root"`
	// Default is the default entry's index (from 1, as ListEntry.Index).
	Default        *int               `json:"default"`
	TimeoutSeconds *float64           `json:"timeout_seconds"`
	Entries        []ListEntry        `json:"entries"`
	Warnings       []entry.Warning    `json:"warnings"`
	Timeline       *timeline.Timeline `json:"timeline"`
	// Trust is the verification policy and keys list -trust read.
	Trust ListTrust `json:"trust"`
	// State is the boot state the bootloader keeps beside the configs.
	State ListState `json:"state"`
	// Next is the index of the entry the bootloader boots next (a
	// reboot, a reset, warmswap -load): Default as the state changes it
	// (package nextboot); null when there are no entries.
	Next *int `json:"next"`
	// NextWhy is what the state decided, in the bootloader's words
	// (empty when Next is the configs' default and the state changes
	// nothing).
	NextWhy []ListNote `json:"next_why"`
	// Firmware is what a cold boot of this machine starts (package
	// coldpath): listing the running system only (-root /boot or /),
	// else null.
	Firmware *ListFirmware `json:"firmware"`
	// KexecUnsafe is the record of kernels after whose kexec a device
	// did not come back here (package restart): swaps to them go through
	// the firmware. Listing the running system only, else null.
	KexecUnsafe *ListUnsafe `json:"kexec_unsafe"`
}

// ListUnsafe is the kexec-unsafe part of ListOutput.
type ListUnsafe struct {
	File  string `json:"file"`
	Error string `json:"error,omitempty"`
	restart.Unsafe
}

// ListNote is one thing the bootloader will say about its choice.
type ListNote struct {
	Msg     string `json:"msg"`
	Warning bool   `json:"warning"`
}

// ListFirmware is the firmware part of ListOutput.
type ListFirmware struct {
	// Loader is warmboot, grub, systemd-boot or unknown.
	Loader string `json:"loader"`
	// How says how it was found, for people.
	How string `json:"how"`
	// GRUBDir is GRUB's directory on the running system, when GRUB.
	GRUBDir string `json:"grub_dir,omitempty"`
}

func newListFirmware(p coldpath.Path) *ListFirmware {
	l := string(p.Loader)
	if p.Loader == coldpath.Unknown {
		l = "unknown"
	}
	return &ListFirmware{Loader: l, How: p.How, GRUBDir: p.Dir}
}

// ListState is the state part of ListOutput: the file (under the root),
// why it could not be read, and what it holds: last_good, default, next
// (the pending one-shot entry), trial, last_attempt, tries_left,
// last_failure (package state).
type ListState struct {
	File  string `json:"file"`
	Error string `json:"error,omitempty"`
	state.State
}

// readListState reads the state as the bootloader would find it: on this
// machine (host: -root /boot, the default, or /) where warmswap and bless keep
// it (state.HostFile, which prefers a mounted ESP); under another root,
// beside the default entry's config.
func readListState(root string, m choose.Menu, host bool) ListState {
	file := "/" + state.Name
	if len(m.Entries) > 0 {
		file = state.Path(m.Entries[m.Default].Source.File)
	}
	if host {
		root, file = hostRoot, state.HostFile(hostRoot)
	}
	ls := ListState{File: filepath.Join(root, file)}
	s, err := state.Read(os.DirFS(root), file)
	if err != nil {
		ls.Error = err.Error()
	}
	ls.State = s
	return ls
}

// ListTrust is the trust part of ListOutput.
type ListTrust struct {
	Dir    string    `json:"dir"`
	Policy string    `json:"policy"`
	Edits  string    `json:"edits"`
	Keys   []ListKey `json:"keys"`
	// UKI is the rule for unified kernel images, Certificates the
	// certificates their Authenticode signatures are checked against,
	// Denied how many digests the deny lists hold.
	UKI          string   `json:"uki,omitempty"`
	Certificates []string `json:"certificates,omitempty"`
	Denied       int      `json:"denied,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// ListKey is one trusted key.
type ListKey struct {
	Fingerprint string `json:"fingerprint"`
	Comment     string `json:"comment"`
}

func newListTrust(dir string, t trust.Trust, err error) ListTrust {
	lt := ListTrust{Dir: dir, Policy: string(t.Policy), Edits: string(t.Edits), Keys: []ListKey{}}
	if err != nil {
		lt.Error = err.Error()
	}
	for _, k := range t.Keys {
		lt.Keys = append(lt.Keys, ListKey{Fingerprint: k.Fingerprint(), Comment: k.Comment})
	}
	for _, c := range t.Certs {
		lt.Certificates = append(lt.Certificates, authenticode.Subject(c))
	}
	lt.Denied = len(t.Deny)
	if len(t.Certs) > 0 || t.UKI != "" {
		lt.UKI = string(t.UKIs())
	}
	return lt
}

// ListEntry is one entry in ListOutput.
type ListEntry struct {
	// Index counts from 1, as the text form numbers the entries (and as
	// warmsign -entry takes a number).
	Index   int  `json:"index"`
	Default bool `json:"default"`
	// Next marks the entry the bootloader boots next (ListOutput.Next).
	Next bool `json:"next"`
	entry.Entry
	// Missing are the entry's kernel and initrds that are not regular
	// files under the root: the bootloader cannot boot the entry and
	// falls through to the next one.
	Missing []string `json:"missing,omitempty"`
}

// missing returns the files e names that are not there to boot.
func missing(e entry.Entry) []string {
	if e.Net != nil {
		return nil // on a server: fetched when booted
	}
	fsys := safefs.Dir(e.Root)
	defer fsys.Close()
	var out []string
	for _, p := range append([]string{e.Kernel}, e.Initrds...) {
		st, err := fsys.Stat(strings.TrimPrefix(path.Clean(p), "/"))
		if err != nil || !st.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	return out
}

func newListOutput(root string, m choose.Menu, n nextboot.Next, tl *timeline.Timeline) ListOutput {
	out := ListOutput{Schema: ListSchema, Root: root, Entries: []ListEntry{}, Warnings: m.Warnings, Timeline: tl, NextWhy: []ListNote{}}
	if out.Warnings == nil {
		out.Warnings = []entry.Warning{}
	}
	if len(m.Entries) > 0 {
		d, nx := m.Default+1, n.Entry+1
		out.Default, out.Next = &d, &nx
	}
	for _, note := range n.Notes {
		out.NextWhy = append(out.NextWhy, ListNote{Msg: note.Msg, Warning: note.Warning})
	}
	if m.Timeout != nil {
		s := m.Timeout.Seconds()
		out.TimeoutSeconds = &s
	}
	for i, e := range m.Entries {
		if e.Initrds == nil {
			e.Initrds = []string{}
		}
		out.Entries = append(out.Entries, ListEntry{Index: i + 1, Default: i == m.Default, Next: i == n.Entry, Entry: e, Missing: missing(e)})
	}
	return out
}

func list(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("warmboot list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "root of the filesystem holding the boot configs (default: /boot where it is a filesystem of its own, else /)")
	asJSON := fs.Bool("json", false, "print the "+ListSchema+" JSON document")
	trustDir := fs.String("trust", "", "directory holding the trust policy and keys/*.pub, instead of the installed image's (inside the bootloader image: /"+trust.Dir+")")
	blDir := fs.String("bootloader", installed.Dir, "the installed warmboot image whose trust the list reports (as warmswap reads it)")
	netBoot := fs.String("net", "", "also list what this boot file offers (an iPXE script, pxelinux or a kernel, by URL), as a DHCP answer naming it would")
	mac := fs.String("mac", "", "with -net: the MAC address ${net0/mac} and pxelinux's 01-MAC config stand for")
	if err := fs.Parse(args); err != nil {
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "warmboot list: unexpected argument %q\n", fs.Arg(0))
		return cli.ExitUsage
	}
	if *root == "" {
		*root = defaultListRoot()
	}
	if st, err := os.Stat(*root); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "warmboot list: %s is not a directory: give -root the directory holding loader/, grub/ or extlinux/\n", *root)
		return cli.ExitError
	}
	tl := timeline.New()
	end := tl.Begin("parse")
	m := choose.Rank(discover.ScanRoot(*root))
	end()
	if *netBoot != "" {
		nm, err := listNet(*netBoot, *mac, tl)
		if err != nil {
			fmt.Fprintf(stderr, "warmboot list: -net %s: %v\n", *netBoot, err)
			return cli.ExitError
		}
		m = choose.WithNetwork(m, nm, false)
	}
	tr, trustFrom, terr := listTrust(*trustDir, *blDir)
	clean := filepath.Clean(*root)
	host := clean == filepath.Join(hostRoot, "boot") || clean == filepath.Clean(hostRoot)
	if host {
		// systemd's LoaderEntryDefault, as the bootloader applies it.
		var notes []clog.Note
		m, notes = nextboot.LoaderDefault(m, nextboot.HostVars(hostRoot))
		for _, n := range notes {
			if n.Warning {
				fmt.Fprintf(stderr, "warmboot list: %s\n", n.Msg)
			}
		}
	}
	// Listing the running system (the default -root /boot, or /): its
	// state is where warmswap and bless keep it, and its firmware can be
	// told. Any other root is a filesystem looked at from outside (a
	// mounted disk or image): its state is beside its configs, and the
	// firmware that starts it is not this machine's business.
	ls := readListState(*root, m, host)
	next := nextboot.Of(ls.State, m, nil, time.Now())
	var fw *coldpath.Path
	var unsafe *ListUnsafe
	if host {
		u, err := restart.ReadUnsafe(hostRoot)
		unsafe = &ListUnsafe{File: filepath.Join(hostRoot, restart.UnsafeFile), Unsafe: u}
		if err != nil {
			unsafe.Error = err.Error()
		}
		if unsafe.Kernels == nil {
			unsafe.Kernels = []restart.UnsafeKernel{}
		}
		var b *handoff.Booted
		if booted, err := handoff.ReadBooted(hostRoot); err == nil {
			b = &booted
		}
		p := coldpath.Detect(hostRoot, b)
		fw = &p
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		out := newListOutput(*root, m, next, tl)
		out.Trust = newListTrust(trustFrom, tr, terr)
		out.State = ls
		if fw != nil {
			out.Firmware = newListFirmware(*fw)
		}
		out.KexecUnsafe = unsafe
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "warmboot list: %v\n", err)
			return cli.ExitError
		}
	} else {
		printList(stdout, *root, m, next)
		printState(stdout, ls)
		printNext(stdout, m, next)
		if fw != nil {
			fmt.Fprintf(stdout, "firmware: a cold boot (a reset, a power cycle) starts %s\n", fw)
		}
		if unsafe != nil {
			if unsafe.Error != "" {
				fmt.Fprintf(stdout, "kexec-unsafe: %s\n", unsafe.Error)
			}
			for _, k := range unsafe.Kernels {
				fmt.Fprintf(stdout, "kexec-unsafe: %s\n", unsafe.Why(k.Kernel))
			}
		}
		if terr != nil {
			fmt.Fprintf(stdout, "trust: %s: %v\n", trustFrom, terr)
		} else {
			fmt.Fprintf(stdout, "trust: %s (from %s)\n", tr, trustFrom)
		}
	}
	if len(m.Entries) == 0 {
		fmt.Fprintf(stderr, "warmboot list: no boot entries under %s (looked for %s)\n", *root, strings.Join(discover.Looked(), ", "))
		return cli.ExitError
	}
	return cli.ExitOK
}

// listNet reads what the boot file offers, as the bootloader does after
// a DHCP answer naming it (package netboot), over the network from here.
func listNet(bootfile, mac string, tl *timeline.Timeline) (choose.Menu, error) {
	l := lease.Lease{Interface: "net0", Bootfile: bootfile}
	if mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil {
			return choose.Menu{}, fmt.Errorf("-mac: %w", err)
		}
		l.MAC = hw
	}
	defer tl.Begin("fetch")()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := &netboot.Finder{Fetch: &fetch.Client{NotBefore: netboot.Released, UserAgent: "warmboot"},
		Sleep: func(context.Context, time.Duration) error { return nil }}
	if pool, err := x509.SystemCertPool(); err == nil {
		f.Fetch.RootCAs = pool
	}
	found, err := f.Find(ctx, l)
	if err != nil {
		return choose.Menu{}, err
	}
	return choose.Rank([]*entry.Config{found.Config}), nil
}

// defaultListRoot is list's root when -root is not given: /boot where it
// is a filesystem of its own (its configs name kernels as /vmlinuz-…),
// else / (a /boot directory of the root filesystem: GRUB's configs name
// kernels as /boot/vmlinuz-…), as the package's kernel hook decides.
func defaultListRoot() string {
	b, r := filepath.Join(hostRoot, "boot"), filepath.Clean(hostRoot)
	sb, err1 := os.Stat(b)
	sr, err2 := os.Stat(r)
	if err1 == nil && err2 == nil {
		if bs, ok := sb.Sys().(*syscall.Stat_t); ok {
			if rs, ok := sr.Sys().(*syscall.Stat_t); ok && bs.Dev == rs.Dev {
				return r
			}
		}
	}
	return b
}

// hostRoot is the running system's root: where list finds the installed
// image, the state (state.HostFile) and the firmware (a test's root).
var hostRoot = "/"

// listTrust reads the trust the list reports: -trust's directory when
// given; else the installed image's in blDir (on a host, what warmswap and
// the booted bootloader enforce); else, inside the bootloader image, its
// own /etc/warmboot/trust.
func listTrust(dir, blDir string) (trust.Trust, string, error) {
	if dir != "" {
		t, err := trust.Load(os.DirFS(dir), ".")
		return t, dir, err
	}
	t, img, err := installed.Trust(hostRoot, blDir)
	if errors.Is(err, installed.ErrNoImage) {
		own := filepath.Join(hostRoot, trust.Dir)
		if _, serr := os.Stat(own); serr == nil {
			t, err := trust.Load(os.DirFS(own), ".")
			return t, "/" + trust.Dir, err
		}
	}
	if img == "" {
		img = blDir
	}
	return t, img, err
}

// printList prints the entries: the one the bootloader boots next marked
// ">" when the state chose it over the configs' default, marked "*".
func printList(w io.Writer, root string, m choose.Menu, n nextboot.Next) {
	var defMissing []string
	for i, e := range m.Entries {
		mark := " "
		switch {
		case i == n.Entry && n.ByState():
			mark = ">"
		case i == m.Default:
			mark = "*"
		}
		gone := map[string]bool{}
		for _, p := range missing(e) {
			gone[p] = true
		}
		note := func(p string) string {
			if gone[p] {
				return "   MISSING: no such file under " + root
			}
			return ""
		}
		if i == n.Entry && len(gone) > 0 {
			defMissing = missing(e)
		}
		fmt.Fprintf(w, "%s %d) %s\n", mark, i+1, e.Label)
		fmt.Fprintf(w, "     id:      %s (%s)\n", e.ID, e.Format)
		if u := e.UKI; u != nil {
			fmt.Fprintf(w, "     uki:     %s%s\n", e.Kernel, note(e.Kernel))
			prof := ""
			if u.ProfileID != "" || u.Profile > 0 {
				prof = fmt.Sprintf("profile %d %s, ", u.Profile, u.ProfileID)
			}
			fmt.Fprintf(w, "     boots:   %ssections %s\n", prof, strings.Join(u.Sections, " "))
			for _, a := range u.Addons {
				fmt.Fprintf(w, "     add-on:  %s%s\n", a, note(a))
			}
		} else {
			fmt.Fprintf(w, "     kernel:  %s%s\n", e.Kernel, note(e.Kernel))
		}
		for _, ird := range e.Initrds {
			fmt.Fprintf(w, "     initrd:  %s%s\n", ird, note(ird))
		}
		fmt.Fprintf(w, "     cmdline: %s\n", e.Cmdline)
		fmt.Fprintf(w, "     from:    %s\n", e.Source)
	}
	if m.Timeout != nil {
		fmt.Fprintf(w, "timeout: %s\n", *m.Timeout)
	}
	for _, warn := range m.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if defMissing != nil {
		what := "the default entry"
		if n.ByState() {
			what = "the entry the bootloader's state chose"
		}
		fmt.Fprintf(w, "warning: %s %d) %q cannot boot: %s missing under %s; the bootloader will try the next entry (restore the files or fix %s)\n",
			what, n.Entry+1, m.Entries[n.Entry].Label, strings.Join(defMissing, ", "), root, m.Entries[n.Entry].Source)
	}
}

// printNext says which entry boots next, and why.
func printNext(w io.Writer, m choose.Menu, n nextboot.Next) {
	if n.Entry < 0 {
		return
	}
	fmt.Fprintf(w, "boots next: %d) %s, %s\n", n.Entry+1, m.Entries[n.Entry].Label, n.Why(m))
	for _, note := range n.Notes {
		if note.Warning {
			fmt.Fprintf(w, "  warning: %s\n", note.Msg)
		} else {
			fmt.Fprintf(w, "  %s\n", note.Msg)
		}
	}
}

func printState(w io.Writer, ls ListState) {
	s := ls.State
	if ls.Error != "" {
		fmt.Fprintf(w, "state: %s\n", ls.Error)
	}
	ref := func(r *state.Ref) string {
		if r == nil {
			return "none"
		}
		return r.ID
	}
	if s.LastGood != nil || s.Default != nil {
		kept := "none"
		if d := s.Default; d != nil {
			kept = d.ID
			switch {
			case d.Pinned:
				kept += " (pinned)"
			case d.Over != nil:
				kept += fmt.Sprintf(" (until the configs' default is no longer %s)", d.Over.ID)
			}
		}
		fmt.Fprintf(w, "last-known-good: %s; default kept by bless: %s\n", ref(s.LastGood), kept)
	}
	if a := s.Next; a != nil {
		fmt.Fprintf(w, "next boot (once): %s, asked by %s at %s\n", a.Entry.ID, a.By, a.At.UTC().Format(time.RFC3339))
	}
	if a := s.Trial; a != nil {
		fmt.Fprintf(w, "trial: %s, started by %s at %s, not blessed yet (deadline %ds, fallback %s)\n", a.Entry.ID, a.By, a.At.UTC().Format(time.RFC3339), a.DeadlineSeconds, ref(a.Fallback))
	}
	if f := s.LastFailure; f != nil {
		fmt.Fprintf(w, "last failure: %s (started by %s at %s): %s\n", f.Entry.ID, f.By, f.At.UTC().Format(time.RFC3339), f.Why)
	}
	for id, n := range s.TriesLeft {
		fmt.Fprintf(w, "tries left: %s: %d\n", id, n)
	}
}

// durationFlag is an integer number of seconds, negative allowed, with
// "unset" distinguishable from zero.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string { return f.d.String() }
func (f *durationFlag) Set(s string) error {
	var n float64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return fmt.Errorf("%q is not a number of seconds", s)
	}
	f.d, f.set = time.Duration(n*float64(time.Second)), true
	return nil
}

// cmdlineParams returns warmboot.* parameters from a kernel command line.
func cmdlineParams(cmdline string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(cmdline) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.HasPrefix(k, "warmboot.") {
			out[strings.TrimPrefix(k, "warmboot.")] = v
		}
	}
	return out
}
