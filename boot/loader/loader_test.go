package loader

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/efivar"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/lvm"
	"github.com/warmboot/warmboot/boot/machine"
	"github.com/warmboot/warmboot/boot/machine/machinetest"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/nextboot"
	"github.com/warmboot/warmboot/boot/prepare"
	"github.com/warmboot/warmboot/boot/raid"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/timeline"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/boot/watchdog"
	"github.com/warmboot/warmboot/internal/testtool"
)

// bootTest is the bootloader's loop on a fake machine: disks that are
// directories, keys from a channel, loads and the kexec recorded, a clock
// that advances only when the loop sleeps.
type bootTest struct {
	*Loader
	root  string
	out   *bytes.Buffer
	rec   *machinetest.Recorder
	loads *machinetest.Loads
	keys  chan byte
	// dirs are the disks, by device; fstype their types (default ext4);
	// writeErr fails every write to a disk.
	dirs     map[string]string
	fstype   map[string]string
	writeErr error
	now      time.Time
	slept    int
	// mounted are the devices the loop mounted, in order; then runs
	// after the loop's Nth sleep (a disk appearing late).
	mounted []string
	then    map[int]func()
	// armed are the watchdog deadlines armed; armErr fails arming.
	armed    []time.Duration
	armErr   error
	disarmed int
	// efivars is the UEFI variables' directory, "" for a machine
	// without UEFI.
	efivars string
}

// noRAID is a machine with no md arrays.
type noRAID struct{}

func (noRAID) Assemble([]string, bool) []raid.Array { return nil }
func (noRAID) Member(string) bool                   { return false }
func (noRAID) Pending() bool                        { return false }

// Two BLS entries on one filesystem, vda1: "A" (first and the default,
// as BLS ranks file names in reverse) and "B", each with its own kernel.
func newBootTest(t *testing.T) *bootTest {
	t.Helper()
	root := t.TempDir()
	for name, data := range map[string]string{
		"loader/entries/2-a.conf": "title A\nlinux /vmlinuz-a\noptions root=/dev/vda2 entry=a\n",
		"loader/entries/1-b.conf": "title B\nlinux /vmlinuz-b\noptions root=/dev/vda2 entry=b\n",
		"vmlinuz-a":               string(testtool.BzImage(4096)),
		"vmlinuz-b":               string(testtool.BzImage(4608)),
	} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bt := &bootTest{root: root, out: &bytes.Buffer{}, rec: &machinetest.Recorder{}, keys: make(chan byte, 16),
		dirs: map[string]string{"vda1": root}, fstype: map[string]string{}, now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	bt.loads = &machinetest.Loads{Recorder: bt.rec}
	log := clog.New(bt.out, "warmboot")
	zero := time.Duration(0)
	l := &Loader{cfg: Config{Timeout: &zero, Wait: 5 * time.Second, Trial: trial.Config{Deadline: 90 * time.Second, Panic: 7}},
		out: bt.out, log: log, tl: timeline.New(), mounts: mounted{},
		keys:   func() (<-chan byte, func()) { return bt.keys, func() {} },
		disarm: func() error { bt.disarmed++; return nil },
		disks:  bt.disks()}
	l.commit = Committer{Config: l.cfg.Trial, By: "warmboot", Files: l.write, Log: log,
		Now: func() time.Time { return bt.now },
		Arm: func(d time.Duration) (watchdog.Armed, error) {
			if bt.armErr != nil {
				return watchdog.Armed{}, bt.armErr
			}
			bt.armed = append(bt.armed, d)
			return watchdog.Armed{Timeout: d, Kexec: "a kexec leaves it running"}, nil
		}}
	l.pipe = prepare.Pipeline{Trust: trust.Trust{Policy: trust.Off}, Loader: kexec.Loader{Sys: bt.loads, Log: log}, Log: log, Timeline: l.tl}
	bt.Loader = l
	return bt
}

// disks are bt.dirs as the discovery loop sees disks.
func (bt *bootTest) disks() Disks {
	return Disks{
		Devices: func() ([]string, error) { return slices.Sorted(maps.Keys(bt.dirs)), nil },
		RAID:    noRAID{},
		LVM:     func([]string) []lvm.Result { return nil },
		Mount: func(names []string) (ms []discover.Mounted, ps []discover.Probe) {
			bt.mounted = append(bt.mounted, names...)
			for _, n := range names {
				fst := cmp.Or(bt.fstype[n], "ext4")
				ms = append(ms, discover.Mounted{Device: n, Dir: bt.dirs[n], FSType: fst})
				ps = append(ps, discover.Probe{Device: n, Result: fst + ", mounted read-only"})
			}
			return ms, ps
		},
		Write: func(m discover.Mounted, f func(*os.Root) error) error {
			if bt.writeErr != nil {
				return bt.writeErr
			}
			return discover.InRoot(m.Dir, f)
		},
		Unmount: func() error { return nil },
		USB:     func(time.Time) string { return "" },
		EFI: func() (efivar.Vars, error) {
			if bt.efivars == "" {
				return efivar.Vars{}, efivar.ErrNoUEFI
			}
			return efivar.Vars{Dir: bt.efivars}, nil
		},
		Now: func() time.Time { return bt.now },
		Sleep: func(d time.Duration) {
			bt.slept++
			bt.now = bt.now.Add(d)
			if f := bt.then[bt.slept]; f != nil {
				f()
			}
		},
	}
}

// timeout sets the menu's timeout, as -timeout does.
func (bt *bootTest) timeout(d time.Duration) { bt.cfg.Timeout = &d }

// loaded are the command lines loaded, in order.
func (bt *bootTest) loaded() []string {
	var out []string
	for _, c := range bt.rec.Calls {
		if call, cmdline, ok := strings.Cut(c, " "); ok && strings.HasPrefix(call, "kexec") {
			out = append(out, call+": "+cmdline)
		}
	}
	return out
}

func (bt *bootTest) said(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(bt.out.String(), l) {
			t.Errorf("output lacks %q:\n%s", l, bt.out)
		}
	}
}

// ctx bounds a pass: a menu waiting for a key that never comes fails
// the test instead of hanging it.
func (bt *bootTest) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var kexecNow = machine.Action{Kind: machine.Kexec}

func TestPassBootsDefault(t *testing.T) {
	bt := newBootTest(t)
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	if diff := gocmp.Diff([]string{"kexec_file_load: root=/dev/vda2 entry=a"}, bt.loaded()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	if len(bt.rec.Calls) != 1 {
		t.Errorf("machine calls %q: the loop must not kexec itself", bt.rec.Calls)
	}
	bt.said(t, `warmboot: booting "A": kernel vda1:/vmlinuz-a (4096 bytes), initrd `, "via kexec_file_load", "warmboot: command line: root=/dev/vda2 entry=a")
}

// A number and Enter choose an entry; the background load of the default
// is replaced by the choice.
func TestPassMenuChoice(t *testing.T) {
	bt := newBootTest(t)
	bt.timeout(-1)
	bt.keys <- '2'
	bt.keys <- '\r'
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	want := []string{"kexec_file_load: root=/dev/vda2 entry=a", "kexec_file_load: root=/dev/vda2 entry=b"}
	if diff := gocmp.Diff(want, bt.loaded()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	bt.said(t, `Booting "B"`, `warmboot: booting "B": kernel vda1:/vmlinuz-b`)
}

// An entry that cannot be read, or that the kernel will not load, is
// reported and the next one booted.
func TestPassFallsThrough(t *testing.T) {
	t.Run("missing kernel", func(t *testing.T) {
		bt := newBootTest(t)
		os.Remove(filepath.Join(bt.root, "vmlinuz-a"))
		if a := bt.Pass(bt.ctx(t)); a != kexecNow {
			t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
		}
		if diff := gocmp.Diff([]string{"kexec_file_load: root=/dev/vda2 entry=b"}, bt.loaded()); diff != "" {
			t.Errorf("loads (-want +got):\n%s", diff)
		}
		bt.said(t, `warmboot: cannot boot "A": kernel vda1:/vmlinuz-a: file does not exist; restore the file or fix the entry in vda1:/loader/entries/2-a.conf:1; trying the next entry`)
	})
	t.Run("load refused", func(t *testing.T) {
		bt := newBootTest(t)
		bt.loads.FileLoadErr = func(cmdline string) error {
			if strings.Contains(cmdline, "entry=a") {
				return syscall.EBUSY
			}
			return nil
		}
		if a := bt.Pass(bt.ctx(t)); a != kexecNow {
			t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
		}
		bt.said(t, `warmboot: cannot boot "A": loading /vmlinuz-a: device or resource busy (another kexec image is already loaded or being loaded); trying the next entry`, `warmboot: booting "B"`)
	})
	t.Run("kexec_load fallback", func(t *testing.T) {
		bt := newBootTest(t)
		bt.loads.FileLoadErr = func(string) error { return syscall.ENOEXEC }
		if a := bt.Pass(bt.ctx(t)); a != kexecNow {
			t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
		}
		bt.said(t, `warmboot: warning: kexec_file_load refused the kernel; falling back to kexec_load kernel=/vmlinuz-a err="exec format error"`,
			`warmboot: booting "A": kernel vda1:/vmlinuz-a (4096 bytes), initrd `, "bytes, via kexec_load")
	})
}

// Under enforce, an unsigned entry is refused by name and the signed one
// boots, saying who signed it.
func TestPassRefusesUnsigned(t *testing.T) {
	bt := newBootTest(t)
	pub, priv, err := trust.Generate()
	if err != nil {
		t.Fatal(err)
	}
	kernel, _ := os.ReadFile(filepath.Join(bt.root, "vmlinuz-b"))
	m := manifest.Manifest{Kernel: manifest.File{Path: "/vmlinuz-b", SHA256: sha256.Sum256(kernel)}, Cmdline: "root=/dev/vda2 entry=b"}
	os.MkdirAll(filepath.Join(bt.root, "warmboot"), 0o755)
	os.WriteFile(filepath.Join(bt.root, "warmboot/b.manifest"), m.Sign(priv), 0o644)
	bt.pipe.Trust = trust.Trust{Policy: trust.Enforce, Edits: trust.EditsRefuse, Keys: []trust.Key{{Public: pub}}}
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	if diff := gocmp.Diff([]string{"kexec_file_load: root=/dev/vda2 entry=b"}, bt.loaded()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	bt.said(t, `warmboot: refused "A": no signed manifest names this kernel: kernel vda1:/vmlinuz-a`, "; trying the next entry",
		"warmboot: verified: signed by "+trust.Fingerprint(pub)+" (vda1:/warmboot/b.manifest)")
}

// When every entry fails, each is listed with its reason and the loop
// asks for the shell; -dry-run exits instead.
func TestPassNothingBoots(t *testing.T) {
	bt := newBootTest(t)
	bt.loads.FileLoadErr = func(string) error { return syscall.EPERM }
	if a := bt.Pass(bt.ctx(t)); a != (machine.Action{Kind: machine.Shell}) {
		t.Fatalf("pass = %v, want the shell\n%s", a, bt.out)
	}
	bt.said(t, "warmboot: nothing could be booted:", "warmboot:   1) A: loading /vmlinuz-a: operation not permitted", "warmboot:   2) B: loading /vmlinuz-b")

	bt = newBootTest(t)
	bt.dirs = map[string]string{}
	if a := bt.Pass(bt.ctx(t)); a != (machine.Action{Kind: machine.Shell}) {
		t.Fatalf("pass with no entries = %v, want the shell", a)
	}
	bt.said(t, "warmboot: no boot entries found.", "is the disk driver's module in the image?")

	bt = newBootTest(t)
	bt.cfg.DryRun = true
	if a := bt.Pass(bt.ctx(t)); a != machine.ExitWith(exitLoaded) {
		t.Fatalf("-dry-run pass = %v, want exit 0", a)
	}
	bt.said(t, "-dry-run: not kexecing")
}

// A handoff names the entry: it boots without the menu, once.
func TestPassHandoff(t *testing.T) {
	bt := newBootTest(t)
	bt.timeout(-1) // a menu would wait forever
	bt.handoff = &handoff.Record{Entry: "1-b", Reason: "test"}
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	// Asked for and not known good: a trial, with panic=N and the
	// watchdog.
	if diff := gocmp.Diff([]string{"kexec_file_load: root=/dev/vda2 entry=b panic=7 watchdog.open_timeout=90"}, bt.loaded()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	bt.said(t, `warmboot: booting "B" as the handoff asks; skipping the menu`, `warmboot: trial: "B" recorded in vda1:/warmboot/state`, "trial: watchdog armed for 1m30s")
	// The kexec fails (main's loop): the watchdog must not reset the
	// shell that follows.
	bt.KexecFailed()
	bt.KexecFailed()
	if bt.disarmed != 1 {
		t.Errorf("watchdog stopped %d times after a failed kexec; want once", bt.disarmed)
	}
	bt.said(t, "watchdog stopped: the kexec it was armed for did not happen")
	if bt.handoff != nil {
		t.Error("the handoff was not used up")
	}
}

func (bt *bootTest) state(t *testing.T) state.State {
	t.Helper()
	s, err := state.Read(os.DirFS(bt.root), "/warmboot/state")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The fallback chain across boots: a warm swap's trial of B that never
// blesses itself (the machine comes back with no handoff) is recorded as
// failed, and its fallback A boots, not armed; B is then passed over
// until asked for by name; blessed, B boots with no trial.
func TestPassTrialFallback(t *testing.T) {
	bt := newBootTest(t)
	if err := discover.InRoot(bt.root, func(r *os.Root) error {
		return state.Save(r, "warmboot/state", state.State{Next: &state.Attempt{Entry: state.Ref{ID: "1-b"}, By: "warmswap", Fallback: &state.Ref{ID: "2-a"}}})
	}); err != nil {
		t.Fatal(err)
	}
	// A firmware reboot: the one-shot entry boots, as a trial.
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	bt.said(t, `booting the one-shot next entry "B" (asked by warmswap`, "watchdog armed for 1m30s")
	if s := bt.state(t); s.Next != nil || s.Trial == nil || s.Trial.Entry.ID != "1-b" || s.Trial.Fallback.ID != "2-a" {
		t.Fatalf("state after the one-shot boot: %+v", s)
	}
	// B never blessed itself: the next boot finds the trial.
	bt.out.Reset()
	bt.armed = nil
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	bt.said(t, `warmboot: warning: the trial of "1-b" (started by warmswap at`, `falling back to "A"`, `booting "A"`)
	if len(bt.armed) != 0 {
		t.Errorf("the fallback was armed: %v", bt.armed)
	}
	s := bt.state(t)
	if s.Trial != nil || s.LastFailure == nil || s.LastFailure.Entry.ID != "1-b" || s.TriesLeft["1-b"] != 0 {
		t.Fatalf("state after the failure: %+v", s)
	}
	// B is the configs' default now: passed over.
	os.WriteFile(filepath.Join(bt.root, "loader/loader.conf"), []byte("default 1-b\n"), 0o644)
	bt.out.Reset()
	bt.Pass(bt.ctx(t))
	bt.said(t, `passing over "B": its last trial failed`, `booting "A"`)
	// Blessed (as "warmboot bless" does on B), B is the default again.
	s, _ = trial.MarkGood(s, trial.Good{Running: *bt.ref(t, "1-b")})
	discover.InRoot(bt.root, func(r *os.Root) error { return state.Save(r, "warmboot/state", s) })
	bt.out.Reset()
	bt.armed = nil
	bt.Pass(bt.ctx(t))
	bt.said(t, `booting "B"`)
	if strings.Contains(bt.out.String(), "trial:") || len(bt.armed) != 0 {
		t.Errorf("last-known-good booted as a trial:\n%s", bt.out)
	}
}

// A corrupt state file is said, treated as empty, and replaced; the boot
// goes on. No watchdog device: the trial boots, saying what it lacks.
func TestPassBadState(t *testing.T) {
	bt := newBootTest(t)
	os.MkdirAll(filepath.Join(bt.root, "warmboot"), 0o755)
	os.WriteFile(filepath.Join(bt.root, "warmboot/state"), []byte("warmboot-state 1\n{\"last_good\":\n"), 0o644)
	bt.armErr = watchdog.ErrNone
	bt.handoff = &handoff.Record{Entry: "1-b", Reason: "test"}
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	bt.said(t, "warmboot: warning: boot state: /warmboot/state: not a warmboot state file", "treating the state as empty",
		"trial: no watchdog armed (no watchdog device (/dev/watchdog): no watchdog driver is loaded): a panic resets the machine (panic=7)")
	if s := bt.state(t); s.Trial == nil {
		t.Errorf("the bad file was not replaced: %+v", s)
	}

	// A FIFO where the state should be (a hostile disk) is refused, not
	// opened: the boot does not hang.
	bt = newBootTest(t)
	os.MkdirAll(filepath.Join(bt.root, "warmboot"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(bt.root, "warmboot/state"), 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.Bounded(t, func() {
		if a := bt.Pass(bt.ctx(t)); a != kexecNow {
			t.Errorf("pass = %v\n%s", a, bt.out)
		}
	})
	bt.said(t, "warmboot: warning: boot state: reading /warmboot/state:", "(treating the state as empty)")
}

// A counted BLS entry loses a try each time it is booted, as systemd-boot
// renames it; out of tries it ranks last and the other entry boots; a
// filesystem that cannot be written leaves the boot uncounted, not failed.
func TestPassCountsAttempts(t *testing.T) {
	bt := newBootTest(t)
	entries := filepath.Join(bt.root, "loader/entries")
	os.Rename(filepath.Join(entries, "2-a.conf"), filepath.Join(entries, "2-a+3.conf"))
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	if _, err := os.Stat(filepath.Join(entries, "2-a+2-1.conf")); err != nil {
		t.Errorf("after one attempt: %v", err)
	}
	bt.said(t, `warmboot: booting "A"`, "warmboot: boot counting: vda1:/loader/entries/2-a+3.conf is now 2-a+2-1.conf (tries left after this one: 2)")

	bt = newBootTest(t)
	entries = filepath.Join(bt.root, "loader/entries")
	os.Rename(filepath.Join(entries, "2-a.conf"), filepath.Join(entries, "2-a+0-3.conf"))
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	bt.said(t, `warmboot: booting "B"`)

	bt = newBootTest(t)
	entries = filepath.Join(bt.root, "loader/entries")
	os.Rename(filepath.Join(entries, "2-a.conf"), filepath.Join(entries, "2-a+3.conf"))
	bt.writeErr = errors.New("vda1: not written by warmboot: its journal needs recovery")
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	bt.said(t, "warmboot: warning: boot counting: not counting this attempt of vda1:/loader/entries/2-a+3.conf: vda1: not written by warmboot: its journal needs recovery", `warmboot: booting "A"`)
}

// grub-reboot's one-shot entry boots once: the config's own save_env
// empties next_entry in grubenv, rewritten in place as GRUB does, and
// grub-editenv reads the result.
func TestPassGrubNextEntry(t *testing.T) {
	bt := newBootTest(t)
	os.RemoveAll(filepath.Join(bt.root, "loader"))
	os.MkdirAll(filepath.Join(bt.root, "grub"), 0o755)
	os.WriteFile(filepath.Join(bt.root, "grub/grub.cfg"), []byte(`if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="${saved_entry}"
fi
menuentry 'A' --id a { linux /vmlinuz-a entry=a }
menuentry 'B' --id b { linux /vmlinuz-b entry=b }
`), 0o644)
	env := grubenv.New()
	env, _ = grubenv.Set(env, "saved_entry", "a")
	env, _ = grubenv.Set(env, "next_entry", "b")
	envFile := filepath.Join(bt.root, "grub/grubenv")
	os.WriteFile(envFile, env, 0o644)
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	bt.said(t, `warmboot: booting "B"`, `warmboot: grubenv: saved next_entry="" in vda1:/grub/grubenv, as GRUB does`)
	out, err := exec.Command(testtool.Need(t, "grub-editenv"), envFile, "list").CombinedOutput()
	if err != nil || string(out) != "saved_entry=a\nnext_entry=\n" {
		t.Errorf("grub-editenv list = %q, %v; want next_entry emptied, saved_entry kept", out, err)
	}
	if st, _ := os.Stat(envFile); st.Size() != grubenv.Size {
		t.Errorf("grubenv is %d bytes, want it rewritten in place (%d)", st.Size(), grubenv.Size)
	}

	// The next boot is the saved entry again.
	bt.out.Reset()
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("second pass = %v, want kexec\n%s", a, bt.out)
	}
	bt.said(t, `warmboot: booting "A"`)
	if strings.Contains(bt.out.String(), "grubenv: saved") {
		t.Errorf("second boot wrote grubenv again:\n%s", bt.out)
	}
}

// The state goes on the ESP when there is one (every bootloader can
// write FAT; RHEL's /boot is XFS), unless a state file already exists
// beside the configs (a running system that could not see its ESP wrote
// it there): one file, found by both sides.
func TestPassStateOnESP(t *testing.T) {
	bt := newBootTest(t)
	esp := t.TempDir()
	os.MkdirAll(filepath.Join(esp, "EFI/BOOT"), 0o755)
	bt.dirs["vda9"], bt.fstype["vda9"] = esp, "vfat"
	bt.handoff = &handoff.Record{Entry: "1-b", Reason: "test"}
	bt.Pass(bt.ctx(t))
	bt.said(t, `trial: "B" recorded in vda9:/warmboot/state`)
	if _, err := os.Stat(filepath.Join(esp, "warmboot/state")); err != nil {
		t.Errorf("no state on the ESP: %v", err)
	}

	bt = newBootTest(t)
	bt.dirs["vda9"], bt.fstype["vda9"] = esp, "vfat"
	os.Remove(filepath.Join(esp, "warmboot/state"))
	discover.InRoot(bt.root, func(r *os.Root) error { return state.Save(r, "warmboot/state", state.State{}) })
	bt.handoff = &handoff.Record{Entry: "1-b", Reason: "test"}
	bt.Pass(bt.ctx(t))
	bt.said(t, `trial: "B" recorded in vda1:/warmboot/state`)
}

// A handoff is used once: when nothing it could boot loaded and the
// shell ran, the next pass boots as from the firmware, and the record
// it hands on names no request.
func TestPassHandoffOnce(t *testing.T) {
	bt := newBootTest(t)
	bt.handoff = &handoff.Record{Entry: "1-b", Reason: "test"}
	bt.loads.FileLoadErr = func(string) error { return syscall.EPERM }
	if a := bt.Pass(bt.ctx(t)); a != (machine.Action{Kind: machine.Shell}) {
		t.Fatalf("first pass = %v, want the shell\n%s", a, bt.out)
	}
	bt.loads.FileLoadErr = nil
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("second pass = %v, want kexec\n%s", a, bt.out)
	}
	if bt.asked != nil || bt.requested != "" {
		t.Errorf("after a pass with no handoff: asked %+v, requested %q; want neither", bt.asked, bt.requested)
	}
	if got := bt.loaded(); len(got) == 0 || got[len(got)-1] != "kexec_file_load: root=/dev/vda2 entry=a" {
		t.Errorf("loads %q; want the default, as from the firmware, last", got)
	}
}

// A kexec that fails (main's loop calls KexecFailed, then the shell, then
// Pass again) did not boot the entry: its trial never ran. The record
// Commit wrote for it must not be read back, on the next pass, as a
// trial that failed: that gives the entry 0 tries, passes it over on
// every later boot and blames the kernel for the bootloader's kexec.
func TestPassKexecFailedIsNoFailedTrial(t *testing.T) {
	bt := newBootTest(t)
	// As on a machine: the clock has a monotonic reading, which the time
	// read back from the state file has not, and the trial has a
	// fallback (a pointer in memory, a copy once read back).
	bt.now = time.Now()
	if err := discover.InRoot(bt.root, func(r *os.Root) error {
		return state.Save(r, "warmboot/state", state.State{LastGood: bt.ref(t, "2-a")})
	}); err != nil {
		t.Fatal(err)
	}
	bt.handoff = &handoff.Record{Entry: "1-b", Reason: "test"}
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	bt.KexecFailed() // the kexec returned: B never ran
	bt.out.Reset()
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("second pass = %v\n%s", a, bt.out)
	}
	bt.said(t, `warmboot: boot state: "1-b" never ran (the kexec into it failed): its trial is taken back`)
	if strings.Contains(bt.out.String(), `the trial of "1-b"`) {
		t.Errorf("the second pass took the kexec that failed for a failed trial:\n%s", bt.out)
	}
	if s := bt.state(t); s.LastFailure != nil || s.OutOfTries("1-b", "") {
		t.Errorf("state after a failed kexec and a second pass: last failure %+v, tries %v; want no failure recorded for B", s.LastFailure, s.TriesLeft)
	}
}

// When nothing boots, the bootloader waits warmboot.rescue for a key on
// any console: a key gives the rescue shell; no key, or no console that
// can be read, reboots through the firmware (back to the bootloader and
// its fallback chain); 0 is the shell at once. The clock is a fake: no
// test waits.
func TestRescue(t *testing.T) {
	const prompt = "warmboot: press any key for a rescue shell; no console input for 300s: rebooting (warmboot.rescue=0 waits forever)"
	fired := func() <-chan time.Time {
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	for _, tc := range []struct {
		name    string
		rescue  time.Duration
		key     bool // a key is pressed
		noInput bool // no console can be read (the key channel is closed)
		timer   bool // the timer runs out
		want    machine.Kind
		said    []string
	}{
		{name: "no key", rescue: 300 * time.Second, timer: true, want: machine.Reboot,
			said: []string{prompt, "warmboot: no console input for 300s: rebooting"}},
		{name: "a key", rescue: 300 * time.Second, key: true, want: machine.Shell, said: []string{prompt}},
		{name: "no console", rescue: 300 * time.Second, noInput: true, timer: true, want: machine.Reboot,
			said: []string{prompt, "warmboot: no console input for 300s: rebooting"}},
		{name: "wait forever", rescue: 0, want: machine.Shell},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bt := newBootTest(t)
			bt.loads.FileLoadErr = func(string) error { return syscall.EPERM }
			bt.cfg.Rescue = tc.rescue
			var asked []time.Duration
			bt.after = func(d time.Duration) <-chan time.Time {
				asked = append(asked, d)
				if tc.timer {
					return fired()
				}
				return nil // never
			}
			if tc.key {
				bt.keys <- 'x'
			}
			if tc.noInput {
				close(bt.keys)
			}
			a := bt.Pass(bt.ctx(t))
			if a != (machine.Action{Kind: tc.want}) {
				t.Fatalf("Pass() = %v, want %v\n%s", a, tc.want, bt.out)
			}
			bt.said(t, append([]string{"warmboot: nothing could be booted:"}, tc.said...)...)
			if tc.rescue == 0 {
				if len(asked) > 0 || strings.Contains(bt.out.String(), "rescue") {
					t.Errorf("warmboot.rescue=0 waited (%v) or said so:\n%s", asked, bt.out)
				}
				return
			}
			if want := []time.Duration{tc.rescue}; !slices.Equal(asked, want) {
				t.Errorf("timers = %v, want %v", asked, want)
			}
			if tc.want == machine.Shell && strings.Contains(bt.out.String(), "rebooting\n") {
				t.Errorf("said it reboots, then gave the shell:\n%s", bt.out)
			}
		})
	}
}

// After a failed kexec main asks Rescue too: the watchdog is stopped
// first, and with nobody at the console the machine reboots.
func TestRescueAfterKexecFailed(t *testing.T) {
	bt := newBootTest(t)
	bt.cfg.Rescue = 10 * time.Second
	bt.after = func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("Pass() = %v, want kexec\n%s", a, bt.out)
	}
	bt.KexecFailed()
	if a := bt.Rescue(bt.ctx(t)); a != (machine.Action{Kind: machine.Reboot}) {
		t.Fatalf("Rescue() = %v, want reboot\n%s", a, bt.out)
	}
	bt.said(t, "no console input for 10s: rebooting (warmboot.rescue=0 waits forever)", "warmboot: no console input for 10s: rebooting")
}

// Where the firmware starts GRUB (warmboot.firmware=grub: warmswap -load
// loaded the bootloader for a reboot), the bootloader's own trial (a
// kernel upgrade made B the default while A is last-known-good) sets
// GRUB's next_entry to A before the kexec: a reset during the trial goes
// to GRUB, which boots A once. On XFS, where the bootloader does not
// write, the trial is said to be unguarded there.
func TestPassGRUBFirmwareOneShot(t *testing.T) {
	bt := newBootTest(t)
	os.RemoveAll(filepath.Join(bt.root, "loader"))
	os.MkdirAll(filepath.Join(bt.root, "boot/grub"), 0o755)
	for _, n := range []string{"vmlinuz-a", "vmlinuz-b"} {
		os.Rename(filepath.Join(bt.root, n), filepath.Join(bt.root, "boot", n))
	}
	os.WriteFile(filepath.Join(bt.root, "boot/grub/grub.cfg"), []byte(`if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
fi
menuentry 'B' --id b { linux /boot/vmlinuz-b entry=b }
submenu 'Advanced' --id adv {
menuentry 'A' --id a { linux /boot/vmlinuz-a entry=a }
menuentry 'B' --id b2 { linux /boot/vmlinuz-b entry=b }
}
`), 0o644)
	k, _ := os.ReadFile(filepath.Join(bt.root, "boot/vmlinuz-a"))
	a := state.Boots(sha256.Sum256(k), nil, "BOOT_IMAGE=/boot/vmlinuz-a entry=a")
	discover.InRoot(bt.root, func(r *os.Root) error {
		return state.Save(r, "boot/warmboot/state", state.State{LastGood: &state.Ref{ID: "a", Boots: a}})
	})
	bt.cfg.Firmware, bt.commit.Chain = "grub", "grub"
	if act := bt.Pass(bt.ctx(t)); act != kexecNow {
		t.Fatalf("pass = %v\n%s", act, bt.out)
	}
	bt.said(t, `warmboot: booting "B"`, `warmboot: firmware path: set grub next_entry="adv>a" in vda1:/boot/grub/grubenv: a reset during the trial boots "a" once`)
	blk, _ := os.ReadFile(filepath.Join(bt.root, "boot/grub/grubenv"))
	if vars, _ := grubenv.Map(blk); vars["next_entry"] != "adv>a" {
		t.Errorf("grubenv = %v", vars)
	}
	s, _ := state.Read(os.DirFS(bt.root), "boot/warmboot/state")
	if s.Trial == nil || s.Trial.Firmware == nil || s.Trial.Firmware.Device != "vda1" || s.Trial.Firmware.File != "/boot/grub/grubenv" {
		t.Errorf("the trial does not record the one-shot for bless: %+v", s.Trial)
	}
}

// Where the firmware starts systemd-boot or the kernel itself, the
// bootloader's own trial sets no one-shot (those are UEFI variables,
// which warmswap sets before its kexec): it says the trial is not
// protected there, and boots it.
func TestPassUEFIFirmwareUnprotected(t *testing.T) {
	for _, fw := range []string{"systemd-boot", "uefi-entry"} {
		bt := newBootTest(t)
		discover.InRoot(bt.root, func(r *os.Root) error {
			return state.Save(r, "warmboot/state", state.State{LastGood: &state.Ref{ID: "2-a", Boots: "elsewhere"}})
		})
		bt.cfg.Firmware, bt.commit.Chain = fw, fw
		if act := bt.Pass(bt.ctx(t)); act != kexecNow {
			t.Fatalf("%s: pass = %v\n%s", fw, act, bt.out)
		}
		bt.said(t, "the bootloader sets only GRUB's one-shot entry, not "+fw+"'s (warmswap -entry sets it before its kexec): a reset during the trial of")
	}
}

// ref names entry id of bt's disks as the bootloader knows it across
// boots: by its id and what it boots.
func (bt *bootTest) ref(t *testing.T, id string) *state.Ref {
	t.Helper()
	m, _ := bt.discover()
	i := m.Find(id)
	if i < 0 {
		t.Fatalf("no entry %q", id)
	}
	return &state.Ref{ID: id, Source: m.Entries[i].Source, Boots: nextboot.Boots(m, nil)(i)}
}
