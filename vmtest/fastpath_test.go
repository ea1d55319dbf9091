package vmtest

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/images/disk"
)

// The handed-over entry's fast path (issue 25): a handoff that says where
// the running system found entry "wb-1" (B), on two disks: vda, twoEntries
// with the filesystem UUID uuidBoot, and vdb, a data filesystem the
// running system mounts (no configs: the record's "others"), which the
// fast path does not read.
const (
	uuidBoot  = "5a5a0001-0000-4000-8000-000000000001"
	uuidOther = "5a5a0002-0000-4000-8000-000000000002"
)

// fastDisks are the two disks' QEMU arguments.
func fastDisks(t *testing.T) []string {
	t.Helper()
	boot := twoEntries(nil)
	boot.Parts[0].UUID = uuidBoot
	other := disk.Disk{Parts: []disk.FS{{Type: "ext4", Label: "data", SizeMiB: 8, UUID: uuidOther,
		Files: map[string]disk.File{"/data": {Data: []byte("not a boot config\n")}}}}}
	var args []string
	for _, d := range []disk.Disk{boot, other} {
		args = append(args, "-drive", "file="+buildDisk(t, d)+",if=virtio,format=raw")
	}
	return args
}

// fastRecord asks for B, found on volumes, booting kernel (its bytes as
// the running system read them) with the target initrd and cmdB.
func fastRecord(t *testing.T, volumes []string, kernel []byte) []byte {
	t.Helper()
	r := handoff.Record{Entry: "wb-1", Reason: "vmtest", Time: time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC), From: "vmtest",
		Found: &handoff.Found{Volumes: volumes,
			Boots:   state.Boots(sha256.Sum256(kernel), [][32]byte{sha256.Sum256(targetData)}, cmdB),
			Entries: handoff.MenuIDs([]string{"wb-2", "wb-1"}), Others: []string{uuidOther}}}
	data, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Nothing changed since the running system read the entry: its
// filesystem alone is mounted, the files are read and verified again,
// and B boots.
func TestFastPathTaken(t *testing.T) {
	parallel(t)
	vm := bootVM(t, withHandoff(t, enforceImage, fastRecord(t, []string{uuidBoot}, kernelData)), "warmboot.timeout=60 warmboot.wait=3", fastDisks(t)...)
	expect(t, vm,
		"warmboot: fast path: mounted only vda1: the filesystems the handoff names, and any the running system does not mount (",
		`warmboot: booting "B 1" as the handoff asks; skipping the menu`,
		"warmboot: verified: signed by",
		"(vda1:/warmboot/b.manifest)",
		marker(cmdB))
	finish(t, vm, true)
}

// The entry's kernel is not what the running system read (rewritten
// after warmswap checked it): the fast path boots nothing from its
// partial view; every disk is read, and B boots as it is now, verified.
func TestFastPathFileChanged(t *testing.T) {
	parallel(t)
	old := append([]byte(nil), kernelData...)
	old[len(old)-1] ^= 0xff
	vm := bootVM(t, withHandoff(t, enforceImage, fastRecord(t, []string{uuidBoot}, old)), "warmboot.timeout=60 warmboot.wait=3", fastDisks(t)...)
	expect(t, vm,
		"warmboot: fast path: mounted only vda1",
		`warmboot: fast path not taken: "B 1": the entry's files are not the ones the running system read (changed since warmswap checked them); looking on every disk`,
		`warmboot: booting "B 1" as the handoff asks; skipping the menu`,
		"warmboot: verified: signed by",
		marker(cmdB))
	finish(t, vm, true)
}

// A filesystem the handoff names is on no disk (taken out, or its UUID
// changed): after FastWait, every disk is read, and B boots.
func TestFastPathFilesystemAbsent(t *testing.T) {
	parallel(t)
	gone := strings.Replace(uuidOther, "0002", "0003", 1) // taken out, or reformatted
	vm := bootVM(t, withHandoff(t, enforceImage, fastRecord(t, []string{uuidBoot, gone}, kernelData)), "warmboot.timeout=60 warmboot.wait=3", fastDisks(t)...)
	expect(t, vm,
		"warmboot: fast path not taken: no device has the filesystem UUID "+gone+" the handoff names; looking on every disk",
		`warmboot: booting "B 1" as the handoff asks; skipping the menu`,
		marker(cmdB))
	finish(t, vm, true)
}
