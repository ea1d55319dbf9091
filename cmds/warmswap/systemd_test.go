package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/installed"
	"github.com/warmboot/warmboot/boot/machine"
	"github.com/warmboot/warmboot/boot/swap"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// unit parses a systemd unit file: section → key → values (a key may
// repeat), with the continuation and comment rules of systemd.syntax(7).
func unit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := map[string]map[string][]string{}
	sec := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[' && l[len(l)-1] == ']':
			sec = l[1 : len(l)-1]
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || sec == "" || strings.HasSuffix(l, `\`) {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, l)
			}
			u[sec][strings.TrimSpace(k)] = append(u[sec][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// The unit runs warmswap with arguments it accepts, as -load (so it
// stops nothing), opts out with the never-kexec file warmswap itself
// honours, and runs once /boot/warmboot is mounted.
func TestLoadUnit(t *testing.T) {
	u := unit(t, "systemd/warmboot-load.service")
	one := func(sec, key string) string {
		t.Helper()
		v := u[sec][key]
		if len(v) != 1 {
			t.Fatalf("[%s] %s = %q, want one value", sec, key, v)
		}
		return v[0]
	}
	if got := one("Service", "Type"); got != "oneshot" {
		t.Errorf("Type = %s, want oneshot", got)
	}
	if got := one("Service", "RemainAfterExit"); got != "yes" {
		t.Errorf("RemainAfterExit = %s", got)
	}
	exe := strings.Fields(one("Service", "ExecStart"))
	if exe[0] != "/usr/sbin/warmswap" {
		t.Errorf("ExecStart runs %s, want /usr/sbin/warmswap (README installs it there)", exe[0])
	}
	var args []string
	for _, a := range exe[1:] { // systemd's quoting, for what the unit uses
		args = append(args, strings.Trim(a, `"`))
	}
	o, ok := parse(args, os.Stderr)
	if !ok || !o.load || o.dryRun || o.req.Direct || !o.req.NoRecord {
		t.Errorf("ExecStart arguments %q: parsed %+v, ok=%v; want -load with no handoff record", args, o, ok)
	}
	if got := one("Unit", "ConditionPathExists"); got != "!"+swap.NeverKexec {
		t.Errorf("ConditionPathExists = %s, want !%s", got, swap.NeverKexec)
	}
	if got := one("Unit", "RequiresMountsFor"); got != installed.Dir {
		t.Errorf("RequiresMountsFor = %s, want %s", got, installed.Dir)
	}
	if got := one("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("WantedBy = %s", got)
	}
	// Opting out unloads; shutting down does not (no Conflicts= with
	// shutdown.target, which DefaultDependencies= would add).
	if o, ok := parse(strings.Fields(one("Service", "ExecStop"))[1:], os.Stderr); !ok || !o.unload {
		t.Errorf("ExecStop = %q, want warmswap -unload", one("Service", "ExecStop"))
	}
	if got := one("Unit", "DefaultDependencies"); got != "no" {
		t.Errorf("DefaultDependencies = %s, want no: a shutdown must not stop the unit and unload", got)
	}
}

// The drop-in runs "warmswap reboot" in systemd-reboot.service, ignoring
// its failure; "warmboot booted" logs a warm boot.
func TestRebootDropInAndBootedUnit(t *testing.T) {
	u := unit(t, "systemd/systemd-reboot-warmboot.conf")
	if got := u["Service"]["ExecStart"]; len(got) != 1 || got[0] != "-/usr/sbin/warmswap reboot" {
		t.Errorf("drop-in ExecStart = %q, want -/usr/sbin/warmswap reboot", got)
	}
	if !strings.HasSuffix(swap.RebootDropIn, "systemd-reboot.service.d/warmboot.conf") {
		t.Errorf("swap.RebootDropIn = %s", swap.RebootDropIn)
	}
	b := unit(t, "systemd/warmboot-booted.service")
	if got := b["Service"]["ExecStart"]; len(got) != 1 || got[0] != "/usr/sbin/warmboot booted" {
		t.Errorf("booted ExecStart = %q", got)
	}
	if got := b["Unit"]["ConditionPathExists"]; len(got) != 1 || got[0] != "/run/warmboot/booted.json" {
		t.Errorf("booted ConditionPathExists = %q", got)
	}
}

// The bless unit runs "warmboot bless" once the boot is complete, as
// systemd-bless-boot.service is ordered.
func TestBlessUnit(t *testing.T) {
	u := unit(t, "systemd/warmboot-bless.service")
	if got := u["Service"]["ExecStart"]; len(got) != 1 || got[0] != "/usr/sbin/warmboot bless -on-device-loss=restart" {
		t.Errorf("ExecStart = %q, want /usr/sbin/warmboot bless -on-device-loss=restart (README installs it there)", got)
	}
	if got := strings.Join(u["Unit"]["After"], " "); !strings.Contains(got, "boot-complete.target") {
		t.Errorf("After = %q, want boot-complete.target", got)
	}
	if got := u["Unit"]["Requires"]; len(got) != 1 || got[0] != "boot-complete.target" {
		t.Errorf("Requires = %q", got)
	}
	if got := u["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("WantedBy = %q", got)
	}
}

// The system-shutdown hook runs the teardown directory on kexec only.
func TestTeardownHook(t *testing.T) {
	hook, _ := filepath.Abs("systemd/warmboot-teardown")
	st, err := os.Stat(hook)
	if err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("%s must exist and be executable: %v", hook, err)
	}
	data, _ := os.ReadFile(hook)
	if !strings.Contains(string(data), `exec /usr/sbin/warmswap teardown "$1"`) {
		t.Errorf("hook does not hand its verb to warmswap teardown:\n%s", data)
	}
	// Run it with a stand-in warmswap to see the verb arrive.
	dir := t.TempDir()
	fake := filepath.Join(dir, "hook")
	os.WriteFile(fake, []byte(strings.Replace(string(data), "/usr/sbin/warmswap", "echo", 1)), 0o755)
	out, err := exec.Command(fake, "kexec").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "teardown kexec" {
		t.Errorf("hook kexec: %q, %v", out, err)
	}
	s, stdout, _ := fakeSwapper(t, t.TempDir())
	if a := s.run([]string{"teardown", "poweroff"}); a != machine.ExitWith(cli.ExitOK) || stdout.Len() != 0 {
		t.Errorf("teardown poweroff = %v, %q; want nothing done", a, stdout.String())
	}
	if a := s.run([]string{"teardown"}); a != machine.ExitWith(cli.ExitUsage) {
		t.Errorf("teardown with no verb = %v, want usage", a)
	}
}

func TestParse(t *testing.T) {
	for _, args := range [][]string{
		{"-entry", "a", "-kernel", "/k"},
		{"-initrd", "/i"},
		{"-cmdline", "x"},
		{"-load", "-dry-run"},
		{"-load", "-direct"},
		{"extra"},
	} {
		if _, ok := parse(args, &strings.Builder{}); ok {
			t.Errorf("parse(%q) accepted", args)
		}
	}
	o, ok := parse([]string{"-kernel", "/k", "-initrd", "/a", "-initrd", "/b", "-cmdline", ""}, &strings.Builder{})
	if !ok || !o.req.CmdlineSet || len(o.req.Initrds) != 2 {
		t.Errorf("parse = %+v, %v; want two initrds and an empty command line given", o, ok)
	}
	s, _, stderr := fakeSwapper(t, t.TempDir())
	s.env.Euid = 1000
	if a := s.run([]string{"-entry", "x", "-bootloader", t.TempDir()}); a != machine.ExitWith(cli.ExitError) || !strings.Contains(stderr.String(), "nothing was stopped") {
		t.Errorf("run as a user without a bootloader = %v, %q", a, stderr.String())
	}
}
