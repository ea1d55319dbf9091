package bls

import (
	"testing"
	"testing/fstest"
)

// Adversarial review of grubenv's saved_entry as the BLS default.

func reviewDefault(t *testing.T, fsys fstest.MapFS, vars map[string]string) string {
	t.Helper()
	cfg, err := Parse(fsys, vars)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Entries[cfg.Default].ID
}

// A loader.conf is systemd-boot's; systemd-boot never reads a grubenv.
// "default @saved" is ignored with a warning ("needs EFI variables, which
// warmboot does not read; ignored"), which then lets a leftover grubenv's
// saved_entry pick the default - neither loader would boot that. The same
// when loader.conf sets only a timeout: systemd-boot's default is then
// its first sorted entry (or LoaderEntryDefault, applied later by
// nextboot.LoaderDefault), never GRUB's saved_entry.
func TestReviewSavedEntryUnderSystemdBoot(t *testing.T) {
	vars := map[string]string{"saved_entry": "a-6.1"}
	for _, conf := range []string{"default @saved\n", "timeout 3\n"} {
		fsys := fstest.MapFS{
			"loader/loader.conf":        {Data: []byte(conf)},
			"loader/entries/a-6.1.conf": {Data: []byte("title A\nversion 6.1\nlinux /a-6.1/linux\n")},
			"loader/entries/a-6.2.conf": {Data: []byte("title A\nversion 6.2\nlinux /a-6.2/linux\n")},
		}
		if got := reviewDefault(t, fsys, vars); got != "a-6.2" {
			t.Errorf("loader.conf %q: default = %q, want a-6.2 (systemd-boot's; grubenv's saved_entry is GRUB's)", conf, got)
		}
	}
}

// GRUB resolves saved_entry (its "default") by menu entry id, then by
// title, then as a number (grub-core/normal/menu.c
// get_entry_number_helper: menuentry_eq(e->id...), menuentry_eq(e->title
// ...), grub_strtoul). blscfg's entries have id = file name without
// ".conf" and title = the "title" value alone (blscfg.c create_entry:
// argv[0] = title). "grub2-set-default 1" and a title saved before a
// RHEL 7->8 upgrade are both honoured by GRUB; warmboot matches the ID
// only, warns, and boots entry 0.
func TestReviewSavedEntryByTitleOrIndex(t *testing.T) {
	fsys := fstest.MapFS{
		"boot/loader/entries/rhel-4.18.conf": {Data: []byte("title RHEL (4.18) 8.9\nversion 4.18\nlinux /boot/vmlinuz-4.18\n")},
		"boot/loader/entries/rhel-4.19.conf": {Data: []byte("title RHEL (4.19) 8.9\nversion 4.19\nlinux /boot/vmlinuz-4.19\n")},
	}
	for _, saved := range []string{"1", "RHEL (4.18) 8.9"} {
		if got := reviewDefault(t, fsys, map[string]string{"saved_entry": saved}); got != "rhel-4.18" {
			t.Errorf("saved_entry %q: default = %q, want rhel-4.18 (GRUB's entry 1 / the entry with that title)", saved, got)
		}
	}
}
