package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/loader"
	"github.com/warmboot/warmboot/boot/restart"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/swap/swaptest"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/cmds/internal/cli"
	"github.com/warmboot/warmboot/internal/testtool"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestListJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"list", "-json", "-root", "testdata/root", "-trust", "testdata/trust"}, &stdout, &stderr); code != 0 {
		t.Fatalf("list -json = exit %d, stderr %q", code, stderr.String())
	}
	var got map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	tl, _ := got["timeline"].(map[string]any)
	phases, _ := tl["phases"].([]any)
	if len(phases) != 1 || phases[0].(map[string]any)["name"] != "parse" {
		t.Errorf("timeline = %v, want one parse phase", tl)
	}
	got["timeline"] = nil
	norm, _ := json.MarshalIndent(got, "", "  ")
	const golden = "testdata/list.golden.json"
	if *update {
		os.WriteFile(golden, append(norm, '\n'), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.TrimSpace(string(want)), strings.TrimSpace(string(norm))); diff != "" {
		t.Errorf("list -json mismatch (-want +got), rerun with -update if intended:\n%s", diff)
	}
}

func TestListText(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"list", "-root", "testdata/root"}, &stdout, &stderr); code != 0 {
		t.Fatalf("list = exit %d, stderr %q", code, stderr.String())
	}
	for _, want := range []string{
		"  1) Fedora 39\n     id:      fedora (bls)\n     kernel:  /vmlinuz-fedora\n",
		"* 2) Debian 6.1.0-56-amd64\n",
		"     from:    /loader/entries/debian-6.1.0-56-amd64.conf:1\n",
		"     initrd:  /i1\n     initrd:  /i2\n",
		"     kernel:  /vmlinuz-s   MISSING: no such file under testdata/root\n     initrd:  /s.img   MISSING: no such file under testdata/root\n     cmdline: BOOT_IMAGE=../vmlinuz-s initrd=../s.img console=ttyS0\n",
		"timeout: 4s\n",
		`warning: /grub/grub.cfg:7: menuentry "fw" uses "fwsetup", not a Linux kernel; skipped`,
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("list output lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "cannot boot") {
		t.Errorf("list warns about the default, whose files exist:\n%s", stdout.String())
	}
}

// TestListMissingDefault: a default whose kernel is gone is said to be
// unbootable, with the entry the bootloader will fall through to.
func TestListMissingDefault(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "loader/entries"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"loader/entries/a.conf": "title A\nlinux /vmlinuz-a\n",
		"loader/entries/b.conf": "title B\nlinux /vmlinuz-b\n",
		"loader/loader.conf":    "default a\n",
		"vmlinuz-b":             "b",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"list", "-root", root}, &stdout, &stderr)
	want := `warning: the default entry 2) "A" cannot boot: /vmlinuz-a missing under ` + root + `; the bootloader will try the next entry (restore the files or fix /loader/entries/a.conf:1)`
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("list output lacks %q:\n%s", want, stdout.String())
	}
	stdout.Reset()
	run(context.Background(), []string{"list", "-json", "-root", root}, &stdout, &stderr)
	if !strings.Contains(stdout.String(), `"missing": [
        "/vmlinuz-a"
      ]`) {
		t.Errorf("list -json lacks the missing kernel:\n%s", stdout.String())
	}
}

func TestListErrors(t *testing.T) {
	empty := t.TempDir()
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"list", "-root", empty}, cli.ExitError, "no boot entries under " + empty + " (looked for loader/entries"},
		{[]string{"list", "-root", "/nonexistent"}, cli.ExitError, "/nonexistent is not a directory"},
		{[]string{"list", "-bogus"}, cli.ExitUsage, "flag provided but not defined: -bogus"},
		{[]string{"list", "extra"}, cli.ExitUsage, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("run(%q) = %d, %q; want %d, %q", tt.args, code, stderr.String(), tt.code, tt.stderr)
		}
	}
}

func TestCmdlineParams(t *testing.T) {
	got := cmdlineParams("console=ttyS0 warmboot.timeout=3 quiet warmboot.wait=0.5 warmbootx=1")
	want := map[string]string{"timeout": "3", "wait": "0.5"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cmdlineParams (-want +got):\n%s", diff)
	}
	var d durationFlag
	if err := d.Set("-1"); err != nil || d.d >= 0 || !d.set {
		t.Errorf("Set(-1) = %v, %+v", err, d)
	}
	if err := d.Set("soon"); err == nil {
		t.Error("Set(soon) succeeded")
	}
}

// "warmboot bless" on a system a warm swap's trial booted: the entry is
// last-known-good and the default, its counted BLS file gets the name
// systemd-bless-boot gives a good boot, and list shows it all.
func TestBless(t *testing.T) {
	root := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A root filesystem with /boot a directory: the entry's file is
	// /boot/loader/entries on vda1, which is mounted at /.
	write("run/warmboot/booted.json", `{"version":2,"entry":"new","source":{"device":"vda1","file":"/boot/loader/entries/new+2-1.conf","line":1},"by":"warmboot"}`)
	write("proc/self/mountinfo", "22 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw\n")
	write("boot/loader/entries/new+2-1.conf", "title New\nlinux /vmlinuz\n")
	write("boot/loader/entries/old.conf", "title Old\nlinux /vmlinuz\n")
	r, _ := os.OpenRoot(root)
	defer r.Close()
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if err := state.Save(r, state.HostFile(root), state.State{LastGood: &state.Ref{ID: "old"},
		Trial: &state.Attempt{Entry: state.Ref{ID: "new"}, At: at, By: "warmswap", Fallback: &state.Ref{ID: "old"}, DeadlineSeconds: 60}}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"bless", "-root", root}, &stdout, &stderr); code != 0 {
		t.Fatalf("bless = exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		`warmboot: bless: the trial of "new" (started by warmswap at 2026-11-30T12:00:00Z) succeeded`,
		`warmboot: bless: "new" is now the default`,
		`warmboot: bless: "new" is last-known-good`,
		"warmboot: bless: boot counting: /boot/loader/entries/new+2-1.conf is now new.conf, as systemd-bless-boot marks a good boot",
		"warmboot: bless: no watchdog device: nothing to stop",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("bless said:\n%s\nwant %q", stdout.String(), want)
		}
	}
	s, err := state.Read(r.FS(), state.HostFile(root))
	if err != nil || s.Trial != nil || s.LastGood.ID != "new" || s.Default.ID != "new" || s.LastAttempt != nil {
		t.Errorf("state after bless: %+v, %v", s, err)
	}
	if _, err := os.Stat(filepath.Join(root, "boot/loader/entries/new.conf")); err != nil {
		t.Error(err)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"list", "-root", root}, &stdout, &stderr); code != 0 {
		t.Fatalf("list = exit %d: %s", code, stderr.String())
	}
	if want := "last-known-good: new; default kept by bless: new"; !strings.Contains(stdout.String(), want) {
		t.Errorf("list:\n%s\nwant %q", stdout.String(), want)
	}
	// list -json has the state's sources as values, as its entries'.
	stdout.Reset()
	if code := run(context.Background(), []string{"list", "-json", "-root", root}, &stdout, &stderr); code != 0 {
		t.Fatalf("list -json = exit %d: %s", code, stderr.String())
	}
	var lo struct {
		State struct {
			LastGood struct {
				ID     string       `json:"id"`
				Source entry.Source `json:"source"`
			} `json:"last_good"`
		} `json:"state"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &lo); err != nil || lo.State.LastGood.ID != "new" ||
		lo.State.LastGood.Source != (entry.Source{Device: "vda1", File: "/boot/loader/entries/new+2-1.conf", Line: 1}) {
		t.Errorf("list -json state.last_good = %+v, %v; want new from vda1:/boot/loader/entries/new+2-1.conf:1\n%s", lo.State.LastGood, err, stdout.String())
	}

	// An entry on a device the system did not mount: said, and its
	// counter left, not looked for under /boot.
	write("run/warmboot/booted.json", `{"version":2,"entry":"esp","source":{"device":"vda15","file":"/loader/entries/esp+1.conf","line":1},"by":"warmboot"}`)
	write("boot/loader/entries/esp+1.conf", "title ESP\nlinux /vmlinuz\n")
	stdout.Reset()
	if code := run(context.Background(), []string{"bless", "-root", root}, &stdout, &stderr); code != 0 {
		t.Fatalf("bless = exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	if want := "warmboot: bless: warning: boot counting: vda15, which holds /loader/entries/esp+1.conf, is not mounted: its counter is left as it is"; !strings.Contains(stdout.String(), want) {
		t.Errorf("bless said:\n%s\nwant %q", stdout.String(), want)
	}
	if _, err := os.Stat(filepath.Join(root, "boot/loader/entries/esp+1.conf")); err != nil {
		t.Errorf("the counter of an entry on an unmounted device changed: %v", err)
	}

	// Not booted by warmboot: said, nothing written.
	stderr.Reset()
	if code := run(context.Background(), []string{"bless", "-root", t.TempDir()}, &stdout, &stderr); code != cli.ExitError || !strings.Contains(stderr.String(), "not booted by warmboot") {
		t.Errorf("bless elsewhere = exit %d, %q", code, stderr.String())
	}
}

// On a host, list reports the trust of the image installed in
// /boot/warmboot, as warmswap reads it, not the host's /etc/warmboot.
func TestListInstalledTrust(t *testing.T) {
	hostRoot = swaptest.System(t, "warn")
	defer func() { hostRoot = "/" }()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"list", "-root", filepath.Join(hostRoot, "boot")}, &stdout, &stderr); code != 0 {
		t.Fatalf("list = exit %d, stderr %q", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "trust: policy warn,") || !strings.Contains(stdout.String(), "(from /boot/warmboot/initramfs.cpio") {
		t.Errorf("list trust line:\n%s\nwant the installed image's policy (warn) and file", stdout.String())
	}
	// No image installed: an error naming the directory and the fix.
	stdout.Reset()
	run(context.Background(), []string{"list", "-bootloader", "/nonexistent", "-root", filepath.Join(hostRoot, "boot")}, &stdout, &stderr)
	if !strings.Contains(stdout.String(), "trust: /nonexistent: ") || !strings.Contains(stdout.String(), "install one") {
		t.Errorf("list with no installed image:\n%s", stdout.String())
	}
}

// Flags win over the warmboot.* kernel parameters, which fill in what
// the flags left unset; the rest are the defaults.
func TestParseBoot(t *testing.T) {
	var stderr bytes.Buffer
	c, ok := parseBoot([]string{"-deadline", "30", "-dry-run"}, "quiet warmboot.timeout=3 warmboot.deadline=99 warmboot.panic=2 warmboot.wait=x warmboot.rescue=60", &stderr)
	if !ok || c.Timeout == nil || *c.Timeout != 3*time.Second || c.Wait != 5*time.Second || c.Trial.Deadline != 30*time.Second || c.Trial.Panic != 2 || !c.DryRun || c.Rescue != 60*time.Second {
		t.Errorf("parseBoot = %+v, %v", c, ok)
	}
	if !strings.Contains(stderr.String(), `warmboot: ignoring warmboot.wait=x: "x" is not a number of seconds`) {
		t.Errorf("stderr = %q", stderr.String())
	}
	c, _ = parseBoot(nil, "", &stderr)
	if c.Timeout != nil || c.Trial != trial.Defaults || c.Rescue != 300*time.Second {
		t.Errorf("parseBoot with nothing = %+v; want the configs' timeout, trial.Defaults and a 300s rescue wait", c)
	}
	if c, _ = parseBoot([]string{"-rescue", "0"}, "warmboot.rescue=60", &stderr); c.Rescue != 0 {
		t.Errorf("parseBoot(-rescue 0) = %v, want 0 (the flag wins, and waits forever)", c.Rescue)
	}
	if c, _ = parseBoot(nil, "", &stderr); c.Net != loader.NetLast || c.NetWait != loader.DefaultNetWait {
		t.Errorf("parseBoot: net %q, wait %s; want last, %s", c.Net, c.NetWait, loader.DefaultNetWait)
	}
	if c, _ = parseBoot([]string{"-net", "off"}, "warmboot.net=first warmboot.net.wait=12", &stderr); c.Net != loader.NetOff || c.NetWait != 12*time.Second {
		t.Errorf("parseBoot(-net off, warmboot.net=first warmboot.net.wait=12): net %q, wait %s", c.Net, c.NetWait)
	}
	stderr.Reset()
	if c, _ = parseBoot(nil, "warmboot.net=sometimes", &stderr); c.Net != loader.NetLast || !strings.Contains(stderr.String(), `ignoring warmboot.net=sometimes: "sometimes": want first, last or off`) {
		t.Errorf("warmboot.net=sometimes: net %q, stderr %q", c.Net, stderr.String())
	}
}

// warmboot boots only in its initramfs: on a running system's root it
// would mount every disk and kexec without stopping anything.
func TestInitramfsRoot(t *testing.T) {
	for _, tc := range []struct {
		mountinfo, fstype string
		ok                bool
	}{
		{"1 1 0:2 / / rw - rootfs rootfs rw\n", "rootfs", true},
		{"1 1 0:2 / / rw - rootfs rootfs rw\n2 1 0:20 / / rw - tmpfs tmpfs rw\n", "tmpfs", true},
		{"22 1 254:2 / / rw,relatime - ext4 /dev/vda2 rw\n23 22 0:5 / /proc rw - proc proc rw\n", "ext4", false},
		{"22 1 8:2 / / rw - xfs /dev/sda2 rw\n", "xfs", false},
		{"", "unknown", true}, // no mount table: the bootloader boots
	} {
		root := t.TempDir()
		if tc.mountinfo != "" {
			os.MkdirAll(filepath.Join(root, "proc/self"), 0o755)
			os.WriteFile(filepath.Join(root, "proc/self/mountinfo"), []byte(tc.mountinfo), 0o644)
		}
		if fstype, ok := initramfsRoot(root); fstype != tc.fstype || ok != tc.ok {
			t.Errorf("initramfsRoot with %q = %q, %v; want %q, %v", tc.mountinfo, fstype, ok, tc.fstype, tc.ok)
		}
	}
	// A word that is no subcommand is a usage error, never a boot.
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &bytes.Buffer{}, &stderr); code != cli.ExitUsage || !strings.Contains(stderr.String(), "usage: warmboot list") {
		t.Errorf("warmboot help = %d, %q; want usage", code, stderr.String())
	}
}

// On a host, list marks the entry the bootloader boots next, chosen by
// its state (here the one-shot entry warmswap recorded), apart from the
// configs' default, says why in the bootloader's words, and says what the
// firmware starts; under another root it says no firmware.
func TestListNext(t *testing.T) {
	hostRoot = swaptest.System(t, "warn")
	defer func() { hostRoot = "/" }()
	r, err := os.OpenRoot(hostRoot)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	if err := state.Save(r, state.HostFile(hostRoot), state.State{Next: &state.Attempt{Entry: state.Ref{ID: "a"}, At: at, By: "warmswap"}}); err != nil {
		t.Fatal(err)
	}
	boot := filepath.Join(hostRoot, "boot")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"list", "-root", boot}, &stdout, &stderr); code != 0 {
		t.Fatalf("list = exit %d, stderr %q", code, stderr.String())
	}
	for _, want := range []string{
		"* 1) B\n",
		"> 2) A\n",
		`boots next: 2) A, chosen by the bootloader's state over the configs' default "B"` + "\n" +
			`  booting the one-shot next entry "A" (asked by warmswap at 2026-12-04T09:00:00Z)` + "\n",
		"firmware: a cold boot (a reset, a power cycle) starts warmboot (warmboot started this chain of boots without a handoff",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("list output lacks %q:\n%s", want, stdout.String())
		}
	}

	type out struct {
		Default, Next *int
		NextWhy       []ListNote `json:"next_why"`
		Entries       []struct {
			Default, Next bool
		}
		Firmware *ListFirmware
	}
	listJSON := func(root string) out {
		t.Helper()
		stdout.Reset()
		if code := run(context.Background(), []string{"list", "-json", "-root", root}, &stdout, &stderr); code != 0 {
			t.Fatalf("list -json = exit %d, stderr %q", code, stderr.String())
		}
		var o out
		if err := json.Unmarshal(stdout.Bytes(), &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	one, two := 1, 2
	o := listJSON(boot)
	if diff := cmp.Diff(out{Default: &one, Next: &two,
		NextWhy:  []ListNote{{Msg: `booting the one-shot next entry "A" (asked by warmswap at 2026-12-04T09:00:00Z)`}},
		Entries:  []struct{ Default, Next bool }{{Default: true}, {Next: true}},
		Firmware: &ListFirmware{Loader: "warmboot", How: "warmboot started this chain of boots without a handoff: the firmware starts it, or a loader the firmware starts"},
	}, o); diff != "" {
		t.Errorf("list -json (-want +got):\n%s", diff)
	}
	// The running system's root: the same.
	if o := listJSON(hostRoot); o.Next == nil || *o.Next != 2 || o.Firmware == nil || o.Firmware.Loader != "warmboot" {
		t.Errorf("list -json -root %s: next %v, firmware %+v; want 2 and warmboot", hostRoot, o.Next, o.Firmware)
	}
	// A filesystem looked at from outside: its own state (beside its
	// configs), no firmware.
	other := t.TempDir()
	if err := os.CopyFS(other, os.DirFS(boot)); err != nil {
		t.Fatal(err)
	}
	if o := listJSON(other); o.Next == nil || *o.Next != 2 || o.Firmware != nil {
		t.Errorf("list -json -root %s (a copy of /boot, its state in warmboot/state): next %v, firmware %+v; want 2 and none", other, o.Next, o.Firmware)
	}
	if err := os.Remove(filepath.Join(other, state.Name)); err != nil {
		t.Fatal(err)
	}
	if o := listJSON(other); o.Next == nil || *o.Next != 1 || len(o.NextWhy) != 0 {
		t.Errorf("list -json -root %s without a state: next %v, why %+v; want the configs' default 1, no why", other, o.Next, o.NextWhy)
	}
}

// list -net lists what a boot file offers after the disks' entries, in
// text and JSON, as the bootloader would.
func TestListNet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/boot.ipxe":
			io.WriteString(w, "#!ipxe\nkernel vmlinuz-${net0/mac:hexhyp} console=ttyS0\nboot\n")
		case "/vmlinuz-52-54-00-12-34-56":
			w.Write(testtool.BzImage(4096))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "loader/entries"), 0o755)
	os.WriteFile(filepath.Join(root, "loader/entries/a.conf"), []byte("title A\nlinux /vmlinuz\n"), 0o644)
	os.WriteFile(filepath.Join(root, "vmlinuz"), testtool.BzImage(4096), 0o644)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"list", "-root", root, "-trust", t.TempDir(), "-net", srv.URL + "/boot.ipxe", "-mac", "52:54:00:12:34:56", "-json"}, &out, &errb); code != 0 {
		t.Fatalf("list -net = %d: %s", code, errb.String())
	}
	var doc struct {
		Entries []struct {
			Label, Kernel string
			Net           *struct {
				BootFile string `json:"boot_file"`
			} `json:"net"`
			Missing []string
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Entries) != 2 || doc.Entries[1].Kernel != srv.URL+"/vmlinuz-52-54-00-12-34-56" || doc.Entries[1].Net == nil ||
		doc.Entries[1].Net.BootFile != srv.URL+"/boot.ipxe" || len(doc.Entries[1].Missing) != 0 {
		t.Errorf("list -net -json: %s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"list", "-root", root, "-trust", t.TempDir(), "-net", srv.URL + "/nope.ipxe"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "/nope.ipxe: HTTP 404 Not Found") {
		t.Errorf("list -net of a missing file = %d: %s", code, errb.String())
	}
}

// On a host, list shows the kernels recorded kexec-unsafe (text and
// JSON), and an empty record as an empty list; under another root, null.
func TestListKexecUnsafe(t *testing.T) {
	hostRoot = swaptest.System(t, "warn")
	defer func() { hostRoot = "/" }()
	var u restart.Unsafe
	k := strings.Repeat("ab", 32)
	u.Add(restart.UnsafeKernel{Kernel: k, Release: "6.12.57+deb13-amd64", Entry: "a", Devices: []string{"net/enp0s3: link enp0s3 (52:54:00:12:34:56) is gone; it had carrier before"}, At: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)})
	if err := restart.WriteUnsafe(hostRoot, u); err != nil {
		t.Fatal(err)
	}
	boot := filepath.Join(hostRoot, "boot")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"list", "-root", boot}, &stdout, &stderr); code != 0 {
		t.Fatalf("list = exit %d, stderr %q", code, stderr.String())
	}
	if want := "kexec-unsafe: kernel 6.12.57+deb13-amd64 (sha256 abababababab…) lost net/enp0s3"; !strings.Contains(stdout.String(), want) {
		t.Errorf("list output lacks %q:\n%s", want, stdout.String())
	}
	listJSON := func(root string) *ListUnsafe {
		t.Helper()
		stdout.Reset()
		if code := run(context.Background(), []string{"list", "-json", "-root", root}, &stdout, &stderr); code != 0 {
			t.Fatalf("list -json = exit %d, stderr %q", code, stderr.String())
		}
		var o struct {
			KexecUnsafe *ListUnsafe `json:"kexec_unsafe"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &o); err != nil {
			t.Fatal(err)
		}
		return o.KexecUnsafe
	}
	if got := listJSON(boot); got == nil || len(got.Kernels) != 1 || got.Kernels[0].Kernel != k || got.Kernels[0].Release != "6.12.57+deb13-amd64" || got.File != filepath.Join(hostRoot, restart.UnsafeFile) {
		t.Errorf("kexec_unsafe = %+v", got)
	}
	restart.ClearUnsafe(hostRoot)
	if got := listJSON(boot); got == nil || got.Kernels == nil || len(got.Kernels) != 0 {
		t.Errorf("kexec_unsafe with nothing recorded = %+v; want an empty list", got)
	}
	other := t.TempDir()
	os.CopyFS(other, os.DirFS(boot))
	if got := listJSON(other); got != nil {
		t.Errorf("kexec_unsafe under another root = %+v; want null", got)
	}
}
