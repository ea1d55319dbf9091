package running

import (
	"os"
	"path/filepath"
	"testing"
)

// REVIEW: a booted.json from an image before this release names the
// running entry by id, with no "boots". Identify returns that id with an
// unknown digest, though this package can tell what runs. After a kernel
// upgrade the id is Debian's floating "simple", which now boots the new
// kernel: warmswap's fallback is then {simple, boots ""}, coldpath's
// grubEntry matches it by id, and GRUB's next_entry is set to "simple",
// the very kernel on trial. A failed trial resets into GRUB, which boots
// it again with no panic=N: stranded. Identify should know the running
// entry by its kernel when the record does not say what it booted.
func TestReviewIdentifyOldBootedJSON(t *testing.T) {
	root, m := system(t, "BOOT_IMAGE=/boot/vmlinuz-6.1.0-10 root=UUID=x ro quiet")
	os.MkdirAll(filepath.Join(root, "run/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "run/warmboot/booted.json"), []byte(`{"version":2,"entry":"simple","by":"warmboot"}`), 0o644)
	r, how, err := Identify(root, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == "simple" && r.Boots == "" {
		t.Errorf("Identify = %+v (%s): the floating id, which now boots 6.1.0-11, with no digest; the running kernel is 6.1.0-10 (adv-10)", r, how)
	}
}
