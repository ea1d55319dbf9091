package vmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/handoff"
)

// withHandoff returns img (an uncompressed cpio) with a handoff record
// appended, as warmswap will append it to the bootloader's initramfs.
func withHandoff(t *testing.T, img string, record []byte) string {
	t.Helper()
	base, err := os.ReadFile(strings.TrimSuffix(img, ".zst"))
	if err != nil {
		t.Fatal(err)
	}
	seg, err := handoff.Segment(map[string][]byte{handoff.RecordFile: record})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "warmboot-handoff.cpio")
	if err := os.WriteFile(out, append(base, seg...), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func record(t *testing.T, entry string) []byte {
	t.Helper()
	data, err := handoff.Record{Entry: entry, Reason: "vmtest", Time: time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC),
		From: "vmtest", Seed: strings.Repeat("5a", 32)}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A handoff names an entry that is not the default: it boots at once,
// with no menu (the 60 s countdown would otherwise hold the boot).
func TestHandoffBootsRequestedEntry(t *testing.T) {
	parallel(t)
	vm := startVM(t, twoEntries(nil), withHandoff(t, image, record(t, "wb-1")), "warmboot.timeout=60 warmboot.wait=3")
	expect(t, vm,
		`warmboot: handoff from "vmtest" at 2026-11-22T18:00:00Z (vmtest): boot entry "wb-1"`,
		`warmboot: booting "B 1" as the handoff asks; skipping the menu`,
		marker(cmdB))
	finish(t, vm, true)
}

// A handoff cannot get around the image's policy: the unsigned entry it
// asks for is refused and the signed one boots.
func TestHandoffCannotBypassPolicy(t *testing.T) {
	parallel(t)
	vm := startVM(t, twoEntries(nil), withHandoff(t, enforceImage, record(t, "A 2")), fast)
	expect(t, vm,
		`warmboot: booting "A 2" as the handoff asks; skipping the menu`,
		`warmboot: refused "A 2": no signed manifest names this kernel`,
		`warmboot: booting "B 1"`,
		marker(cmdB))
	finish(t, vm, true)
}

// A handoff of an unknown version is ignored with a message; the normal
// menu boots the default.
func TestHandoffUnknownVersion(t *testing.T) {
	parallel(t)
	vm := startVM(t, twoEntries(nil), withHandoff(t, image, []byte(`{"version": 9, "entry": "wb-1"}`)), fast)
	expect(t, vm,
		"warmboot: ignoring the handoff: /.warmboot/handoff.json: unknown handoff record version 9 (this bootloader reads version 1)",
		"warmboot: 2 boot entries",
		`warmboot: booting "A 2"`,
		marker(cmdA))
	finish(t, vm, true)
}
