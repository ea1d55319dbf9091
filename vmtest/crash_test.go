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
// writes the state stateWrites times on a real ext4 (the bootloader's own
// atomic replace, package state) while QEMU's blklogwrites driver logs
// every write and flush the disk sees, in the format of the kernel's
// dm-log-writes. Each prefix of the log is the disk as a power cut at
// that instant leaves it (as xfstests replays dm-log-writes): the
// filesystem is recovered (its journal replayed) by e2fsck, and the state
// file must read as a valid state, the one before or the one after the
// write in progress: the values seen, prefix after prefix, never go back,
// never skip, never fail to parse. Every prefix is checked (~30 s).
func TestStateCrashPoints(t *testing.T) {
	swapSetup(t)
	d := disk.Disk{Parts: []disk.FS{{Type: "ext4", Label: "root", SizeMiB: 16, Files: map[string]disk.File{
		"/sbin/init": {Src: systemBin, Mode: 0o755},
		"/proc/":     {}, "/sys/": {}, "/dev/": {}, "/run/": {}, "/var/lib/wbsys/": {}, "/boot/": {},
	}}}}
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
	sh(t, vm, fmt.Sprintf("statewrite %d /boot/warmboot/state", stateWrites), "ok")
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
	off, size := d.Offset(1), int64(d.Parts[0].SizeMiB)<<20
	part := filepath.Join(t.TempDir(), "part.ext4")
	prev, checked, fixed := 0, 0, 0
	var first int
	for k := 0; k <= len(entries); k++ {
		if k > 0 {
			if err := logwrites.Apply(img, entries[k-1]); err != nil {
				t.Fatalf("entry %d: %v", k-1, err)
			}
		}
		if err := os.WriteFile(part, img[off:off+size], 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("e2fsck", "-fy", part).CombinedOutput()
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
		got, err := exec.Command("debugfs", "-R", "cat /boot/warmboot/state", part).Output()
		if err != nil {
			t.Fatalf("crash point %d: debugfs: %v", k, err)
		}
		n := 0
		if len(got) > 0 {
			s, err := state.Parse(got)
			if err != nil {
				t.Fatalf("crash point %d/%d: the state file does not parse: %v\n%q", k, len(entries), err, got)
			}
			if s.LastGood == nil {
				t.Fatalf("crash point %d: state without last_good: %q", k, got)
			}
			fmt.Sscanf(s.LastGood.ID, "w%d", &n)
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
	t.Logf("%d logged writes and flushes, %d crash points checked, %d of them during the state writes; e2fsck repaired damage at %d (beyond replaying the journal and recounting free blocks and inodes)",
		len(entries), checked, len(entries)-first, fixed)
	if len(entries)-first < 200 {
		t.Errorf("only %d crash points during the state writes; want at least 200", len(entries)-first)
	}
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
