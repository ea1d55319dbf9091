package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/installed"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/prepare"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/sumcache"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/boot/verify"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

const usage = `usage:
  warmsign keygen -o NAME [-comment TEXT]
  warmsign sign -key NAME.sec -root DIR (-entry ID | -all | -kernel P [-initrd P]... -cmdline C) [-o NAME] [-net]
  warmsign manifest -root DIR (-entry ID | -all | -kernel P [-initrd P]... -cmdline C) [-o NAME] [-net]
  warmsign verify -keys A.pub[,B.pub] -root DIR [-entry ID]
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.ExitUsage
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "keygen":
		err = keygen(args, stdout, stderr)
	case "sign", "manifest":
		err = sign(cmd, args, stdout, stderr)
	case "verify":
		err = verifyCmd(args, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "warmsign: unknown command %q\n%s", cmd, usage)
		return cli.ExitUsage
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "warmsign %s: %v\n", cmd, err)
		return cli.ExitUsage
	case err != nil:
		fmt.Fprintf(stderr, "warmsign %s: %v\n", cmd, err)
		return cli.ExitError
	}
	return cli.ExitOK
}

type usageError struct{ error }

// sumsFile is the running system's digest cache (package sumcache): sign
// and manifest remember the files they hash, verify reuses them, and so
// does warmswap's check before a swap. Tests point it elsewhere.
var sumsFile = sumcache.Default

func parse(flags *flag.FlagSet, args []string) error {
	if err := flags.Parse(args); err != nil {
		return usageError{err}
	}
	if flags.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", flags.Arg(0))}
	}
	return nil
}

func keygen(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("warmsign keygen", flag.ContinueOnError)
	flags.SetOutput(stderr)
	out := flags.String("o", "", "write NAME.pub and NAME.sec")
	comment := flags.String("comment", "", "comment stored in the public key")
	if err := parse(flags, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{errors.New("-o NAME is required")}
	}
	pub, priv, err := trust.Generate()
	if err != nil {
		return err
	}
	if *comment == "" {
		*comment = filepath.Base(*out)
	}
	// O_EXCL: never overwrite a key.
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{*out + ".sec", trust.MarshalSecret(priv), 0o600}, {*out + ".pub", trust.MarshalPublic(pub, *comment), 0o644}} {
		fh, err := os.OpenFile(f.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return fmt.Errorf("%w (warmsign never overwrites a key)", err)
		}
		_, err = fh.Write(f.data)
		if err2 := fh.Close(); err == nil {
			err = err2
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	fmt.Fprintf(stdout, "wrote %s.sec (secret: keep it safe) and %s.pub\nfingerprint %s\n", *out, *out, trust.Fingerprint(pub))
	return nil
}

// selection is the entry-choosing flags sign, manifest and verify share.
type selection struct {
	root, entry, kernel, cmdline, name string
	all                                bool
	initrds                            cli.Strings
	// warn receives what the configs' parsers stepped over (an image
	// that is not a valid UKI, a line that does not parse); nil drops.
	warn io.Writer
}

func (s *selection) register(flags *flag.FlagSet, explicit bool) {
	flags.StringVar(&s.root, "root", "", "root of the filesystem holding the boot configs (as the bootloader mounts it)")
	flags.StringVar(&s.entry, "entry", "", "entry id, label or number (as warmboot list shows)")
	flags.BoolVar(&s.all, "all", false, "every entry")
	if explicit {
		flags.StringVar(&s.kernel, "kernel", "", "explicit kernel path, relative to -root")
		flags.Var(&s.initrds, "initrd", "explicit initrd path, relative to -root (repeatable, in order)")
		flags.StringVar(&s.cmdline, "cmdline", "", "explicit command line")
		flags.StringVar(&s.name, "o", "", "manifest name (default: from the entry id)")
	}
}

// named is an entry with the manifest name it gets.
type named struct {
	entry.Entry
	name string
}

func (s *selection) entries() ([]named, error) {
	if s.root == "" {
		return nil, usageError{errors.New("-root DIR is required")}
	}
	if st, err := os.Stat(s.root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("-root %s is not a directory", s.root)
	}
	if s.kernel != "" {
		if s.entry != "" || s.all {
			return nil, usageError{errors.New("-kernel excludes -entry and -all")}
		}
		var initrds []string
		for _, p := range s.initrds {
			initrds = append(initrds, "/"+strings.TrimPrefix(p, "/"))
		}
		kernel := "/" + strings.TrimPrefix(s.kernel, "/")
		e := entry.NewExplicit("explicit", "kernel "+kernel, s.root, entry.Source{File: "(command line)"}, kernel, initrds, s.cmdline)
		// A unified kernel image signs its own command line unless
		// -cmdline names another.
		e, err := bls.Explicit(e, s.cmdline != "")
		if err != nil {
			return nil, err
		}
		name := s.name
		if name == "" {
			name = sanitize(filepath.Base(e.Kernel))
		}
		return []named{{e, name}}, nil
	}
	m := choose.Rank(discover.ScanRoot(s.root))
	if s.warn != nil {
		for _, w := range m.Warnings {
			fmt.Fprintf(s.warn, "warning: %s\n", w)
		}
	}
	if len(m.Entries) == 0 {
		return nil, fmt.Errorf("no boot entries under %s (looked for %s)", s.root, strings.Join(discover.Looked(), ", "))
	}
	var out []named
	seen := map[string]int{}
	add := func(e entry.Entry) {
		name := sanitize(string(e.Format) + "-" + e.ID)
		if s.name != "" {
			name = s.name
		}
		if seen[name]++; seen[name] > 1 {
			name += "-" + strconv.Itoa(seen[name])
		}
		out = append(out, named{e, name})
	}
	switch {
	case s.all:
		for _, e := range m.Entries {
			add(e)
		}
	case s.entry == "":
		return nil, usageError{errors.New("choose entries: -entry ID, -all, or -kernel")}
	default:
		i, err := m.Select(s.entry)
		if err != nil {
			return nil, fmt.Errorf("under %s: %w", s.root, err)
		}
		add(m.Entries[i])
	}
	return out, nil
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func sanitize(s string) string {
	return strings.Trim(unsafe.ReplaceAllString(s, "_"), "_.")
}

func sign(cmd string, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("warmsign "+cmd, flag.ContinueOnError)
	flags.SetOutput(stderr)
	var sel selection
	sel.register(flags, true)
	keyFile := ""
	if cmd == "sign" {
		flags.StringVar(&keyFile, "key", "", "secret key from warmsign keygen")
	}
	net := flags.Bool("net", false, "a network entry: -root is the directory the server serves, and the manifest goes beside the kernel (KERNEL.manifest), where the bootloader fetches it")
	if err := parse(flags, args); err != nil {
		return err
	}
	if *net && sel.kernel == "" {
		return usageError{errors.New("-net signs an explicit entry: give -kernel (and -initrd, -cmdline) as the server's URLs' paths")}
	}
	var priv ed25519.PrivateKey
	if cmd == "sign" {
		if keyFile == "" {
			return usageError{errors.New("-key NAME.sec is required")}
		}
		data, err := readSmall(keyFile)
		if err != nil {
			return err
		}
		if priv, err = trust.ParseSecret(data); err != nil {
			return fmt.Errorf("%s: %w", keyFile, err)
		}
	}
	sel.warn = stderr
	es, err := sel.entries()
	if err != nil {
		return err
	}
	dir := manifestDir(sel.root)
	if !*net {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	sums := sumcache.Open(sumsFile)
	defer sums.Save()
	for _, e := range es {
		// The checks and limits staging applies (kexec.Digests): what
		// the bootloader would refuse is not signed.
		d, err := prepare.Digests(e.Entry, sums)
		if err != nil {
			return fmt.Errorf("entry %q: %w", e.Label, err)
		}
		m := verify.ManifestFor(e.Entry, e.Cmdline, d)
		data := m.Marshal()
		if priv != nil {
			data = m.Sign(priv)
		}
		p := filepath.Join(dir, e.name+".manifest")
		if *net {
			if e.UKI != nil {
				return fmt.Errorf("%s is a unified kernel image: network entries boot kernels (bzImage) only", e.Kernel)
			}
			// verify.NetManifest: beside the kernel, by its URL's path.
			p = filepath.Join(sel.root, filepath.FromSlash(e.Kernel)+".manifest")
		}
		if old, err := os.ReadFile(p); err == nil && sameManifest(old, data, priv == nil) {
			// The same statement: its signature (a line in it, or a
			// signify .sig beside it) still holds.
			fmt.Fprintf(stdout, "%s: %q (%s), unchanged\n", p, e.Label, e.Kernel)
			continue
		}
		if err := writeAtomic(p, data); err != nil {
			return err
		}
		// A signify signature of an earlier manifest would now fail.
		if err := os.Remove(p + ".sig"); err == nil {
			fmt.Fprintf(stdout, "removed stale %s.sig\n", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		what := "unsigned: sign with signify-openbsd -S -s KEY.sec -m " + p
		if priv != nil {
			what = "signed by " + trust.Fingerprint(priv.Public().(ed25519.PublicKey))
		}
		fmt.Fprintf(stdout, "%s: %q (%s), %s\n", p, e.Label, e.Kernel, what)
	}
	return nil
}

// sameManifest says whether the manifest file old already says what new
// does: the same bytes, or, when writing unsigned manifests (unsigned),
// the same statement signed (a signature line warmsign sign added). The
// kernel hooks write every entry's manifest after each upgrade; a
// signature on an unchanged one must survive that.
func sameManifest(old, new []byte, unsigned bool) bool {
	if bytes.Equal(old, new) {
		return true
	}
	if !unsigned {
		return false
	}
	_, sig, body, err := manifest.Parse(old)
	return err == nil && sig != nil && bytes.Equal(body, new)
}

// manifestDir is where manifests for the configs under root go, among
// the verify.Dirs the bootloader reads: root/boot/warmboot when /boot is a
// directory of that filesystem (Debian's one root partition), else
// root/warmboot (a separate /boot or an ESP).
func manifestDir(root string) string {
	if st, err := os.Stat(filepath.Join(root, "boot")); err == nil && st.IsDir() {
		return filepath.Join(root, "boot", "warmboot")
	}
	return filepath.Join(root, "warmboot")
}

// writeAtomic replaces p with data, or leaves p as it was (state.Write:
// synced, renamed, synced where it now is, on FAT too), readable by all.
func writeAtomic(p string, data []byte) error {
	if err := state.Write(state.OS{}, p, data); err != nil {
		return err
	}
	return os.Chmod(p, 0o644)
}

func verifyCmd(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("warmsign verify", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var sel selection
	sel.register(flags, false)
	keys := flags.String("keys", "", "comma-separated files to trust: public keys (.pub), certificates for UKIs' Authenticode (.crt, .pem), deny lists (.deny)")
	bl := flags.String("bootloader", "", "check with the keys of the warmboot image installed in this directory (/boot/warmboot), as it will")
	if err := parse(flags, args); err != nil {
		return err
	}
	if (*keys == "") == (*bl == "") {
		return usageError{errors.New("one of -keys A.pub[,B.pub] and -bootloader DIR is required")}
	}
	t := trust.Trust{Policy: trust.Enforce, Edits: trust.EditsRefuse}
	if *bl != "" {
		it, img, err := installed.Trust("/", *bl)
		if err != nil {
			return err
		}
		if len(it.Keys) == 0 && len(it.Certs) == 0 {
			return fmt.Errorf("%s trusts no keys (policy %s): it boots unsigned entries; nothing to verify", img, it.Policy)
		}
		fmt.Fprintf(stdout, "keys of %s (policy %s)\n", img, it.Policy)
		t.Keys, t.Certs, t.Deny, t.UKI = it.Keys, it.Certs, it.Deny, it.UKI
	}
	for _, k := range strings.Split(*keys, ",") {
		if k == "" {
			continue
		}
		data, err := readSmall(k)
		if err != nil {
			return err
		}
		if err := t.Add(k, data); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	if sel.entry == "" {
		sel.all = true
	}
	sel.warn = stderr
	es, err := sel.entries()
	if err != nil {
		return err
	}
	// The bootloader's own checks and policy, enforce with these keys, on
	// the files as they are (digests remembered since they last changed
	// are not taken again).
	pipe := prepare.Pipeline{Trust: t}
	sums := sumcache.Open(sumsFile)
	defer sums.Save()
	failed := 0
	for _, e := range es {
		v, err := pipe.Verify(e.Entry, e.Cmdline, false, sums)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "REFUSED %s: %v\n", e.Label, err)
			continue
		}
		for _, n := range v.Notes() {
			fmt.Fprintf(stdout, "ok      %s: %s\n", e.Label, n.Msg)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d entries would be refused", failed, len(es))
	}
	return nil
}

// readSmall reads a key file, refusing one over 64 KiB (a key is a line).
func readSmall(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
	if err == nil && len(data) > 64<<10 {
		err = fmt.Errorf("%s is larger than 64 KiB: not a key file", name)
	}
	return data, err
}
