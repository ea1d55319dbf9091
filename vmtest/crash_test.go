package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/images/disk"
	"github.com/warmboot/warmboot/internal/logwrites"
)

// stateWrites is how many state files the crash-point test writes.
const stateWrites = 40

// Power cuts during the state writes, at the block level: a real kernel
// writes the state stateWrites times on a real filesystem (the
// bootloader's own atomic replace, package state) while QEMU's
// blklogwrites driver logs every write and flush the disk sees, in the
// format of the kernel's dm-log-writes. Each prefix of the log is the disk
// as a power cut at that instant leaves it (as xfstests replays
// dm-log-writes), and the state file must read as a valid state, the one
// before or the one after the write in progress: the values seen, prefix
// after prefix, never go back, never skip, never fail to parse. Every
// prefix is checked.
//
// On ext4 the filesystem is first recovered (its journal replayed) by
// e2fsck, as at any mount.
func TestStateCrashPoints(t *testing.T) {
	parallel(t)
	crashPoints(t, disk.FS{Type: "ext4", Label: "root", SizeMiB: 16}, "/boot/warmboot/state")
}

// On FAT (an ESP, where the state is best kept: every loader can write it)
// there is no journal: the state is read as the next boot's kernel reads
// it, with no repair (mtools reads the FAT and directory as they are on
// the disk), and again after fsck.fat -a, as a distribution's boot-time
// fsck leaves it; both must hold.
func TestStateCrashPointsFAT(t *testing.T) {
	parallel(t)
	crashPoints(t, disk.FS{Type: "vfat", Label: "ESP", SizeMiB: 40, ESP: true, FAT32: true}, "/esp/warmboot/state")
}

// crashPoints runs the test with the state at file on fs: fs is the
// root itself (ext4) or a second partition mounted at /esp.
func crashPoints(t *testing.T, fs disk.FS, file string) {
	swapSetup(t)
	root := disk.FS{Type: "ext4", Label: "root", SizeMiB: 16, Files: map[string]disk.File{
		"/sbin/init": {Src: systemBin, Mode: 0o755},
		"/proc/":     {}, "/sys/": {}, "/dev/": {}, "/run/": {}, "/var/lib/wbsys/": {}, "/boot/": {}, "/esp/": {},
	}}
	d, part, name := disk.Disk{Parts: []disk.FS{root}}, 0, file
	if fs.Type != "ext4" {
		d.Parts = append(d.Parts, fs)
		part, name = 1, strings.TrimPrefix(file, "/esp")
	}
	dimg := buildDisk(t, d)
	base, err := os.ReadFile(dimg)
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "writes.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	vm := qemu.StartT(t, "vm", qemu.ArchAMD64,
		qemu.WithKernel(kernel),
		qemu.WithInitramfs(systemImg),
		qemu.WithAppendKernel("console=ttyS0 quiet root=/dev/vda1 wbtest=crash"),
		qemu.WithVMTimeout(4*time.Minute),
		qemu.ArbitraryArgs("-no-reboot",
			"-blockdev", "driver=file,filename="+dimg+",node-name=disk0",
			"-blockdev", "driver=file,filename="+logFile+",node-name=log0",
			"-blockdev", "driver=blklogwrites,file=disk0,log=log0,node-name=logged",
			"-device", "virtio-blk-pci,drive=logged"),
	)
	expect(t, vm, "WARMBOOT-SYSTEM-UP boot=1", "wbsys$ ")
	if part == 1 {
		sh(t, vm, "mount /dev/vda2 /esp vfat", "ok")
	}
	sh(t, vm, fmt.Sprintf("statewrite %d %s", stateWrites, file), "ok")
	vm.Kill()
	vm.Wait()

	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	entries, err := logwrites.Read(f, st.Size(), 1<<30)
	if err != nil {
		t.Fatalf("reading the write log: %v", err)
	}
	img := base
	off, size := d.Offset(part+1), int64(d.Parts[part].SizeMiB)<<20
	dir := t.TempDir()
	img0 := filepath.Join(dir, "part.img")
	prev, checked, fixed, unreadable := 0, 0, 0, 0
	var first int
	for k := 0; k <= len(entries); k++ {
		if k > 0 {
			if err := logwrites.Apply(img, entries[k-1]); err != nil {
				t.Fatalf("entry %d: %v", k-1, err)
			}
		}
		if err := os.WriteFile(img0, img[off:off+size], 0o644); err != nil {
			t.Fatal(err)
		}
		var n int
		if fs.Type == "ext4" {
			out, err := exec.Command("e2fsck", "-fy", img0).CombinedOutput()
			// Exit 1 is the journal replayed, and the superblock's free
			// counts, which ext4 does not journal, recounted; anything else
			// e2fsck fixes is damage the journal did not cover.
			if code := exitCode(err); code > 1 {
				t.Fatalf("crash point %d/%d: e2fsck exit %d:\n%s", k, len(entries), code, out)
			}
			if damaged(string(out)) {
				if fixed++; fixed <= 3 {
					t.Logf("crash point %d: e2fsck repaired:\n%s", k, out)
				}
			}
			got, err := exec.Command("debugfs", "-R", "cat "+name, img0).Output()
			if err != nil {
				t.Fatalf("crash point %d: debugfs: %v", k, err)
			}
			n = stateAt(t, k, len(entries), got)
		} else {
			got, err := fatRead(img0, name)
			switch {
			case err == nil:
				n = stateAt(t, k, len(entries), got)
			case prev == 0:
				// The first write makes the directory: before it is
				// whole, nothing was there to lose.
				unreadable++
			default:
				t.Fatalf("crash point %d/%d: after w%d the state cannot be read as the disk holds it: %v", k, len(entries), prev, err)
			}
			out, err := exec.Command("fsck.fat", "-a", "-w", img0).CombinedOutput()
			if code := exitCode(err); code > 1 {
				t.Fatalf("crash point %d/%d: fsck.fat exit %d:\n%s", k, len(entries), code, out)
			}
			if exitCode(err) == 1 && fatDamaged(string(out)) {
				if fixed++; fixed <= 3 {
					t.Logf("crash point %d: fsck.fat repaired:\n%s", k, out)
				}
			}
			got, err = fatRead(img0, name)
			if err != nil {
				t.Fatalf("crash point %d/%d: after fsck.fat -a the state cannot be read: %v", k, len(entries), err)
			}
			if m := stateAt(t, k, len(entries), got); m != n && !(n == 0 && prev == 0 && m <= 1) {
				t.Fatalf("crash point %d/%d: the state is w%d as the disk is, w%d after fsck.fat", k, len(entries), n, m)
			}
		}
		if n < prev || n > prev+1 {
			t.Fatalf("crash point %d/%d: state w%d after w%d: a write was lost or torn", k, len(entries), n, prev)
		}
		if n > 0 && first == 0 {
			first = k
		}
		prev = n
		checked++
	}
	if prev != stateWrites {
		t.Errorf("after the whole log the state is w%d, want w%d", prev, stateWrites)
	}
	if fs.Type == "ext4" {
		t.Logf("ext4: %d logged writes and flushes, %d crash points checked, %d of them during the state writes; e2fsck repaired damage at %d (beyond replaying the journal and recounting free blocks and inodes)",
			len(entries), checked, len(entries)-first, fixed)
	} else {
		t.Logf("vfat: %d logged writes and flushes, %d crash points checked, %d of them during the state writes; fsck.fat repaired damage at %d (beyond the dirty bit, the free count and the second FAT; the first three are logged above); the new directory unreadable before the first write was whole at %d",
			len(entries), checked, len(entries)-first, fixed, unreadable)
	}
	if len(entries)-first < 200 {
		t.Errorf("only %d crash points during the state writes; want at least 200", len(entries)-first)
	}
}

// stateAt parses the state file read at crash point k: n of its
// last-known-good "wN", 0 when there is no file yet.
func stateAt(t *testing.T, k, of int, got []byte) int {
	t.Helper()
	if len(got) == 0 {
		return 0
	}
	s, err := state.Parse(got)
	if err != nil {
		t.Fatalf("crash point %d/%d: the state file does not parse: %v\n%q", k, of, err, got)
	}
	if s.LastGood == nil {
		t.Fatalf("crash point %d: state without last_good: %q", k, got)
	}
	n := 0
	fmt.Sscanf(s.LastGood.ID, "w%d", &n)
	return n
}

// fatRead reads name from the FAT image as the disk holds it (mtools: no
// repair); nothing when it is not there, an error when the FAT or the
// directory does not let it be read.
func fatRead(img, name string) ([]byte, error) {
	cmd := exec.Command("mtype", "-i", img, "::"+name)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "not found") {
			return nil, nil
		}
		return nil, fmt.Errorf("mtype %s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// fatDamaged says fsck.fat -a fixed something other than the dirty bit
// Linux sets while the filesystem is mounted (and the backup boot
// sector's copy of it, which it leaves), the free cluster count, and the
// second FAT behind the first.
func fatDamaged(out string) bool {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "", strings.HasPrefix(l, "fsck.fat "), strings.Contains(l, "files, ") && strings.HasSuffix(l, " clusters"),
			strings.HasPrefix(l, "Dirty bit is set."), l == "Automatically removing dirty bit.",
			l == "There are differences between boot sector and its backup.", strings.HasPrefix(l, "This is mostly harmless."),
			strings.HasPrefix(l, "65:"), l == "Not automatically fixing this.",
			// The free count in FSInfo, a hint FAT does not keep exact,
			// and the second FAT lagging the first, which Linux reads.
			strings.HasPrefix(l, "Free cluster summary wrong"), l == "Auto-correcting.",
			l == "FATs differ but appear to be intact.", l == "Using first FAT.":
		default:
			return true
		}
	}
	return false
}

// damaged says e2fsck's output fixed something other than the
// superblock's free block and inode counts.
func damaged(out string) bool {
	prev := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(strings.TrimSpace(l), "? yes") && !strings.HasPrefix(prev, "Free blocks count wrong (") && !strings.HasPrefix(prev, "Free inodes count wrong (") {
			return true
		}
		if strings.TrimSpace(l) != "" {
			prev = strings.TrimSpace(l)
		}
	}
	return false
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 99
}
