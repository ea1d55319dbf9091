package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/machine"
	"github.com/warmboot/warmboot/boot/metrics"
	"github.com/warmboot/warmboot/boot/restart"
	"github.com/warmboot/warmboot/boot/swap"
	"github.com/warmboot/warmboot/boot/swap/swaptest"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// runningA makes entry "a" the running system (booted.json says what it
// boots), as warmboot would have left it.
func runningA(t *testing.T, st *swapTest) {
	t.Helper()
	p, err := swap.Preflight(st.env, swap.Request{Entry: "a"})
	if err != nil {
		t.Fatal(err)
	}
	boots := p.Trial.Target.Boots
	p.Image.Close()
	p.Release()
	b := `{"version":2,"entry":"a","boots":"` + boots + `","by":"warmboot","firmware":"warmboot"}`
	if err := os.WriteFile(filepath.Join(st.env.Root, "run/warmboot/booted.json"), []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The target boots what runs and systemd can soft-reboot: warmswap hands
// over to "systemctl soft-reboot", loads nothing, records no trial, and
// counts a soft restart; -dry-run says so and counts nothing. Where
// systemd is older, the same swap kexecs.
func TestRunSoft(t *testing.T) {
	st := newSwapTest(t, swaptest.System(t, ""))
	runningA(t, st)
	st.systemd, st.softReboot = true, func() bool { return true }
	if a := st.run([]string{"-dry-run", "-entry", "a"}); a != machine.ExitWith(cli.ExitOK) {
		t.Fatalf("dry run = %v\n%s%s", a, st.stdout, st.stderr)
	}
	st.said(t, "warmswap: check ok: mode: soft: the target boots the running kernel", "warmswap: plan: soft reboot:", "dry run: every check passed")
	if c, _ := metrics.Load(st.env.Root); c.Restarts["soft"] != 0 {
		t.Errorf("a dry run counted %v", c.Restarts)
	}
	os.WriteFile(filepath.Join(st.env.Root, "run/reboot-required"), []byte("*** System restart required ***\n"), 0o644)
	if a := st.run([]string{"-entry", "a"}); a != (machine.Action{Kind: machine.Systemctl, Verb: "soft-reboot"}) {
		t.Fatalf("run = %v, want systemctl soft-reboot\n%s%s", a, st.stdout, st.stderr)
	}
	if len(st.rec.Calls) > 0 {
		t.Errorf("machine calls %v; a soft reboot loads nothing", st.rec.Calls)
	}
	if _, err := os.Stat(filepath.Join(st.env.Root, "run/reboot-required")); err == nil {
		t.Errorf("/run/reboot-required survives the soft reboot it asked for")
	}
	if s := st.state(t); s.Next != nil {
		t.Errorf("state after a soft reboot: %+v; want no one-shot entry", s)
	}
	c, _ := metrics.Load(st.env.Root)
	if c.Restarts["soft"] != 1 || c.Pending == nil || c.Pending.Path != "soft" {
		t.Errorf("counts = %+v; want one soft restart pending", c)
	}
	// systemctl refused it: not counted.
	var ran []string
	st.systemctl = func(args []string) error { ran = args; return errors.New("exit status 1") }
	if code := do(st.swapper, machine.Action{Kind: machine.Systemctl, Verb: "soft-reboot"}); code != cli.ExitError || strings.Join(ran, " ") != "soft-reboot" {
		t.Errorf("do = %d after running systemctl %v; want exit 1 after systemctl soft-reboot", code, ran)
	}
	if c, _ := metrics.Load(st.env.Root); c.Restarts["soft"] != 0 || c.Pending != nil {
		t.Errorf("counts after systemctl failed = %+v; want the restart taken back", c)
	}

	st = newSwapTest(t, swaptest.System(t, ""))
	runningA(t, st)
	st.systemd, st.softReboot = true, func() bool { return false }
	if a := st.run([]string{"-entry", "a"}); a != (machine.Action{Kind: machine.Systemctl, Verb: "kexec"}) {
		t.Fatalf("run = %v, want systemctl kexec\n%s%s", a, st.stdout, st.stderr)
	}
	st.said(t, "cannot soft-reboot (v254+ as PID 1): kexec")
	if c, _ := metrics.Load(st.env.Root); c.Restarts["kexec"] != 1 {
		t.Errorf("counts = %+v; want one kexec", c)
	}
	if a := st.run([]string{"-mode", "soft", "-entry", "a"}); a != machine.ExitWith(cli.ExitError) {
		t.Errorf("-mode soft without soft-reboot = %v", a)
	}
	st.said(t, "warmswap: refused: mode: -mode soft needs systemd 254", "warmswap: nothing was stopped")
}

// -mode firmware reboots through the firmware into the target, counted
// as such; a kernel recorded kexec-unsafe does so under auto, and
// -clear-unsafe forgets it.
func TestRunFirmwareAndUnsafe(t *testing.T) {
	st := newSwapTest(t, swaptest.System(t, ""))
	st.systemd = true
	if a := st.run([]string{"-mode", "firmware", "-entry", "a"}); a != (machine.Action{Kind: machine.Systemctl, Verb: "reboot"}) {
		t.Fatalf("run = %v, want systemctl reboot\n%s%s", a, st.stdout, st.stderr)
	}
	st.said(t, "asked for (-mode firmware)")
	if c, _ := metrics.Load(st.env.Root); c.Restarts["firmware"] != 1 {
		t.Errorf("counts = %+v", c)
	}
	if s := st.state(t); s.Next == nil || s.Next.Entry.ID != "a" {
		t.Errorf("state = %+v; want a as the one-shot entry", s)
	}
	os.Remove(filepath.Join(st.env.Root, "boot/warmboot/state"))

	var u restart.Unsafe
	u.Add(restart.UnsafeKernel{Kernel: kernelDigest(t, st.env.Root), Release: "6.1.0-57-amd64", Devices: []string{"net/eth0: gone"}})
	restart.WriteUnsafe(st.env.Root, u)
	if a := st.run([]string{"-entry", "a"}); a != (machine.Action{Kind: machine.Systemctl, Verb: "reboot"}) {
		t.Fatalf("run = %v, want systemctl reboot\n%s%s", a, st.stdout, st.stderr)
	}
	st.said(t, "kernel 6.1.0-57-amd64", "through the firmware instead of kexec")
	if a := st.run([]string{"-clear-unsafe"}); a != machine.ExitWith(cli.ExitOK) {
		t.Fatalf("-clear-unsafe = %v", a)
	}
	if _, err := os.Stat(filepath.Join(st.env.Root, restart.UnsafeFile)); err == nil {
		t.Errorf("-clear-unsafe left %s", restart.UnsafeFile)
	}
	st.stdout.Reset()
	os.Remove(filepath.Join(st.env.Root, "boot/warmboot/state"))
	if a := st.run([]string{"-entry", "a"}); a != (machine.Action{Kind: machine.Systemctl, Verb: "kexec"}) {
		t.Errorf("after -clear-unsafe: run = %v, want systemctl kexec\n%s", a, st.stdout)
	}
	if a := st.run([]string{"-mode", "sometimes"}); a != machine.ExitWith(cli.ExitUsage) || !strings.Contains(st.stderr.String(), "want auto, kexec, soft or firmware") {
		t.Errorf("-mode sometimes = %v", a)
	}
}

func kernelDigest(t *testing.T, root string) string {
	t.Helper()
	k, err := os.ReadFile(filepath.Join(root, "boot/vmlinuz"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:])
}
