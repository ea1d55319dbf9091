package raid

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/internal/testtool"
)

// sb1 makes a 1.x superblock.
func sb1(uuid byte, name string, disks uint32, events uint64) []byte {
	b := make([]byte, 4096)
	le := binary.LittleEndian
	le.PutUint32(b[0:], Magic)
	le.PutUint32(b[4:], 1)
	for i := 16; i < 32; i++ {
		b[i] = uuid
	}
	copy(b[32:64], name)
	le.PutUint32(b[72:], 1)
	le.PutUint32(b[92:], disks)
	le.PutUint64(b[200:], events)
	return b
}

// member writes a sparse device image of size bytes with sb at the
// version's offset, and its sysfs dev file.
func member(t *testing.T, root, name, version string, size int64, sb []byte, dev string) {
	t.Helper()
	p := filepath.Join(root, "dev", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if sb != nil {
		if _, err := f.WriteAt(sb, Offsets(size)[version]); err != nil {
			t.Fatal(err)
		}
	}
	sys := filepath.Join(root, "sys/class/block", name)
	if err := os.MkdirAll(filepath.Join(sys, "holders"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys, "dev"), []byte(dev+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeKernel plays the md driver's sysfs: new_array is a FIFO, and each
// name written to it makes /sys/block/NAME/md with its attributes;
// new_dev is a FIFO too, so every member added is logged.
func fakeKernel(t *testing.T, root string) *[]string {
	t.Helper()
	var log []string
	var mu sync.Mutex
	fifo := func(p string, each func(string)) {
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			return // the test is over
		}
		go func() {
			for {
				b, err := os.ReadFile(p)
				if err != nil {
					return
				}
				mu.Lock()
				each(string(b))
				mu.Unlock()
			}
		}()
	}
	params := filepath.Join(root, "sys/module/md_mod/parameters")
	if err := os.MkdirAll(params, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo(filepath.Join(params, "new_array"), func(name string) {
		md := filepath.Join(root, "sys/block", name, "md")
		os.MkdirAll(md, 0o755)
		log = append(log, "new_array "+name)
		// new_dev first: the assembler waits for metadata_version only
		// (the real driver makes them all at once).
		fifo(filepath.Join(md, "new_dev"), func(devs string) {
			for _, dev := range strings.Fields(devs) {
				log = append(log, name+" new_dev "+dev)
			}
		})
		for _, f := range []string{"metadata_version", "array_state"} {
			os.WriteFile(filepath.Join(md, f), nil, 0o644)
		}
	})
	t.Cleanup(func() {
		// Unblock the readers so their goroutines end.
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
				f, _ := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0)
				if f != nil {
					f.Close()
				}
				os.Remove(p)
			}
			return nil
		})
	})
	return &log
}

func TestAssemble(t *testing.T) {
	root := t.TempDir()
	member(t, root, "sda1", "1.2", 1<<20, sb1(0xaa, "host:boot", 2, 10), "8:1")
	member(t, root, "sdb1", "1.2", 1<<20, sb1(0xaa, "host:boot", 2, 12), "8:17")
	member(t, root, "sdc1", "1.0", 1<<20, sb1(0xbb, "host:data", 2, 5), "8:33")
	member(t, root, "sdd", "1.2", 1<<20, nil, "8:48")
	log := fakeKernel(t, root)
	a := &Assembler{Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev")}
	devs := []string{"sda1", "sdb1", "sdc1", "sdd"}

	// Not final: the complete array starts, the one missing a member waits.
	got := a.Assemble(devs, false)
	if len(got) != 1 || got[0].Err != nil || got[0].String() != "md127: md RAID1 (metadata 1.2, uuid aaaaaaaa:aaaaaaaa:aaaaaaaa:aaaaaaaa) from sdb1, sda1" {
		t.Fatalf("Assemble = %v, want md127 from the freshest member first", got)
	}
	if !a.Pending() {
		t.Error("Pending() = false with the bb array incomplete")
	}
	if !a.Member("sdc1") || a.Member("sdd") {
		t.Error("Member: sdc1 (waiting for its array) must not be mounted alone; sdd is no member")
	}
	state := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(root, "sys/block", name, "md/array_state"))
		v, _ := os.ReadFile(filepath.Join(root, "sys/block", name, "md/metadata_version"))
		return string(v) + " " + string(b)
	}
	if s := state("md127"); s != "1.2 readonly" {
		t.Errorf("md127 metadata and state = %q, want 1.2 readonly", s)
	}
	// The array is not started twice.
	if again := a.Assemble(devs, false); len(again) != 0 {
		t.Errorf("second Assemble = %v, want nothing new", again)
	}
	// Final: the incomplete one starts degraded, under the next name.
	got = a.Assemble(devs, true)
	if len(got) != 1 || got[0].Missing != 1 || got[0].String() != "md126: md RAID1 (metadata 1.0, uuid bbbbbbbb:bbbbbbbb:bbbbbbbb:bbbbbbbb) from sdc1, degraded: 1 of 2 members missing" {
		t.Fatalf("final Assemble = %v", got)
	}
	if s := state("md126"); s != "1.0 readonly" {
		t.Errorf("md126 metadata and state = %q, want 1.0 readonly", s)
	}
	if a.Pending() {
		t.Error("Pending() = true after the final pass")
	}
	time.Sleep(50 * time.Millisecond) // let the fake log the last write
	// Each fake file is read on its own goroutine: compare what went
	// to each file, in order.
	byFile := map[string][]string{}
	for _, l := range *log {
		f := strings.Fields(l)
		byFile[f[0]] = append(byFile[f[0]], f[len(f)-1])
	}
	want := map[string][]string{"new_array": {"md127", "md126"}, "md127": {"8:17", "8:1"}, "md126": {"8:33"}}
	if diff := cmp.Diff(want, byFile); diff != "" {
		t.Errorf("sysfs writes (-want +got):\n%s", diff)
	}
}

func TestAssembleOtherLevels(t *testing.T) {
	root := t.TempDir()
	sb := sb1(0xcc, "host:data", 3, 1)
	binary.LittleEndian.PutUint32(sb[72:], 5)
	member(t, root, "sda3", "1.2", 1<<20, sb, "8:3")
	a := &Assembler{Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev")}
	got := a.Assemble([]string{"sda3"}, true)
	if len(got) != 1 || got[0].String() != "md RAID5 (metadata 1.2, uuid cccccccc:cccccccc:cccccccc:cccccccc) from sda3, degraded: 2 of 3 members missing: RAID level 5 is not assembled: warmboot reads RAID1 arrays only (keep /boot on a mirror)" {
		t.Errorf("Assemble = %v", got)
	}
}

func TestAssembleNoDriver(t *testing.T) {
	root := t.TempDir()
	member(t, root, "sda1", "1.2", 1<<20, sb1(0xaa, "host:boot", 1, 1), "8:1")
	a := &Assembler{Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev")}
	got := a.Assemble([]string{"sda1"}, false)
	if len(got) != 1 || got[0].Err != ErrNoMD {
		t.Fatalf("Assemble = %v, want ErrNoMD", got)
	}
}

func FuzzParseSuperblock(f *testing.F) {
	f.Add("1.2", sb1(1, "h:n", 2, 3))
	f.Add("0.90", make([]byte, 4096))
	f.Fuzz(func(t *testing.T, version string, b []byte) {
		if len(b) > 8192 {
			return
		}
		testtool.Bounded(t, func() {
			sb, ok := ParseSuperblock(version, b)
			if ok && (sb.RaidDisks == 0 || sb.Version != version) {
				t.Fatalf("accepted %+v", sb)
			}
		})
	})
}
