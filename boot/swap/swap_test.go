package swap

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/coldpath"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/initramfs"
	"github.com/warmboot/warmboot/boot/installed"
	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/payload"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/sumcache"
	"github.com/warmboot/warmboot/boot/swap/swaptest"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/internal/testtool"
)

const cmdA = swaptest.CmdA

func system(t *testing.T, policy string) string { return swaptest.System(t, policy) }

func env(root string) Env {
	return Env{Root: root, Now: func() time.Time { return time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC) },
		Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 32)), Hostname: "h", Release: "6.1.0-56-amd64"}
}

// segment reads the files of a staged image's initramfs.
func segment(t *testing.T, im *kexec.Image) map[string][]byte {
	t.Helper()
	data, err := io.ReadAll(io.NewSectionReader(im.Initrd, 0, im.InitrdSize))
	if err != nil {
		t.Fatal(err)
	}
	files, err := initramfs.Read(data, func(n string) bool { return strings.HasPrefix(n, ".warmboot/") })
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestPreflightEntry(t *testing.T) {
	root := system(t, "")
	p, err := Preflight(env(root), Request{Entry: "a", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer done(p)
	if p.Mode != ViaBootloader || p.Record == nil || p.Record.Entry != "a" {
		t.Fatalf("plan = %+v, want the bootloader with a handoff for a", p)
	}
	if want := "warmboot.wait=3 console=tty0 console=ttyS0,115200 warmboot.firmware=warmboot"; p.Image.Cmdline != want {
		t.Errorf("bootloader cmdline = %q, want %q", p.Image.Cmdline, want)
	}
	r, err := handoff.ParseRecord(segment(t, p.Image)[".warmboot/handoff.json"])
	if err != nil {
		t.Fatal(err)
	}
	if r.Entry != "a" || r.From != "h 6.1.0-56-amd64" || r.Reason != "test" || len(r.SeedBytes()) != 32 {
		t.Errorf("record = %+v", r)
	}
	var verified bool
	for _, c := range p.Checks {
		verified = verified || (c.What == "verification" && strings.HasPrefix(c.Result, "verified: signed by ed25519:"))
	}
	if !verified {
		t.Errorf("checks %v do not say the target verified", p.Checks)
	}
}

func TestPreflightKernel(t *testing.T) {
	root := system(t, "")
	req := Request{Kernel: "/boot/vmlinuz", Initrds: []string{"/boot/initrd.img"}, Cmdline: cmdA, CmdlineSet: true}
	e := env(root)
	p, err := Preflight(e, req)
	if err != nil {
		t.Fatal(err)
	}
	defer done(p)
	if p.Record.Kernel == nil || p.Record.Kernel.Path != "/boot/vmlinuz" || p.Record.Kernel.Cmdline != cmdA {
		t.Fatalf("record = %+v, want the kernel handed over", p.Record)
	}
	files := segment(t, p.Image)
	for _, n := range []string{".warmboot/fs/boot/vmlinuz", ".warmboot/fs/boot/initrd.img", ".warmboot/fs/boot/warmboot/a.manifest"} {
		if len(files[n]) == 0 {
			t.Errorf("handoff has no %s (has %d files)", n, len(files))
		}
	}
	// Without -cmdline the running kernel's is reused, minus what a boot
	// loader adds; that one is not signed, so enforce refuses it.
	req.CmdlineSet, req.Cmdline = false, ""
	if _, err := Preflight(e, req); err == nil || !strings.Contains(err.Error(), "would be refused by the bootloader") {
		t.Errorf("unsigned cmdline: %v", err)
	}
	if got := reuse("BOOT_IMAGE=/boot/vmlinuz initrd=x console=ttyS0 warmboot.timeout=5 quiet"); got != "console=ttyS0 quiet" {
		t.Errorf("reuse = %q", got)
	}
}

func TestPreflightDirect(t *testing.T) {
	root := system(t, "")
	p, err := Preflight(env(root), Request{Entry: "A", Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	defer done(p)
	// A trial (nothing is known good yet): panic=N from the bootloader's
	// defaults, the trial recorded with no fallback known.
	if p.Mode != Direct || p.Image.Cmdline != cmdA+" panic=10 watchdog.open_timeout=300" || p.Record != nil {
		t.Fatalf("plan = %+v, want a direct kexec of a", p)
	}
	if tr := p.Trial; tr == nil || !tr.Guarded || tr.State.Trial == nil || tr.State.Trial.By != "warmswap -direct" || tr.State.Trial.DeadlineSeconds != 300 {
		t.Fatalf("trial = %+v", p.Trial)
	}
	b, err := handoff.ParseBooted(segment(t, p.Image)[".warmboot/booted.json"])
	if err != nil {
		t.Fatal(err)
	}
	if b.Entry != "a" || b.By != "warmswap -direct" || !strings.Contains(b.Trust, "policy=enforce") {
		t.Errorf("booted = %+v", b)
	}
}

func TestPreflightRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(root string, e *Env, r *Request)
		is    error
		msg   string
	}{
		{"not root", func(_ string, e *Env, _ *Request) { e.Euid = 1000 }, ErrNotRoot, "privileges: warmswap must run as root"},
		{"kexec disabled", func(root string, _ *Env, r *Request) {
			r.Entry = "a"
			os.WriteFile(filepath.Join(root, "proc/sys/kernel/kexec_load_disabled"), []byte("1\n"), 0o644)
		}, ErrKexecOff, "kernel.kexec_load_disabled=1"},
		{"no bootloader", func(root string, _ *Env, _ *Request) { os.Remove(filepath.Join(root, "boot/warmboot/vmlinuz")) }, installed.ErrNoImage, "/boot/warmboot/vmlinuz: no such file or directory"},
		{"no such entry", func(_ string, _ *Env, r *Request) { r.Entry = "zzz" }, ErrNoEntry, `no such entry "zzz"; entries: b, a`},
		{"unsigned entry", func(_ string, _ *Env, r *Request) { r.Entry = "b" }, nil, `verification: "B" would be refused by the bootloader (policy enforce): does not match its signed manifest: the entry has 0 initrds`},
		{"tampered kernel", func(root string, _ *Env, r *Request) {
			f, _ := os.OpenFile(filepath.Join(root, "boot/vmlinuz"), os.O_WRONLY, 0)
			f.WriteAt([]byte{1}, 5000)
			f.Close()
			r.Entry = "a"
		}, nil, "kernel"},
		{"an image that reads state version 1", func(root string, _ *Env, r *Request) {
			// An image built before this release: its records file
			// (here replacing the current one) says version 1.
			old, _ := handoff.Segment(map[string][]byte{"/" + installed.RecordsFile: []byte("state 1\nbooted 1\nhandoff 1\n")})
			img := filepath.Join(root, "boot/warmboot/initramfs.cpio")
			b, _ := os.ReadFile(img)
			os.WriteFile(img, append(b, old...), 0o644)
			r.Entry = "a"
		}, nil, "bootloader: /boot/warmboot/initramfs.cpio reads boot state version 1 and this warmswap writes version 3"},
		{"teardown not executable", func(root string, _ *Env, r *Request) {
			os.MkdirAll(filepath.Join(root, "etc/warmboot/teardown.d"), 0o755)
			os.WriteFile(filepath.Join(root, "etc/warmboot/teardown.d/10-x"), nil, 0o644)
			r.Entry = "a"
		}, nil, "10-x is not executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := system(t, "")
			e, r := env(root), Request{}
			tc.setup(root, &e, &r)
			p, err := Preflight(e, r)
			var se *Error
			if err == nil || !errors.As(err, &se) || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Preflight = %+v, %v; want an error containing %q", p, err, tc.msg)
			}
		})
	}
}

func TestPreflightNeverKexecAndWarn(t *testing.T) {
	root := system(t, "warn")
	os.MkdirAll(filepath.Join(root, "etc/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/warmboot/never-kexec"), []byte("the NIC hangs after kexec\n"), 0o644)
	p, err := Preflight(env(root), Request{Entry: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != Reboot || p.Image != nil || !strings.Contains(p.Why, "(the NIC hangs after kexec): rebooting through the firmware") {
		t.Errorf("plan = %+v, want a firmware reboot with the reason", p)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "policy warn") {
		t.Errorf("warnings = %v, want the unsigned entry noted", p.Warnings)
	}
}

// Through the bootloader the target is the one-shot next entry, with the
// running entry (booted.json) as its fallback; the bootloader's deadline
// comes from its command line. Swapping to last-known-good is no trial.
func TestPreflightTrial(t *testing.T) {
	root := system(t, "")
	os.MkdirAll(filepath.Join(root, "run/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "run/warmboot/booted.json"), []byte(`{"version":1,"entry":"b","by":"warmboot"}`), 0o644)
	os.WriteFile(filepath.Join(root, "boot/warmboot/cmdline"), []byte("quiet warmboot.deadline=40\n"), 0o644)
	// An older image's booted.json does not say what the firmware
	// starts, and this root has no GRUB: nothing would bring the machine
	// back from a reset, and the swap is refused unless -unprotected.
	if _, err := Preflight(env(root), Request{Entry: "A"}); !errors.Is(err, ErrUnprotected) || !strings.Contains(err.Error(), "-unprotected") {
		t.Fatalf("Preflight with an unknown cold path = %v, want %v", err, ErrUnprotected)
	}
	p, err := Preflight(env(root), Request{Entry: "A", Unprotected: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(p.Warnings, "\n"), "-unprotected: if \"a\" fails, nothing brings the machine back to \"b\"") {
		t.Errorf("warnings = %q", p.Warnings)
	}
	done(p)
	tr := p.Trial
	if tr == nil || !tr.Guarded || tr.Config.Deadline != 40*time.Second || tr.Fallback.ID != "b" || tr.State.Next == nil || tr.State.Next.Entry.ID != "a" || tr.State.Next.Fallback.ID != "b" || tr.State.Trial != nil {
		t.Fatalf("trial = %+v", tr)
	}
	r, _ := os.OpenRoot(root)
	defer r.Close()
	if err := state.Save(r, state.HostFile(root), state.State{LastGood: swaptest.Ref(t, root, "a")}); err != nil {
		t.Fatal(err)
	}
	p, err = Preflight(env(root), Request{Entry: "A"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if p.Trial.Guarded {
		t.Errorf("swapping to last-known-good is a trial: %+v", p.Trial)
	}
}

// A payload in /boot/warmboot (no vmlinuz or initramfs beside it) is the
// bootloader: loaded alone, the handoff its only initrd, its trust read
// from the image inside it. warmboot.efi is found by the same rule
// (package installed's tests: which file is the image, and its trust).
func TestPreflightPayload(t *testing.T) {
	for _, name := range installed.PayloadFiles {
		root := system(t, "")
		wb := filepath.Join(root, "boot/warmboot")
		img, err := os.ReadFile(filepath.Join(wb, "initramfs.cpio"))
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(wb, "initramfs.cpio"))
		os.Remove(filepath.Join(wb, "vmlinuz"))
		kernel := append([]byte("kernel code"), payload.ConsoleArchive()...)
		kernel = append(kernel, img...)
		kernel = append(kernel, "kernel data"...)
		if err := os.WriteFile(filepath.Join(wb, name), testtool.ZstdBzImage(kernel), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Preflight(env(root), Request{Entry: "a"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		segs := segment(t, p.Image)
		done(p)
		if p.Mode != ViaBootloader || p.Trust.Policy != trust.Enforce || segs[".warmboot/handoff.json"] == nil {
			t.Errorf("%s: plan %+v, trust %v", name, p, p.Trust)
		}
		if !slices.ContainsFunc(p.Checks, func(c Check) bool {
			return strings.Contains(c.Result, "payload /boot/warmboot/"+name+" (policy enforce")
		}) {
			t.Errorf("%s: checks %q do not name the payload", name, p.Checks)
		}
	}
}

// TestPreflightSums: a swap through the bootloader checks the target with
// the digests this system already took (env.Sums) and reads nothing
// again: a digest remembered for the initrd that does not match its
// manifest refuses the swap, which reading the file would not. -direct
// hashes the bytes it loads and is not fooled. An unknown file is read
// and remembered.
func TestPreflightSums(t *testing.T) {
	root := system(t, "")
	initrd := filepath.Join(root, "boot/initrd.img")
	st, err := os.Stat(initrd)
	if err != nil {
		t.Fatal(err)
	}
	id, _, ok := sys.FileID(st)
	if !ok {
		t.Skip("no file ids on this system")
	}
	cache := filepath.Join(t.TempDir(), "sums")
	wrong := fmt.Sprintf("%x %d %s\n", bytes.Repeat([]byte{0xee}, 32), time.Now().Add(time.Hour).UnixNano(), id)
	if err := os.WriteFile(cache, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	e := env(root)
	e.Sums = sumcache.Open(cache)
	_, err = Preflight(e, Request{Entry: "a"})
	if err == nil || !strings.Contains(err.Error(), "initrd vda2:/boot/initrd.img has SHA-256 eeeeeeeeeeeeeeee") {
		t.Fatalf("through the bootloader with a remembered digest = %v; want the remembered (wrong) digest refused, the file not read again", err)
	}
	p, err := Preflight(e, Request{Entry: "a", Direct: true})
	if err != nil {
		t.Fatalf("-direct = %v; want the staged bytes hashed, not the cache used", err)
	}
	done(p)

	// A cache that knows nothing: the files are read and remembered (the
	// digests are usable once the files are older than sumcache.Racy:
	// package sumcache's tests).
	fresh := filepath.Join(t.TempDir(), "sums")
	e.Sums = sumcache.Open(fresh)
	if p, err = Preflight(e, Request{Entry: "a"}); err != nil {
		t.Fatal(err)
	}
	done(p)
	if err := e.Sums.Save(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(fresh); err != nil || !strings.Contains(string(b), fmt.Sprintf("%x", sha256.Sum256(mustRead(t, initrd)))+" ") {
		t.Errorf("the cache after a check = %q, %v; want the initrd's digest remembered", b, err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oldImage makes the installed image one built before this release: its
// records file says it reads boot state version 1 (an image without the
// file reads the same).
func oldImage(t *testing.T, root string) {
	t.Helper()
	old, err := handoff.Segment(map[string][]byte{"/" + installed.RecordsFile: []byte("state 1\nbooted 1\nhandoff 1\n")})
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(root, "boot/warmboot/initramfs.cpio")
	if err := os.WriteFile(img, append(mustRead(t, img), old...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The state a -direct swap records (its trial) and the one-shot entry a
// firmware reboot leaves (never-kexec) are read by the installed image,
// not by warmswap: after the target panics or hangs, the watchdog resets
// the machine through the firmware into that image, and after a firmware
// reboot it is the image that boots next. An image that reads only state
// version 1 takes this release's version 2 for a corrupt file: the trial
// is not seen as failed (no fallback), last-known-good and the kept
// default are gone, and the file is replaced with an empty state. The
// guard that refuses this through the bootloader must hold on every path
// that writes a state the image reads.
func TestPreflightRecordsEveryPath(t *testing.T) {
	t.Run("direct", func(t *testing.T) {
		root := system(t, "")
		oldImage(t, root)
		p, err := Preflight(env(root), Request{Entry: "a", Direct: true})
		if p != nil && p.Image != nil {
			done(p)
		}
		if err == nil || !strings.Contains(err.Error(), "reads boot state version 1") {
			t.Errorf("Preflight(-direct) with an image that reads state version 1 = %v; want it refused (the trial it records is read by that image after a reset)", err)
		}
	})
	t.Run("never-kexec", func(t *testing.T) {
		root := system(t, "")
		oldImage(t, root)
		os.MkdirAll(filepath.Join(root, "etc/warmboot"), 0o755)
		os.WriteFile(filepath.Join(root, "etc/warmboot/never-kexec"), []byte("the NIC hangs after kexec\n"), 0o644)
		_, err := Preflight(env(root), Request{Entry: "a"})
		if err == nil || !strings.Contains(err.Error(), "reads boot state version 1") {
			t.Errorf("Preflight(firmware reboot) with an image that reads state version 1 = %v; want it refused (the one-shot entry it records is read by that image next)", err)
		}
	})
}

// On a machine whose firmware starts GRUB (no booted.json: GRUB booted
// the running system), the swap makes GRUB boot the running entry once,
// by its menu path, before anything stops; the state records it for bless.
func TestPreflightGRUBColdPath(t *testing.T) {
	root := grubColdPath(t)
	p, err := Preflight(env(root), Request{Entry: "A"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	tr := p.Trial
	if p.Firmware.Loader != coldpath.GRUB || tr == nil || tr.OneShot == nil || tr.OneShot.Value != "adv>gb" || tr.Fallback == nil || tr.Fallback.ID != "gb" || tr.State.Next.Firmware == nil {
		t.Fatalf("firmware %+v, trial %+v", p.Firmware, tr)
	}
	if !strings.Contains(p.Image.Cmdline, "warmboot.firmware=grub") {
		t.Errorf("bootloader cmdline %q does not say what the firmware starts", p.Image.Cmdline)
	}
	if err := tr.Commit(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	blk, _ := os.ReadFile(filepath.Join(root, "boot/grub/grubenv"))
	if vars, err := grubenv.Map(blk); err != nil || vars["next_entry"] != "adv>gb" {
		t.Errorf("grubenv after Commit: %v, %v", vars, err)
	}
}

// A one-shot someone else asked for (grub-reboot before the swap) is not
// replaced: the swap is refused, naming it and how to clear it, and the
// grubenv is left as it was.
func TestPreflightPendingOneShot(t *testing.T) {
	root := grubColdPath(t)
	coldpath.Set(root, &state.OneShot{Loader: "grub", File: "/boot/grub/grubenv", Var: "next_entry", Value: "rescue"})
	_, err := Preflight(env(root), Request{Entry: "A"})
	if !errors.Is(err, ErrUnprotected) || !strings.Contains(err.Error(), `next_entry is already "rescue"`) || !strings.Contains(err.Error(), "grub-editenv /boot/grub/grubenv unset next_entry") {
		t.Fatalf("Preflight with GRUB's next_entry pending = %v", err)
	}
	blk, _ := os.ReadFile(filepath.Join(root, "boot/grub/grubenv"))
	if vars, _ := grubenv.Map(blk); vars["next_entry"] != "rescue" {
		t.Errorf("grubenv after the refusal: %v", vars)
	}
}

// grubColdPath is a system whose firmware starts GRUB (no booted.json:
// GRUB booted the running system, its entry gb).
func grubColdPath(t *testing.T) string {
	root := system(t, "off")
	os.Remove(filepath.Join(root, "run/warmboot/booted.json"))
	os.MkdirAll(filepath.Join(root, "boot/grub"), 0o755)
	os.WriteFile(filepath.Join(root, "boot/grub/grub.cfg"), []byte(`if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
fi
submenu 'Advanced' --id adv {
menuentry 'B' --id gb {
  linux /boot/vmlinuz
  initrd /boot/initrd.img
}
}
`), 0o644)
	os.WriteFile(filepath.Join(root, "proc/version"), []byte("Linux version 6.1.0-10-amd64 (x) (gcc) #1 SMP Debian 6.1.38-1\n"), 0o644)
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("BOOT_IMAGE=/boot/vmlinuz\n"), 0o644)
	k, _ := os.ReadFile(filepath.Join(root, "boot/vmlinuz"))
	binary.LittleEndian.PutUint16(k[0x20e:], 0x300)
	copy(k[0x500:], "6.1.0-10-amd64 (x) #1 SMP Debian 6.1.38-1\x00")
	os.WriteFile(filepath.Join(root, "boot/vmlinuz"), k, 0o644)
	return root
}

// Where the state sits on a filesystem the bootloader does not write
// (RHEL's XFS /boot), the bootloader could not record a trial through it:
// the swap is refused, pointing at -direct, unless -unprotected.
func TestPreflightStateUnwritableByBootloader(t *testing.T) {
	root := system(t, "off")
	os.WriteFile(filepath.Join(root, "proc/self/mountinfo"), []byte("22 1 254:2 / / rw,relatime - ext4 /dev/vda2 rw\n24 22 254:1 / /boot rw - xfs /dev/vda1 rw\n23 22 0:5 / /proc rw - proc proc rw\n"), 0o644)
	_, err := Preflight(env(root), Request{Entry: "A"})
	if !errors.Is(err, ErrUnprotected) || !strings.Contains(err.Error(), "it is xfs") || !strings.Contains(err.Error(), "warmswap -direct") {
		t.Fatalf("Preflight with the state on XFS = %v", err)
	}
	if p, err := Preflight(env(root), Request{Entry: "A", Direct: true}); err != nil {
		t.Errorf("-direct records the trial itself: %v", err)
	} else {
		done(p)
	}
}

// done closes what a plan staged and lets go of the state it locked, as
// warmswap does after a dry run: a plan left locked would hold up the
// next Preflight until its file was collected.
func done(p *Plan) {
	if p.Image != nil {
		p.Image.Close()
	}
	p.Release()
}
