package disk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/raid"
	"github.com/warmboot/warmboot/internal/testtool"
)

// TestMDMember builds RAID1 members and has mdadm read them: the
// superblocks written for the test disks are what mdadm itself accepts,
// and boot/raid reads them back.
func TestMDMember(t *testing.T) {
	mdadm := testtool.Need(t, "mdadm")
	testtool.Need(t, "mkfs.ext4")
	uuid := [16]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01}
	for _, version := range []string{"1.0", "1.2"} {
		t.Run(version, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "member.img")
			p := FS{Type: "ext4", Label: "mdboot", SizeMiB: 16, Files: map[string]File{"/hello": {Data: []byte("hi")}},
				MD: &MD{Version: version, UUID: uuid, Name: "host:boot", RaidDisks: 2, DevNumber: 1}}
			if err := makePart(context.Background(), filepath.Join(dir, "stage"), img, p); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(mdadm, "--examine", img).CombinedOutput()
			if err != nil {
				t.Fatalf("mdadm --examine: %v\n%s", err, out)
			}
			for _, want := range []string{
				"Version : " + version,
				"Array UUID : 11223344:55667788:99aabbcc:ddeeff01",
				"Name : host:boot",
				"Raid Level : raid1",
				"Raid Devices : 2",
				"Checksum : ",
				" - correct",
				"State : clean",
				"Device Role : Active device 1",
			} {
				if !strings.Contains(string(out), want) {
					t.Errorf("mdadm --examine lacks %q:\n%s", want, out)
				}
			}
			data, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			off := raid.Offsets(int64(len(data)))[version]
			sb, ok := raid.ParseSuperblock(version, data[off:])
			if !ok || sb.UUID != uuid || sb.RaidDisks != 2 || sb.Name != "host:boot" {
				t.Errorf("raid.ParseSuperblock = %+v, %v", sb, ok)
			}
		})
	}
}

// TestOtherFilesystems builds XFS (with a FIFO and a symlink), btrfs with a
// subvolume and an LVM volume, and checks what blkid and lvm say of them.
func TestOtherFilesystems(t *testing.T) {
	for _, tool := range []string{"mkfs.xfs", "mkfs.btrfs", "blkid", "lvm", "losetup"} {
		testtool.Need(t, tool)
	}
	testtool.NeedRoot(t)
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		p    FS
		want string // in blkid's output
	}{
		{"xfs", FS{Type: "xfs", Label: "xboot", UUID: "7e2f0c2a-8a4b-4d2c-9d35-6c1b0f1e2a11", SizeMiB: 64, Files: map[string]File{
			"/loader/entries/a.conf": {Data: []byte("x")},
			"/fifo.conf":             {Mode: os.ModeNamedPipe | 0o644},
			"/grub2/grubenv":         {Mode: os.ModeSymlink | 0o777, Data: []byte("../efi/EFI/redhat/grubenv")},
		}}, `LABEL="xboot" UUID="7e2f0c2a-8a4b-4d2c-9d35-6c1b0f1e2a11"`},
		{"btrfs", FS{Type: "btrfs", Label: "broot", UUID: "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f60718", SizeMiB: 128, Subvolumes: []string{"@"},
			Files: map[string]File{"/@/boot/x": {Data: []byte("x")}}}, `LABEL="broot" UUID="4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f60718"`},
		{"lvm", FS{Type: "ext4", Label: "lvboot", SizeMiB: 24, LVM: &[2]string{"wbvg", "boot"}, Files: map[string]File{"/x": {Data: []byte("x")}}},
			`TYPE="LVM2_member"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			img := filepath.Join(dir, tt.name+".img")
			if err := makePart(context.Background(), filepath.Join(dir, tt.name), img, tt.p); err != nil {
				t.Fatal(err)
			}
			out, _ := exec.Command("blkid", "-p", img).CombinedOutput()
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("blkid %s = %s; want %s", tt.name, out, tt.want)
			}
		})
	}
}
