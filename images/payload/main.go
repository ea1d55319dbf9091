// Command payload builds warmboot's LinuxBoot payload: one small kernel
// with the warmboot initramfs inside, for a firmware's payload slot, QEMU's
// -kernel, a BMC's kernel slot, or (through the EFI stub) the ESP.
//
// Synopsis:
//
//	payload -initramfs IMAGE.cpio [-o out/warmboot.bzImage] [-efi out/warmboot.efi]
//	        [-source /usr/src/linux-source-6.1.tar.xz] [-config FRAGMENT,...]
//	        [-cache DIR] [-sign-key KEY -sign-cert CERT]
//	payload -prepare [-source …] [-config …] [-cache DIR]
//
// Description:
//
// The kernel is Debian's linux-source-6.1 (the line of the test kernel),
// configured as images/payload/payload.config over "make tinyconfig",
// with the network (net.config) and Ethernet drivers, one fragment per
// vendor and class (nic-*.config); DefaultConfig are those that keep the
// payload under 8 MiB. Everything is built in, no modules. A fragment
// given later overrides an earlier one's setting of the same option. payload fails if a line of the
// fragment did not stick after olddefconfig (a dependency missing), so
// the config in the repository is the config that is built.
//
// The kernel tree is kept outside the work tree, in -cache (default
// $WARMBOOT_CACHE, else $XDG_CACHE_HOME/warmboot, else ~/.cache/warmboot),
// in a directory named by a hash of what decides the build: the source
// tarball's bytes, the fragment's settings (not its comments), the
// compiler's version and this program's recipe. A fresh clone on the
// same machine finds it; a cold build takes minutes (printed), a payload
// whose initramfs changed only relinks (seconds). Builds of the same tree
// wait on one lock; the two trees used last are kept.
//
// -prepare configures and compiles the tree (vmlinux, its initramfs only
// /dev/console) and writes no payload: make test starts it in the
// background when it starts, beside the Debian systems, and make payload
// later waits on the tree's lock and only relinks.
//
// The initramfs (an image built with no modules: make payload runs
// mkimage with empty module sets) is embedded uncompressed with
// CONFIG_INITRAMFS_SOURCE, preceded by a small archive holding
// /dev/console, which the init needs before devtmpfs is mounted and which
// a modular kernel's built-in initramfs provides; the kernel is then
// compressed once, as a whole. -o gets the bzImage, -efi the same bytes
// (the EFI stub makes the bzImage a PE program), signed with sbsign when
// -sign-key and -sign-cert are given. Sizes and build time are printed.
//
// Why our own builder and not a kernel build system (Buildroot, Yocto,
// linuxboot/mainboard): those build toolchains and whole distributions; a
// payload needs one tar, three make invocations and a lock, and a cache
// key a fresh clone shares.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/payload"
	"golang.org/x/sys/unix"
)

// recipe names this program's way of building a tree; change it when a
// change here would build a different kernel from the same inputs.
const recipe = "warmboot-payload-1"

// initramfsName is the file CONFIG_INITRAMFS_SOURCE names, in the tree.
const initramfsName = "warmboot-initramfs.cpio"

// DefaultConfig are the fragments -config merges by default.
// The rest of images/payload/*.config (IPv6, 10-100 GbE NICs) are left
// out so that the payload stays under 8 MiB; make payload's PAYLOAD_NICS
// and PAYLOAD_IPV6 add them.
const DefaultConfig = "images/payload/payload.config,images/payload/net.config," +
	"images/payload/nic-virtio.config,images/payload/nic-intel-1g.config," +
	"images/payload/nic-broadcom-tg3.config,images/payload/nic-realtek.config"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("payload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	source := fs.String("source", "/usr/src/linux-source-6.1.tar.xz", "the kernel source tarball (Debian's linux-source-6.1)")
	config := fs.String("config", DefaultConfig, "the config fragments over tinyconfig, comma-separated, merged in order")
	initramfs := fs.String("initramfs", "", "the warmboot image to embed (uncompressed cpio, built with no modules)")
	out := fs.String("o", "out/warmboot.bzImage", "the payload")
	efi := fs.String("efi", "out/warmboot.efi", "the payload as an EFI program (\"\" for none)")
	cache := fs.String("cache", defaultCache(), "where kernel trees are kept")
	key := fs.String("sign-key", "", "sign the EFI program with this key (sbsign)")
	cert := fs.String("sign-cert", "", "the certificate of -sign-key")
	jobs := fs.Int("j", runtime.NumCPU(), "make's jobs")
	prepare := fs.Bool("prepare", false, "configure and compile the kernel tree only, for a later build to relink (no -initramfs, no payload written)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b := builder{source: *source, config: *config, cache: *cache, jobs: *jobs, stdout: stdout}
	if *prepare {
		if *initramfs != "" || fs.NArg() != 0 {
			fmt.Fprintln(stderr, "usage: payload -prepare [-source TARBALL] [-config FRAGMENT] [-cache DIR]")
			return 2
		}
		if err := b.prepare(ctx); err != nil {
			fmt.Fprintf(stderr, "payload: %v\n", err)
			return 1
		}
		return 0
	}
	if *initramfs == "" || fs.NArg() != 0 || (*key == "") != (*cert == "") {
		fmt.Fprintln(stderr, "usage: payload -initramfs IMAGE.cpio [-o FILE] [-efi FILE] [-source TARBALL] [-config FRAGMENT] [-cache DIR] [-sign-key KEY -sign-cert CERT]")
		return 2
	}
	if err := b.build(ctx, *initramfs, *out); err != nil {
		fmt.Fprintf(stderr, "payload: %v\n", err)
		return 1
	}
	if *efi != "" {
		if err := writeEFI(ctx, *out, *efi, *key, *cert, stdout); err != nil {
			fmt.Fprintf(stderr, "payload: %v\n", err)
			return 1
		}
	}
	return 0
}

func defaultCache() string {
	if d := os.Getenv("WARMBOOT_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "warmboot-cache")
	}
	return filepath.Join(d, "warmboot")
}

type builder struct {
	source, config, cache string
	jobs                  int
	stdout                io.Writer
}

// parseFragment returns a fragment's settings ("CONFIG_X=y" and "# CONFIG_X
// is not set" lines), in order, without its comments.
func parseFragment(data []byte) (lines []string, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#") && !strings.HasSuffix(l, " is not set"):
		case strings.HasPrefix(l, "# CONFIG_") && strings.HasSuffix(l, " is not set"):
			lines = append(lines, l)
		case strings.HasPrefix(l, "CONFIG_") && strings.Contains(l, "="):
			if strings.HasPrefix(l, "CONFIG_INITRAMFS_SOURCE=") {
				return nil, fmt.Errorf("line %d: CONFIG_INITRAMFS_SOURCE is set by the builder (-initramfs)", n)
			}
			lines = append(lines, l)
		default:
			return nil, fmt.Errorf("line %d: %q is neither CONFIG_X=value, \"# CONFIG_X is not set\" nor a comment", n, l)
		}
	}
	return lines, sc.Err()
}

// lastWins keeps, of the settings of one option, the last: a fragment
// given later overrides one given earlier (net-ipv6.config's
// CONFIG_IPV6=y over net.config's "# CONFIG_IPV6 is not set"), as
// merge_config.sh merges them.
func lastWins(lines []string) []string {
	name := func(l string) string {
		if strings.HasPrefix(l, "# ") {
			return strings.TrimSuffix(strings.TrimPrefix(l, "# "), " is not set")
		}
		n, _, _ := strings.Cut(l, "=")
		return n
	}
	last := map[string]int{}
	for i, l := range lines {
		last[name(l)] = i
	}
	var out []string
	for i, l := range lines {
		if last[name(l)] == i {
			out = append(out, l)
		}
	}
	return out
}

// missing are the fragment's lines that the final .config does not hold.
func missing(lines []string, dotConfig []byte) []string {
	have := map[string]bool{}
	for _, l := range strings.Split(string(dotConfig), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	var miss []string
	for _, l := range lines {
		if strings.HasPrefix(l, "# ") {
			name := strings.TrimSuffix(strings.TrimPrefix(l, "# "), " is not set")
			if !have[l] && hasSet(dotConfig, name) {
				miss = append(miss, l)
			}
			continue
		}
		if !have[l] {
			miss = append(miss, l)
		}
	}
	return miss
}

func hasSet(dotConfig []byte, name string) bool {
	return bytes.Contains(dotConfig, []byte("\n"+name+"="))
}

// treeKey is the cache key: what decides the kernel that is built. The
// fragment counts by its settings, so editing a comment keeps the tree.
func (b builder) treeKey(ctx context.Context, settings []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", recipe)
	f, err := os.Open(b.source)
	if err != nil {
		return "", fmt.Errorf("%w: make deps installs Debian's linux-source-6.1 (apt-get install linux-source-6.1)", err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", b.source, err)
	}
	for _, l := range settings {
		fmt.Fprintln(h, l)
	}
	cc, err := exec.CommandContext(ctx, "gcc", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("gcc --version: %w: make deps installs build-essential", err)
	}
	h.Write(cc)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// settings are the fragments' settings, merged.
func (b builder) settings() ([]string, error) {
	var lines []string
	for _, name := range strings.Split(b.config, ",") {
		fragment, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		l, err := parseFragment(fragment)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		lines = append(lines, l...)
	}
	return lastWins(lines), nil
}

// tree locks and returns the kernel tree for the settings, configuring it
// if it is new (cold).
func (b builder) tree(ctx context.Context, lines []string) (tree string, cold bool, unlock func(), err error) {
	key, err := b.treeKey(ctx, lines)
	if err != nil {
		return "", false, nil, err
	}
	if err := os.MkdirAll(b.cache, 0o755); err != nil {
		return "", false, nil, fmt.Errorf("kernel cache: %w (set WARMBOOT_CACHE to a writable directory)", err)
	}
	tree = filepath.Join(b.cache, "payload-"+key)
	unlock, err = lockFile(tree + ".lock")
	if err != nil {
		return "", false, nil, err
	}
	if _, err := os.Stat(filepath.Join(tree, ".config")); err != nil {
		cold = true
		fmt.Fprintf(b.stdout, "payload: configuring a new kernel tree %s (a cold build takes minutes; later builds reuse it)\n", tree)
		if err := b.configure(ctx, tree, lines); err != nil {
			unlock()
			return "", false, nil, err
		}
	}
	return tree, cold, unlock, nil
}

// prepare compiles the tree up to vmlinux, leaving its initramfs alone
// (the console archive configure wrote, or the last payload's): a later
// build relinks.
func (b builder) prepare(ctx context.Context) error {
	lines, err := b.settings()
	if err != nil {
		return err
	}
	start := time.Now()
	tree, _, unlock, err := b.tree(ctx, lines)
	if err != nil {
		return err
	}
	defer unlock()
	log := filepath.Join(tree, "prepare.log")
	os.Remove(log)
	fmt.Fprintf(b.stdout, "payload: compiling the kernel tree (log: %s)\n", log)
	if err := b.make(ctx, tree, log, "vmlinux"); err != nil {
		return err
	}
	prune(b.cache, tree, b.stdout)
	fmt.Fprintf(b.stdout, "payload: kernel tree %s compiled in %s\n", tree, time.Since(start).Round(time.Second))
	return nil
}

func (b builder) build(ctx context.Context, initramfs, out string) error {
	lines, err := b.settings()
	if err != nil {
		return err
	}
	image, err := os.ReadFile(initramfs)
	if err != nil {
		return fmt.Errorf("%w: make payload builds it", err)
	}
	if len(image) < 6 || string(image[:6]) != "070701" {
		return fmt.Errorf("%s is not an uncompressed newc cpio archive (give the .cpio mkimage writes, not the .zst)", initramfs)
	}
	waited := time.Now()
	tree, cold, unlock, err := b.tree(ctx, lines)
	if err != nil {
		return err
	}
	defer unlock()
	// A cold build's time counts its configure; the time another build
	// (make test's payload -prepare) held the tree is said apart.
	start := time.Now()
	if cold {
		start = waited
	} else if start.Sub(waited) > time.Second {
		fmt.Fprintf(b.stdout, "payload: waited %s for the kernel tree (another build held it: make test's payload -prepare)\n", start.Sub(waited).Round(time.Second))
	}
	if err := writeIfChanged(filepath.Join(tree, initramfsName), append(payload.ConsoleArchive(), image...)); err != nil {
		return err
	}
	log := filepath.Join(tree, "build.log")
	os.Remove(log)
	fmt.Fprintf(b.stdout, "payload: building (log: %s)\n", log)
	if err := b.make(ctx, tree, log, "bzImage"); err != nil {
		return err
	}
	took := time.Since(start)
	bz, err := os.ReadFile(filepath.Join(tree, "arch/x86/boot/bzImage"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, bz, 0o644); err != nil {
		return err
	}
	prune(b.cache, tree, b.stdout)
	how := "cached tree"
	if cold {
		how = "cold"
	}
	fmt.Fprintf(b.stdout, "payload: %s %d bytes (%.2f MiB): kernel %s with a %.2f MiB initramfs inside; built in %s (%s: %s)\n",
		out, len(bz), mib(len(bz)), versionOf(tree), mib(len(image)), took.Round(time.Second), how, tree)
	return nil
}

func mib(n int) float64 { return float64(n) / (1 << 20) }

// versionOf is the tree's kernel version, as its Makefile says.
func versionOf(tree string) string {
	data, err := os.ReadFile(filepath.Join(tree, "include/config/kernel.release"))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(data))
}

// configure extracts the source into a fresh directory and configures it,
// then moves it to tree: a tree is there complete or not at all.
func (b builder) configure(ctx context.Context, tree string, lines []string) error {
	tmp := fmt.Sprintf("%s.new-%d", tree, os.Getpid())
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := runLogged(ctx, "", "", "tar", "-xf", b.source, "-C", tmp, "--strip-components=1"); err != nil {
		return fmt.Errorf("extracting %s: %w", b.source, err)
	}
	frag := strings.Join(lines, "\n") + fmt.Sprintf("\nCONFIG_INITRAMFS_SOURCE=%q\n", filepath.Join(tree, initramfsName))
	if err := os.WriteFile(filepath.Join(tmp, "warmboot.config"), []byte(frag), 0o644); err != nil {
		return err
	}
	log := filepath.Join(tmp, "config.log")
	for _, step := range [][]string{
		{"make", "tinyconfig"},
		{"scripts/kconfig/merge_config.sh", "-m", ".config", "warmboot.config"},
		{"make", "olddefconfig"},
	} {
		if err := runLogged(ctx, tmp, log, step[0], step[1:]...); err != nil {
			return fmt.Errorf("%s: %w (see %s)", strings.Join(step, " "), err, log)
		}
	}
	dot, err := os.ReadFile(filepath.Join(tmp, ".config"))
	if err != nil {
		return err
	}
	if miss := missing(lines, dot); len(miss) > 0 {
		return fmt.Errorf("%s: these lines did not stick after olddefconfig (a dependency is missing or the option is gone from this kernel; see its Kconfig):\n  %s", b.config, strings.Join(miss, "\n  "))
	}
	// Written before the tree's name is, so a tree never lacks it.
	if err := os.WriteFile(filepath.Join(tmp, initramfsName), payload.ConsoleArchive(), 0o644); err != nil {
		return err
	}
	os.RemoveAll(tree)
	return os.Rename(tmp, tree)
}

func (b builder) make(ctx context.Context, tree, log string, targets ...string) error {
	// The kernel's version string carries the build's time, user, host
	// and count: fixed, so the same inputs give the same payload.
	args := append([]string{"-C", tree, fmt.Sprintf("-j%d", b.jobs),
		"KBUILD_BUILD_TIMESTAMP=1970-01-01", "KBUILD_BUILD_USER=warmboot", "KBUILD_BUILD_HOST=warmboot", "KBUILD_BUILD_VERSION=1"}, targets...)
	if err := runLogged(ctx, "", log, "make", args...); err != nil {
		return fmt.Errorf("make %s in %s: %w; the last lines of %s:\n%s", strings.Join(targets, " "), tree, err, log, tail(log, 20))
	}
	return nil
}

// runLogged runs a command in dir. With a log file, its output goes
// there as it comes (a cold build is worth watching: tail -f the log);
// without, its last lines go into the error.
func runLogged(ctx context.Context, dir, log string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if log != "" {
		f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(f, "$ %s %s\n", name, strings.Join(args, " "))
		cmd.Stdout, cmd.Stderr = f, f
	}
	err := cmd.Run()
	var ee *exec.Error
	switch {
	case errors.As(err, &ee):
		return fmt.Errorf("%w (make deps installs the kernel build tools)", err)
	case err != nil && log == "":
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(lastLines(buf.String(), 10)))
	}
	return err
}

func tail(file string, n int) string {
	data, _ := os.ReadFile(file)
	return lastLines(string(data), n)
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// writeIfChanged leaves a file with the same bytes alone, so make sees
// nothing new and the cached bzImage stands.
func writeIfChanged(name string, data []byte) error {
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := name + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

func lockFile(name string) (func(), error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kernel cache lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("kernel cache lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}

// keepTrees is how many kernel trees (1.7 GiB each) the cache keeps: the
// one just used and the one used before it (a branch with another
// config).
const keepTrees = 2

// prune removes the trees used least recently beyond keepTrees, skipping
// any a build holds.
func prune(cache, current string, stdout io.Writer) {
	now := time.Now()
	os.Chtimes(current+".lock", now, now)
	locks, _ := filepath.Glob(filepath.Join(cache, "payload-*.lock"))
	sort.Slice(locks, func(i, j int) bool { return mtime(locks[i]).After(mtime(locks[j])) })
	for i, l := range locks {
		tree := strings.TrimSuffix(l, ".lock")
		if i < keepTrees || tree == current {
			continue
		}
		f, err := os.OpenFile(l, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			if os.RemoveAll(tree) == nil {
				os.Remove(l)
				fmt.Fprintf(stdout, "payload: removed the kernel tree used least recently, %s\n", tree)
			}
		}
		f.Close()
	}
}

func mtime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// writeEFI writes the payload as an EFI program: the same bytes, signed
// for Secure Boot when a key is given.
func writeEFI(ctx context.Context, bz, efi, key, cert string, stdout io.Writer) error {
	if key == "" {
		data, err := os.ReadFile(bz)
		if err != nil {
			return err
		}
		if err := os.WriteFile(efi, data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "payload: %s (unsigned: give SIGN_KEY and SIGN_CERT to sign it for Secure Boot)\n", efi)
		return nil
	}
	if err := runLogged(ctx, "", "", "sbsign", "--key", key, "--cert", cert, "--output", efi, bz); err != nil {
		return fmt.Errorf("sbsign %s: %w (make deps installs sbsigntool)", bz, err)
	}
	fmt.Fprintf(stdout, "payload: %s signed with %s\n", efi, cert)
	return nil
}
