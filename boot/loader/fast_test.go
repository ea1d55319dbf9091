package loader

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/nextboot"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/internal/testtool"
)

// fastTest is newBootTest with a second disk, vdb1, a data filesystem
// the running system mounts (no configs), and each disk's filesystem
// UUID; the handoff asks for B on vda1 and says where the running
// system found it.
func fastTest(t *testing.T) (*bootTest, *handoff.Record) {
	t.Helper()
	bt := newBootTest(t)
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "data"), []byte("not a boot config"), 0o644)
	bt.dirs["vdb1"] = other
	uuids := map[string]string{"vda1": "aaaa-1", "vdb1": "bbbb-2", "vdc1": "cccc-3"}
	bt.Loader.disks.FSID = func(n string) discover.FSID {
		if _, ok := bt.dirs[n]; !ok {
			return discover.FSID{}
		}
		return discover.FSID{Type: "ext", UUID: uuids[n]}
	}
	kernel, err := os.ReadFile(filepath.Join(bt.root, "vmlinuz-b"))
	if err != nil {
		t.Fatal(err)
	}
	r := &handoff.Record{Entry: "1-b", Reason: "warmswap", Found: &handoff.Found{
		Volumes: []string{"aaaa-1"},
		Boots:   state.Boots(sha256.Sum256(kernel), nil, "root=/dev/vda2 entry=b"),
		Entries: handoff.MenuIDs([]string{"2-a", "1-b"}),
		Others:  []string{"bbbb-2"},
	}}
	bt.handoff = r
	bt.timeout(-1) // a menu would wait forever
	return bt, r
}

// espWithState is an ESP's directory (EFI/BOOT) holding a boot state
// whose last good entry is A, as earlier cold boots leave it.
func espWithState(t *testing.T) string {
	t.Helper()
	esp := t.TempDir()
	os.MkdirAll(filepath.Join(esp, "EFI/BOOT"), 0o755)
	if err := discover.InRoot(esp, func(r *os.Root) error {
		return state.Save(r, "warmboot/state", state.State{LastGood: &state.Ref{ID: "2-a"}})
	}); err != nil {
		t.Fatal(err)
	}
	return esp
}

// fatAt makes device a FAT filesystem with the serial uuid, to the
// superblock reader and the mounter.
func (bt *bootTest) fatAt(device, uuid string) {
	bt.fstype[device] = "vfat"
	fsid := bt.Loader.disks.FSID
	bt.Loader.disks.FSID = func(n string) discover.FSID {
		if n == device {
			return discover.FSID{Type: "vfat", UUID: uuid}
		}
		return fsid(n)
	}
}

const trialB = "kexec_file_load: root=/dev/vda2 entry=b panic=7 watchdog.open_timeout=90"

// Nothing changed since warmswap: the entry's filesystem alone is
// mounted, and B boots as a trial recorded in the state beside it.
func TestFastPathTaken(t *testing.T) {
	bt, _ := fastTest(t)
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	if diff := gocmp.Diff([]string{"vda1"}, bt.mounted); diff != "" {
		t.Errorf("mounted (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{trialB}, bt.loaded()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	bt.said(t, "fast path: mounted only vda1: the filesystems the handoff names, and any the running system does not mount (1 other devices not read)",
		`trial: "B" recorded in vda1:/warmboot/state`)
	if s := bt.state(t); s.Trial == nil || s.Trial.Entry.ID != "1-b" {
		t.Errorf("state: %+v", s)
	}
}

// Whatever differs, the fast path gives way to every disk before
// anything is loaded or written, and the boot is the one a bootloader
// without it makes: B, from the files it reads now, as a trial.
func TestFastPathNotTaken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(bt *bootTest, f *handoff.Found)
		why    string
	}{
		{"kernel changed", func(bt *bootTest, _ *handoff.Found) {
			os.WriteFile(filepath.Join(bt.root, "vmlinuz-b"), testtool.BzImage(5120), 0o644)
		}, `fast path not taken: "B": the entry's files are not the ones the running system read`},
		{"filesystem absent", func(_ *bootTest, f *handoff.Found) { f.Volumes = []string{"aaaa-1", "eeee-5"} },
			"fast path not taken: no device has the filesystem UUID eeee-5 the handoff names"},
		{"another entry", func(_ *bootTest, f *handoff.Found) { f.Entries = handoff.MenuIDs([]string{"2-a", "1-b", "0-new"}) },
			"fast path not taken: the entries on vda1 are not the ones the running system saw"},
		{"cloned disk", func(bt *bootTest, _ *handoff.Found) {
			bt.Loader.disks.FSID = func(n string) discover.FSID { return discover.FSID{Type: "ext", UUID: "aaaa-1"} }
		}, "fast path not taken: the filesystem UUID aaaa-1 is on vda1 and vdb1"},
		{"entry gone", func(bt *bootTest, f *handoff.Found) {
			os.Remove(filepath.Join(bt.root, "loader/entries/1-b.conf"))
			f.Entries = handoff.MenuIDs([]string{"2-a"})
		}, `fast path not taken: no entry "1-b" on the filesystems the handoff names`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bt, r := fastTest(t)
			tc.change(bt, r.Found)
			bt.timeout(0) // the menu, if it comes to one, boots its default
			a := bt.Pass(bt.ctx(t))
			bt.said(t, tc.why, "looking on every disk")
			if tc.name == "entry gone" {
				bt.said(t, `the handoff asks for entry "1-b", which no disk has`)
				return
			}
			if a != kexecNow {
				t.Fatalf("pass = %v\n%s", a, bt.out)
			}
			if diff := gocmp.Diff([]string{trialB}, bt.loaded()); diff != "" {
				t.Errorf("loads (-want +got):\n%s", diff)
			}
			if !slices.Contains(bt.mounted, "vdb1") && tc.name != "cloned disk" {
				t.Errorf("not every disk was mounted: %v", bt.mounted)
			}
			if strings.Count(bt.out.String(), "trial: \"B\" recorded") != 1 {
				t.Errorf("the trial was not recorded once:\n%s", bt.out)
			}
		})
	}
}

// An ESP the running system does not mount (nothing names it in the
// handoff) is mounted anyway: the state on it is the one every boot
// reads, and the trial is recorded there, not beside the configs.
func TestFastPathESPState(t *testing.T) {
	bt, _ := fastTest(t)
	esp := espWithState(t)
	bt.dirs["vdc1"] = esp
	bt.fatAt("vdc1", "ABCD-0001")
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	if diff := gocmp.Diff([]string{"vda1", "vdc1"}, bt.mounted); diff != "" {
		t.Errorf("mounted (-want +got):\n%s", diff)
	}
	bt.said(t, `trial: "B" recorded in vdc1:/warmboot/state`)
	s, err := state.Read(os.DirFS(esp), "/warmboot/state")
	if err != nil || s.Trial == nil || s.LastGood == nil || s.LastGood.ID != "2-a" {
		t.Errorf("the ESP's state: %+v, %v", s, err)
	}
}

// A disk the running system does not mount, holding entries of its own
// and the state cold boots keep there: read by the fast path too, whose
// menu then differs; every disk is read, and the trial goes where a cold
// boot finds it.
func TestFastPathUnmountedDisk(t *testing.T) {
	bt, _ := fastTest(t)
	disk := t.TempDir()
	os.MkdirAll(filepath.Join(disk, "loader/entries"), 0o755)
	os.WriteFile(filepath.Join(disk, "loader/entries/3-c.conf"), []byte("title C\nlinux /vmlinuz-c\noptions entry=c\n"), 0o644)
	os.WriteFile(filepath.Join(disk, "vmlinuz-c"), testtool.BzImage(4096), 0o644)
	if err := discover.InRoot(disk, func(r *os.Root) error {
		return state.Save(r, "warmboot/state", state.State{LastGood: &state.Ref{ID: "2-a"}})
	}); err != nil {
		t.Fatal(err)
	}
	bt.dirs["vdc1"] = disk
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	bt.said(t, "fast path not taken: the entries on vda1, vdc1 are not the ones the running system saw",
		`trial: "B" recorded in vdc1:/warmboot/state`)
}

// The running system's USB storage (here an ESP it does not mount,
// holding the state cold boots read) still being probed: the fast path
// waits for its filesystems, within FastWait, and reads them.
func TestFastPathUSBProbed(t *testing.T) {
	bt, r := fastTest(t)
	r.Found.USB = []string{"ABCD-0002"}
	esp := espWithState(t)
	bt.fatAt("sda1", "ABCD-0002")
	usb := "USB storage 1-1 still being probed"
	bt.Loader.disks.USB = func(time.Time) string { return usb }
	bt.then = map[int]func(){2: func() { bt.dirs["sda1"], usb = esp, "" }}
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	bt.said(t, "fast path: mounted only", `trial: "B" recorded in sda1:/warmboot/state`)

	// No USB storage on the running system: USB still settling (a root
	// hub, a BMC's keyboard) is not waited for.
	bt, _ = fastTest(t)
	bt.Loader.disks.USB = func(time.Time) string { return "USB devices still appearing" }
	start := bt.now
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	bt.said(t, "fast path: mounted only vda1")
	if waited := bt.now.Sub(start); waited > 0 {
		t.Errorf("the fast path waited %s for USB with no storage on the running system", waited)
	}
}

// A disk still being probed when the bootloader starts: the fast path
// waits for it a little (FastWait), mounting nothing else meanwhile.
func TestFastPathLateDisk(t *testing.T) {
	bt, _ := fastTest(t)
	root := bt.dirs["vda1"]
	delete(bt.dirs, "vda1")
	bt.then = map[int]func(){3: func() { bt.dirs["vda1"] = root }}
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	if diff := gocmp.Diff([]string{"vda1"}, bt.mounted); diff != "" {
		t.Errorf("mounted (-want +got):\n%s", diff)
	}

	// Never there: every disk after FastWait, not Config.Wait.
	bt, r := fastTest(t)
	r.Found.Volumes = []string{"dddd-4"}
	start := bt.now
	bt.Pass(bt.ctx(t))
	if waited := bt.now.Sub(start); waited < FastWait || waited > FastWait+time.Second {
		t.Errorf("waited %s for a filesystem that never came; want about %s", waited, FastWait)
	}
	bt.said(t, "fast path not taken: no device has the filesystem UUID dddd-4")
}

// A record whose Found names nothing is read as one without it.
func TestParseRecordFound(t *testing.T) {
	r, err := handoff.ParseRecord([]byte(`{"version":1,"entry":"b","found":{"volumes":[],"boots":"x","entries":"y"}}`))
	if err != nil || r.Found != nil {
		t.Errorf("record with no volumes: %+v, %v", r.Found, err)
	}
	r, err = handoff.ParseRecord([]byte(`{"version":1,"entry":"b","found":{"volumes":["u"],"boots":"x","entries":"y"}}`))
	if err != nil || r.Found == nil || r.Found.Volumes[0] != "u" {
		t.Errorf("record: %+v, %v", r.Found, err)
	}
}

// What an entry boots is taken from the files this pass has read (the
// entry handed over, read before the state's rules): the configs'
// default booting the same files is not read again.
func TestBootsOfReadFiles(t *testing.T) {
	bt, _ := fastTest(t)
	m := choose.Rank(discover.Scan([]entry.Volume{{FS: os.DirFS(bt.root), Dir: bt.root, Device: "vda1"}}))
	i := m.Find("1-b")
	e := m.Entries[i]
	read := nextboot.Boots(m, nil)(i)
	remembered := sha256.Sum256([]byte("the bytes this pass read"))
	bt.digests = map[[2]string][32]byte{{e.Root, e.Kernel}: remembered}
	if got, want := bt.bootsOf(m)(i), state.EntryBoots(e, remembered, nil, e.Cmdline); got != want || got == read {
		t.Errorf("bootsOf = %.12s, want %.12s (the remembered digest, not the file's %.12s)", got, want, read)
	}
	// A handed-over pass remembers what it read.
	bt.digests = nil
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	kernel, _ := os.ReadFile(filepath.Join(bt.root, "vmlinuz-b"))
	if d, ok := bt.digests[[2]string{e.Root, e.Kernel}]; !ok || d != sha256.Sum256(kernel) {
		t.Errorf("digests after the pass: %x", bt.digests)
	}
}

// The entry fails after it was read and verified (its load): every
// disk is read for what follows, but the entry is not measured and
// loaded a second time.
func TestFastPathLoadFails(t *testing.T) {
	bt, _ := fastTest(t)
	bt.loads.FileLoadErr = func(cmdline string) error {
		if strings.Contains(cmdline, "entry=b") {
			return syscall.EPERM
		}
		return nil
	}
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	tries := 0
	for _, l := range bt.loaded() {
		if strings.Contains(l, "entry=b") {
			tries++
		}
	}
	if tries != 1 {
		t.Errorf("B loaded %d times; want once\n%s", tries, bt.out)
	}
	bt.said(t, `fast path not taken: "B": loading /vmlinuz-b`, `cannot boot "B"`, `booting "A"`)
}
