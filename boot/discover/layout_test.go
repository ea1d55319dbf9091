package discover

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grubenv"
)

func env(t *testing.T, kv ...string) []byte {
	t.Helper()
	b := grubenv.New()
	for i := 0; i+1 < len(kv); i += 2 {
		var err error
		if b, err = grubenv.Set(b, kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// el8Link is /boot/grub2/grubenv as RHEL 8's grub2-tools make it on UEFI.
var el8Link = &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte("../efi/EFI/redhat/grubenv")}

const el8Entry = "title RHEL\nlinux /boot/vmlinuz-4.18\ninitrd /boot/initramfs-4.18.img $tuned_initrd\noptions $kernelopts $tuned_params\n"

// menuOf is each entry of the top config as "id kernel [initrds] cmdline",
// the default marked "*", then its warnings.
func menuOf(cs []*entry.Config) []string {
	var out []string
	for _, c := range cs {
		for i, e := range c.Entries {
			mark := " "
			if i == c.Default {
				mark = "*"
			}
			out = append(out, mark+e.ID+" "+e.Kernel+" "+strings.Join(e.Initrds, ",")+" "+e.Cmdline)
		}
		out = append(out, entry.Strings(c.Warnings)...)
	}
	return out
}

// TestGrubenvOnTheESP: the BLS entries of an EL8 UEFI system whose /boot
// is a directory of the root filesystem, read with no grub.cfg to follow
// (the ESP's is unreadable): paths already carry /boot, the command line
// comes from the ESP's grubenv through the symlink, and saved_entry is
// the default, as GRUB's blscfg would boot.
func TestGrubenvOnTheESP(t *testing.T) {
	esp := fstest.MapFS{"EFI/redhat/grubenv": {Data: env(t, "saved_entry", "rhel-4.18", "kernelopts", "root=UUID=R ro quiet", "tuned_params", "skew_tick=1")}}
	root := fstest.MapFS{
		"etc/fstab":                          {Data: []byte("# anaconda\nUUID=R /  xfs defaults 0 0\nUUID=7A3B-1C2D  /boot/efi vfat umask=0077 0 2\n/dev/mapper/rhel-swap none swap defaults 0 0\n")},
		"boot/grub2/grubenv":                 el8Link,
		"boot/loader/entries/rhel-4.19.conf": {Data: []byte(strings.ReplaceAll(el8Entry, "4.18", "4.19"))},
		"boot/loader/entries/rhel-4.18.conf": {Data: []byte(el8Entry)},
	}
	want := []string{
		" rhel-4.19 /boot/vmlinuz-4.19 /boot/initramfs-4.19.img root=UUID=R ro quiet skew_tick=1",
		"*rhel-4.18 /boot/vmlinuz-4.18 /boot/initramfs-4.18.img root=UUID=R ro quiet skew_tick=1",
	}
	// By the fstab, and again when the ESP is not the only vfat around.
	vols := []entry.Volume{
		{FS: fstest.MapFS{"EFI/redhat/grubenv": {Data: env(t, "kernelopts", "wrong")}}, Device: "sdb1", UUID: "0000-0001"},
		{FS: esp, Device: "nvme0n1p1", UUID: "7A3B-1C2D"},
		{FS: root, Device: "nvme0n1p2", UUID: "R"},
	}
	if diff := cmp.Diff(want, menuOf(Scan(vols))); diff != "" {
		t.Errorf("by the fstab (-want +got):\n%s", diff)
	}
	// An encrypted root: no fstab to read, so the one filesystem that
	// holds EFI/redhat/grubenv is the ESP at /boot/efi.
	delete(root, "etc/fstab")
	if diff := cmp.Diff(want, menuOf(Scan(vols[1:]))); diff != "" {
		t.Errorf("by the ESP's usual mount point (-want +got):\n%s", diff)
	}
	// Two of them and no fstab to say which: nothing is guessed.
	got := menuOf(Scan(vols))
	wantWarn := "nvme0n1p2:/boot/grub2/grubenv: a symlink to ../efi/EFI/redhat/grubenv: EFI/redhat/grubenv is on both sdb1 and nvme0n1p1, and no fstab says which is /boot/efi; $kernelopts and the other GRUB variables BLS entries use are empty (mount the filesystem it points to, or make it a file)"
	if len(got) != 3 || got[2] != wantWarn || !strings.HasSuffix(got[0], ".img ") {
		t.Errorf("two ESPs: got\n%s\nwant empty command lines and the warning\n%s", strings.Join(got, "\n"), wantWarn)
	}
}

// TestGrubenvSeparateBoot: a separate /boot (its entries say /vmlinuz)
// whose grubenv links onto the ESP, found through the root filesystem's
// fstab; a link that leaves every filesystem is a warning, not a read.
func TestGrubenvSeparateBoot(t *testing.T) {
	boot := fstest.MapFS{
		"grub2/grubenv":         el8Link,
		"loader/entries/a.conf": {Data: []byte("title A\nlinux /vmlinuz\noptions $kernelopts\n")},
	}
	vols := []entry.Volume{
		{FS: fstest.MapFS{"EFI/redhat/grubenv": {Data: env(t, "kernelopts", "root=/dev/mapper/rhel-root ro")}}, Device: "sda1", UUID: "B555-118C"},
		{FS: boot, Device: "sda2", UUID: "B"},
		{FS: fstest.MapFS{"etc/fstab": {Data: []byte("/dev/mapper/rhel-root / xfs defaults 0 0\nUUID=B /boot xfs defaults 0 0\nUUID=B555-118C /boot/efi vfat umask=0077 0 2\n")}}, Device: "dm-0", UUID: "ROOT"},
	}
	if diff := cmp.Diff([]string{"*a /vmlinuz  root=/dev/mapper/rhel-root ro"}, menuOf(Scan(vols))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	boot["grub2/grubenv"] = &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte("/var/lib/grubenv")}
	got := menuOf(Scan(vols))
	if len(got) != 2 || !strings.Contains(got[1], "sda2:/grub2/grubenv: a symlink to /var/lib/grubenv: /var/lib/grubenv is on no filesystem this system's fstab names") {
		t.Errorf("a link out of every volume: got %q", got)
	}
}

func TestParseFstab(t *testing.T) {
	got := ParseFstab([]byte("# comment\n\nUUID=\"ab\" /mnt/My\\040Disk ext4 defaults 0 2\nLABEL=ESP /boot/efi/ vfat\nproc /proc proc defaults\n/swapfile none swap sw\nbroken\n/dev/sda1 relative ext4\n"))
	want := []FstabEntry{{Spec: `UUID="ab"`, Dir: "/mnt/My Disk", Type: "ext4"}, {Spec: "LABEL=ESP", Dir: "/boot/efi", Type: "vfat"}, {Spec: "proc", Dir: "/proc", Type: "proc"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !got[0].Names("AB", "") || got[0].Names("", "ab") {
		t.Error("UUID= is matched without case")
	}
	if !got[1].Names("", "ESP") || got[1].Names("ESP", "") || (FstabEntry{Spec: "PARTUUID=x"}).Names("x", "x") {
		t.Error("LABEL= matches labels only, PARTUUID= nothing")
	}
}

func FuzzParseFstab(f *testing.F) {
	f.Add([]byte("UUID=R / xfs defaults 0 0\nUUID=7A3B-1C2D /boot/efi vfat umask=0077 0 2\n/dev/x\\0 /a\\1\\777 t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, e := range ParseFstab(data) {
			if !strings.HasPrefix(e.Dir, "/") || e.Type == "swap" {
				t.Fatalf("entry %+v: want an absolute mount point, no swap", e)
			}
		}
	})
}
