package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/machine"
	"github.com/warmboot/warmboot/boot/machine/machinetest"
	"github.com/warmboot/warmboot/boot/shutdown/shutdowntest"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/swap"
	"github.com/warmboot/warmboot/boot/swap/swaptest"
	"github.com/warmboot/warmboot/boot/watchdog"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// swapTest is warmswap on a fake machine: the running system under a
// temporary root, a recording machine and loader, a fake shutdown.
type swapTest struct {
	*swapper
	rec            *machinetest.Recorder
	loads          *machinetest.Loads
	sys            *shutdowntest.Fake
	stdout, stderr *bytes.Buffer
}

func fakeSwapper(t *testing.T, root string) (*swapper, *bytes.Buffer, *bytes.Buffer) {
	st := newSwapTest(t, root)
	return st.swapper, st.stdout, st.stderr
}

func newSwapTest(t *testing.T, root string) *swapTest {
	t.Helper()
	st := &swapTest{rec: &machinetest.Recorder{}, sys: shutdowntest.New(), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	st.loads = &machinetest.Loads{Recorder: st.rec}
	st.swapper = &swapper{stdout: st.stdout, stderr: st.stderr, log: clog.New(st.stdout, "warmswap"),
		env: swap.Env{Root: root, Now: func() time.Time { return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) },
			Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 32)), Hostname: "h", Release: "6.1.0-56-amd64"},
		loads: st.loads, machine: st.rec, sys: st.sys, detach: func() {},
		// Never the machine's: a test that reaches it fails.
		systemctl: func(args []string) error { return fmt.Errorf("test: systemctl %v not faked", args) }}
	return st
}

// loaded are the loads recorded, without the command lines.
func (st *swapTest) calls() []string {
	var out []string
	for _, c := range st.rec.Calls {
		out = append(out, strings.Fields(c)[0])
	}
	return out
}

func (st *swapTest) said(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(st.stdout.String()+st.stderr.String(), l) {
			t.Errorf("output lacks %q:\n%s%s", l, st.stdout, st.stderr)
		}
	}
}

func TestRunThroughBootloader(t *testing.T) {
	st := newSwapTest(t, swaptest.System(t, ""))
	a := st.run([]string{"-entry", "a"})
	if want := (machine.Action{Kind: machine.Kexec, RebootOnFailure: true}); a != want {
		t.Fatalf("run = %v, want %v\n%s%s", a, want, st.stdout, st.stderr)
	}
	if diff := cmp.Diff([]string{"kexec_file_load"}, st.calls()); diff != "" {
		t.Errorf("machine calls (-want +got):\n%s", diff)
	}
	if !strings.Contains(st.rec.Calls[0], "warmboot.wait=3 console=tty0 console=ttyS0,115200") {
		t.Errorf("loaded %q, want the bootloader's command line and the running consoles", st.rec.Calls[0])
	}
	st.said(t,
		"warmswap: check ok: verification: verified: signed by ed25519:",
		`warmswap: plan: warmboot boots entry "a" ("A")`,
		"warmswap: check ok: the kernel accepted the image (kexec_file_load)",
		`warmswap: plan: trial: "a" must run "warmboot bless" (or "warmswap -commit") within 5m0s of its kexec`,
		`warmswap: recorded in /boot/warmboot/state: "a" boots next, once`,
		"warmswap: stopping: every process gets SIGTERM",
		"warmswap: unmounted ")
	if s := st.state(t); s.Next == nil || s.Next.Entry.ID != "a" || s.Next.By != "warmswap" {
		t.Errorf("state after the swap: %+v", s)
	}
	if len(st.sys.Signals) == 0 || !strings.Contains(strings.Join(st.sys.Log, " "), "sync") {
		t.Errorf("shutdown: signals %v, log %v; want processes stopped and filesystems synced", st.sys.Signals, st.sys.Log)
	}
}

func TestRunSystemd(t *testing.T) {
	st := newSwapTest(t, swaptest.System(t, ""))
	st.systemd = true
	if a := st.run([]string{"-direct", "-entry", "a"}); a != (machine.Action{Kind: machine.Systemctl, Verb: "kexec"}) {
		t.Fatalf("run = %v, want systemctl kexec\n%s%s", a, st.stdout, st.stderr)
	}
	if len(st.sys.Signals) > 0 {
		t.Errorf("signalled %v; systemd stops the services", st.sys.Signals)
	}
	st.said(t, `warmswap: plan: kexec "A" directly`, "handing over to systemctl kexec")
}

// A target the bootloader would refuse stops the swap before anything is
// loaded or stopped.
func TestRunRefused(t *testing.T) {
	st := newSwapTest(t, swaptest.System(t, ""))
	if a := st.run([]string{"-entry", "b"}); a != machine.ExitWith(cli.ExitError) {
		t.Fatalf("run = %v, want exit 1", a)
	}
	st.said(t, `warmswap: refused: verification: "B" would be refused by the bootloader (policy enforce)`, "warmswap: nothing was stopped")
	if len(st.rec.Calls) > 0 || len(st.sys.Signals) > 0 {
		t.Errorf("machine calls %v, signals %v; want none", st.rec.Calls, st.sys.Signals)
	}
}

func TestRunDryRun(t *testing.T) {
	st := newSwapTest(t, swaptest.System(t, ""))
	if a := st.run([]string{"-dry-run", "-entry", "a"}); a != machine.ExitWith(cli.ExitOK) {
		t.Fatalf("run = %v, want exit 0\n%s%s", a, st.stdout, st.stderr)
	}
	if diff := cmp.Diff([]string{"kexec_file_load", "unload"}, st.calls()); diff != "" {
		t.Errorf("machine calls (-want +got):\n%s", diff)
	}
	if st.rec.Loaded() || len(st.sys.Signals) > 0 {
		t.Error("a dry run left an image loaded or stopped processes")
	}
	// The plan names the deadline, the fallback and the missing watchdog;
	// nothing is recorded.
	st.said(t, `warmswap: plan: trial: "a" must run "warmboot bless"`, "warmswap: warning: no watchdog on this machine (/dev/watchdog): a panic resets it (panic=10), a hang waits for a manual reset")
	if _, err := os.Stat(filepath.Join(st.env.Root, state.HostFile(st.env.Root))); err == nil {
		t.Error("a dry run wrote the boot state")
	}
}

func (st *swapTest) state(t *testing.T) state.State {
	t.Helper()
	s, err := state.Read(os.DirFS(st.env.Root), state.HostFile(st.env.Root))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// -commit on the system a swap tried: last-known-good and the default.
func TestRunCommit(t *testing.T) {
	root := swaptest.System(t, "")
	os.MkdirAll(filepath.Join(root, "run/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "run/warmboot/booted.json"), []byte(`{"version":1,"entry":"a","by":"warmboot"}`), 0o644)
	st := newSwapTest(t, root)
	r, _ := os.OpenRoot(root)
	defer r.Close()
	state.Save(r, state.HostFile(root), state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "a"}, By: "warmswap"}})
	if a := st.run([]string{"-commit"}); a != machine.ExitWith(cli.ExitOK) {
		t.Fatalf("run -commit = %v\n%s%s", a, st.stdout, st.stderr)
	}
	st.said(t, `warmswap: commit: "a" is now the default`, `warmswap: commit: "a" is last-known-good`)
	if s := st.state(t); s.LastGood.ID != "a" || s.Default.ID != "a" || s.Trial != nil {
		t.Errorf("state after -commit: %+v", s)
	}
	if _, ok := parse([]string{"-commit", "-entry", "a"}, &strings.Builder{}); ok {
		t.Error("-commit -entry accepted")
	}
}

// The kexec_load fallback is said, on warmswap's one voice, as README
// shows it.
func TestRunFallback(t *testing.T) {
	st := newSwapTest(t, swaptest.System(t, ""))
	st.loads.FileLoadErr = func(string) error { return syscall.ENOEXEC }
	st.run([]string{"-dry-run", "-entry", "a"})
	if diff := cmp.Diff([]string{"kexec_file_load", "kexec_load", "unload"}, st.calls()); diff != "" {
		t.Errorf("machine calls (-want +got):\n%s", diff)
	}
	st.said(t, `warmswap: warning: kexec_file_load refused the kernel; falling back to kexec_load kernel=/boot/warmboot/vmlinuz err="exec format error"`,
		"warmswap: check ok: the kernel accepted the image (kexec_load)")
}

// Out of memory with every process still running: load again once they
// are stopped (as Talos does), and reboot through the firmware if that
// fails too.
func TestRunLateLoad(t *testing.T) {
	for _, tt := range []struct {
		name  string
		again error
		want  machine.Action
	}{
		{"loads once stopped", nil, machine.Action{Kind: machine.Kexec, RebootOnFailure: true}},
		{"still fails", syscall.ENOMEM, machine.Action{Kind: machine.Reboot}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := newSwapTest(t, swaptest.System(t, ""))
			n := 0
			st.loads.FileLoadErr = func(string) error {
				if n++; n == 1 {
					return syscall.ENOMEM
				}
				return tt.again
			}
			if a := st.run([]string{"-entry", "a"}); a != tt.want {
				t.Fatalf("run = %v, want %v\n%s%s", a, tt.want, st.stdout, st.stderr)
			}
			st.said(t, "not enough memory to load the image now")
		})
	}
}

func TestRunNeverKexec(t *testing.T) {
	root := swaptest.System(t, "")
	os.MkdirAll(filepath.Join(root, "etc/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/warmboot/never-kexec"), []byte("the NIC hangs after kexec\n"), 0o644)
	st := newSwapTest(t, root)
	if a := st.run([]string{"-entry", "a"}); a != (machine.Action{Kind: machine.Reboot}) {
		t.Fatalf("run = %v, want a firmware reboot\n%s%s", a, st.stdout, st.stderr)
	}
	if len(st.rec.Calls) > 0 {
		t.Errorf("machine calls %v; want nothing loaded", st.rec.Calls)
	}
	st.said(t, "(the NIC hangs after kexec): rebooting through the firmware instead")
	// The firmware reboot boots the requested entry: the bootloader's
	// one-shot entry.
	if s := st.state(t); s.Next == nil || s.Next.Entry.ID != "a" {
		t.Errorf("state before a never-kexec reboot: %+v", s)
	}
}

// do is main's last step: a kexec that fails once everything is stopped
// goes through the firmware.
func TestDo(t *testing.T) {
	for _, tt := range []struct {
		a     machine.Action
		calls []string
		code  int
	}{
		{machine.ExitWith(3), nil, 3},
		{machine.Action{Kind: machine.Kexec, RebootOnFailure: true}, []string{"kexec", "reboot"}, cli.ExitError},
		{machine.Action{Kind: machine.Kexec}, []string{"kexec"}, cli.ExitError},
		{machine.Action{Kind: machine.Reboot}, []string{"reboot"}, cli.ExitError},
	} {
		st := newSwapTest(t, t.TempDir())
		st.rec.KexecErr, st.rec.RebootErr = errors.New("no"), errors.New("no")
		if code := do(st.swapper, tt.a); code != tt.code || !cmp.Equal(st.rec.Calls, tt.calls) {
			t.Errorf("do(%v) = %d after %q, want %d after %q", tt.a, code, st.rec.Calls, tt.code, tt.calls)
		}
	}
}

// -load arms the next reboot and says which way it goes; -unload disarms
// it; the drop-in's "warmswap reboot" turns a reboot into a kexec only
// while armed.
func TestRunLoadUnload(t *testing.T) {
	root := swaptest.System(t, "warn")
	for _, f := range []string{swap.RebootDropIn, swap.ShutdownHook} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755)
		os.WriteFile(filepath.Join(root, f), nil, 0o755)
	}
	st := newSwapTest(t, root)
	st.systemd = true
	if a := st.run([]string{"reboot"}); a != machine.ExitWith(cli.ExitOK) {
		t.Fatalf("reboot before -load = %v, want nothing done", a)
	}
	st.said(t, "warmswap: reboot: through the firmware: no kexec image is loaded")
	if a := st.run([]string{"-load"}); a != machine.ExitWith(cli.ExitOK) {
		t.Fatalf("-load = %v\n%s%s", a, st.stdout, st.stderr)
	}
	armed, err := os.ReadFile(filepath.Join(root, swap.Armed))
	if err != nil || !strings.Contains(string(armed), "loaded by warmswap -load at 2026-11-30T09:00:00Z") {
		t.Fatalf("armed record %q, %v", armed, err)
	}
	st.said(t, "warmswap: next reboot: through warmboot (kexec, no firmware): loaded by warmswap -load")
	if a := st.run([]string{"reboot"}); a != (machine.Action{Kind: machine.Systemctl, Verb: "kexec", Force: true}) {
		t.Fatalf("reboot while armed = %v, want systemctl --force kexec", a)
	}
	// A dry run must not replace what is loaded for the next reboot.
	n := len(st.rec.Calls)
	if a := st.run([]string{"-dry-run", "-entry", "a"}); a != machine.ExitWith(cli.ExitOK) {
		t.Fatalf("-dry-run = %v\n%s%s", a, st.stdout, st.stderr)
	}
	if len(st.rec.Calls) != n {
		t.Errorf("the dry run called %q with an image loaded for the next reboot", st.rec.Calls[n:])
	}
	st.said(t, "check skipped: a kexec image is loaded for the next reboot")
	if a := st.run([]string{"-unload"}); a != machine.ExitWith(cli.ExitOK) || st.rec.Loaded() {
		t.Fatalf("-unload = %v, loaded %v", a, st.rec.Loaded())
	}
	if _, err := os.Stat(filepath.Join(root, swap.Armed)); err == nil {
		t.Error("-unload left the armed record")
	}
	st.said(t, "warmswap: unloaded: the next reboot goes through the firmware")
	// kexec-tools set to load at every reboot: -unload, the way back to
	// a firmware reboot, says what would happen then.
	os.MkdirAll(filepath.Join(root, "etc/default"), 0o755)
	os.WriteFile(filepath.Join(root, swap.KexecToolsDefaults), []byte("LOAD_KEXEC=true\n"), 0o644)
	st.run([]string{"-unload"})
	st.said(t, "/etc/default/kexec sets LOAD_KEXEC=true: kexec-tools loads /vmlinuz at every reboot")
	if a := st.run([]string{"reboot"}); a != machine.ExitWith(cli.ExitOK) {
		t.Errorf("reboot after -unload = %v, want nothing done", a)
	}
}

// never-kexec created after the image was loaded: the shutdown hook
// unloads it when systemd is about to kexec, so the reboot goes through
// the firmware; -load then loads nothing.
func TestTeardownNeverKexec(t *testing.T) {
	root := swaptest.System(t, "warn")
	st := newSwapTest(t, root)
	st.rec.IsLoaded = true
	os.MkdirAll(filepath.Join(root, "etc/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, swap.NeverKexec), nil, 0o644)
	if a := st.run([]string{"teardown", "kexec"}); a != machine.ExitWith(cli.ExitOK) || st.rec.Loaded() {
		t.Fatalf("teardown kexec = %v, loaded %v; want the image unloaded", a, st.rec.Loaded())
	}
	st.said(t, "never-kexec exists: unloaded the kexec image")
	st.rec.IsLoaded = true
	if a := st.run([]string{"-load"}); a != machine.ExitWith(cli.ExitOK) || st.rec.Loaded() {
		t.Fatalf("-load with never-kexec = %v, loaded %v; want what was loaded unloaded", a, st.rec.Loaded())
	}
	st.said(t, "next reboot: through the firmware")
}

// -direct commits the boot as the bootloader does (package loader): a
// counted BLS entry is counted by its file name, the trial recorded, the
// target's command line gets panic=N, and the watchdog is armed last;
// the messages are the bootloader's.
func TestRunDirectCounted(t *testing.T) {
	root := swaptest.System(t, "")
	entries := filepath.Join(root, "boot/loader/entries")
	if err := os.Rename(filepath.Join(entries, "a.conf"), filepath.Join(entries, "a+3.conf")); err != nil {
		t.Fatal(err)
	}
	st := newSwapTest(t, root)
	var armed []time.Duration
	st.env.Arm = func(d time.Duration) (watchdog.Armed, error) {
		armed = append(armed, d)
		return watchdog.Armed{Timeout: d, Kexec: "a kexec leaves it running"}, nil
	}
	if a := st.run([]string{"-direct", "-entry", "a", "-grace", "0"}); a != (machine.Action{Kind: machine.Kexec, RebootOnFailure: true}) {
		t.Fatalf("run = %v, want kexec\n%s%s", a, st.stdout, st.stderr)
	}
	if _, err := os.Stat(filepath.Join(entries, "a+2-1.conf")); err != nil {
		t.Errorf("the attempt was not counted: %v", err)
	}
	if diff := cmp.Diff([]time.Duration{5 * time.Minute}, armed); diff != "" {
		t.Errorf("armed (-want +got):\n%s", diff)
	}
	if len(st.rec.Calls) == 0 || !strings.HasSuffix(st.rec.Calls[0], swaptest.CmdA+" panic=10 watchdog.open_timeout=300") {
		t.Errorf("loaded %q; want the target with the trial's parameters", st.rec.Calls)
	}
	if s := st.state(t); s.Trial == nil || s.Trial.Entry.ID != "a" || s.Trial.By != "warmswap -direct" {
		t.Errorf("state = %+v; want the trial of a by warmswap -direct", s)
	}
	st.said(t,
		`warmswap: trial: "A" recorded in /boot/warmboot/state; it is last-known-good once "warmboot bless" runs on it`,
		"warmswap: boot counting: vda2:/boot/loader/entries/a+3.conf is now a+2-1.conf (tries left after this one: 2)",
		`warmswap: trial: watchdog armed for 5m0s (a kexec leaves it running): unless "warmboot bless" stops it, the machine resets and "b" boots`)
	out := st.stdout.String()
	if strings.Index(out, "recorded in") > strings.Index(out, "boot counting") || strings.Index(out, "boot counting") > strings.Index(out, "watchdog armed") {
		t.Errorf("committed out of order (record, count, arm):\n%s", out)
	}
}

// A -direct trial that cannot be recorded has no safety net: nothing is
// armed (the rule: arm only what was recorded), and a target that hangs
// waits for a manual reset, after which the bootloader, knowing of no
// trial, boots the configs' default, which may be the very target. The
// bootloader has to boot something; warmswap runs on a healthy system
// and has stopped nothing yet: it must refuse, saying which file and
// what to do, and leave the running system up.
func TestRunDirectUnrecordedRefused(t *testing.T) {
	root := swaptest.System(t, "")
	// The state file cannot be replaced (here a directory stands where
	// it goes; on a machine: /boot mounted read-only, a full disk).
	if err := os.MkdirAll(filepath.Join(root, "boot/warmboot/state/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := newSwapTest(t, root)
	var armed []time.Duration
	st.env.Arm = func(d time.Duration) (watchdog.Armed, error) {
		armed = append(armed, d)
		return watchdog.Armed{Timeout: d}, nil
	}
	a := st.run([]string{"-direct", "-entry", "a", "-grace", "0"})
	if a != machine.ExitWith(cli.ExitError) {
		t.Errorf("run = %v with the trial not recorded; want the swap refused (exit %d), nothing stopped\n%s%s", a, cli.ExitError, st.stdout, st.stderr)
	}
	if len(st.sys.Log) != 0 {
		t.Errorf("stopped the system for an unguarded trial: %q", st.sys.Log)
	}
	if st.rec.Loaded() || len(armed) != 0 {
		t.Errorf("refused, but left an image loaded (%v) or armed the watchdog (%v)", st.rec.Loaded(), armed)
	}
	st.said(t, `warmswap: refused: trial: the trial of "a" cannot be recorded in /boot/warmboot/state`, "make /boot/warmboot writable")
	if _, err := os.Stat(filepath.Join(root, "boot/loader/entries/a.conf")); err != nil {
		t.Errorf("the entry was touched: %v", err)
	}
}

// A firmware reboot (never-kexec) reaches the target only through the
// one-shot entry: when it cannot be recorded, the swap is refused before
// anything stops, rather than rebooting into the default.
func TestRunRebootUnrecordedRefused(t *testing.T) {
	root := swaptest.System(t, "")
	os.MkdirAll(filepath.Join(root, "etc/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/warmboot/never-kexec"), []byte("BMC\n"), 0o644)
	if err := os.MkdirAll(filepath.Join(root, "boot/warmboot/state/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := newSwapTest(t, root)
	if a := st.run([]string{"-entry", "a", "-grace", "0"}); a != machine.ExitWith(cli.ExitError) {
		t.Fatalf("run = %v; want the swap refused\n%s%s", a, st.stdout, st.stderr)
	}
	st.said(t, `the firmware reboot would boot the default, not "a": make /boot/warmboot writable and swap again`, "warmswap: nothing was stopped")
	if len(st.sys.Log) != 0 {
		t.Errorf("stopped the system: %q", st.sys.Log)
	}
}

// -load alone loads warmboot to boot as from the firmware: the plan names
// the entry its state makes it boot (a default bless kept, a trial's
// fallback) rather than the configs' default, in the bootloader's words,
// and that entry is the one checked.
func TestRunLoadNext(t *testing.T) {
	root := swaptest.System(t, "") // enforce: "b", the configs' default, is unsigned
	st := newSwapTest(t, root)
	st.systemd = true
	if a := st.run([]string{"-load"}); a != machine.ExitWith(cli.ExitError) {
		t.Fatalf("-load with the configs' default unsigned = %v\n%s%s", a, st.stdout, st.stderr)
	}
	st.said(t, `warmswap: refused: verification: "B" would be refused by the bootloader`)

	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	save := func(s state.State) {
		t.Helper()
		if err := state.Save(r, state.HostFile(root), s); err != nil {
			t.Fatal(err)
		}
	}
	a, b := swaptest.Ref(t, root, "a"), swaptest.Ref(t, root, "b")
	save(state.State{LastGood: a, Default: &state.Kept{Ref: *a, Over: b}})
	st = newSwapTest(t, root)
	st.systemd = true
	if a := st.run([]string{"-load"}); a != machine.ExitWith(cli.ExitOK) {
		t.Fatalf("-load with a kept default = %v\n%s%s", a, st.stdout, st.stderr)
	}
	st.said(t,
		`warmswap: check ok: target: "A"`,
		`warmswap: plan: warmboot boots as from the firmware: "A", chosen by the bootloader's state over the configs' default "B", command line: `+swaptest.CmdA,
		`warmswap: plan: on a reboot now, the bootloader would say: default: "A", kept by "warmboot bless" after a warm swap (the configs' default is "B")`)
	if s := st.state(t); s.Next != nil || s.Default == nil {
		t.Errorf("-load changed the state: %+v", s)
	}

	// Loaded during a trial not blessed yet: a reboot now takes it as
	// failed, and the fallback boots.
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	save(state.State{LastGood: a, Trial: &state.Attempt{Entry: *b, At: at, By: "warmswap", Fallback: a}})
	st = newSwapTest(t, root)
	st.systemd = true
	if a := st.run([]string{"-load"}); a != machine.ExitWith(cli.ExitOK) {
		t.Fatalf("-load during a trial = %v\n%s%s", a, st.stdout, st.stderr)
	}
	st.said(t,
		`warmswap: plan: warmboot boots as from the firmware: "A", chosen by the bootloader's state over the configs' default "B"`,
		`warmswap: warning: on a reboot now, the bootloader would say: the trial of "b" (started by warmswap at 2026-11-30T08:00:00Z) failed`,
		`warmswap: plan: on a reboot now, the bootloader would say: falling back to "A", the entry that last came up`)
	if s := st.state(t); s.Trial == nil {
		t.Errorf("-load ended the trial: %+v", s)
	}
}
