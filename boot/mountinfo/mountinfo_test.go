package mountinfo

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	in := `22 1 254:2 / / rw,relatime shared:1 - ext4 /dev/vda2 rw
23 22 0:21 / /proc rw,nosuid - proc proc rw
30 22 254:1 / /mnt/my\040disk ro,relatime - vfat /dev/vda1 ro,fmask=0022
31 22 0:40 /@home /home rw,relatime - btrfs /dev/vdb2 rw,subvol=/@home
`
	got, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{ID: 22, Parent: 1, Dev: "254:2", Root: "/", Dir: "/", FSType: "ext4", Source: "/dev/vda2"},
		{ID: 23, Parent: 22, Dev: "0:21", Root: "/", Dir: "/proc", FSType: "proc", Source: "proc"},
		{ID: 30, Parent: 22, Dev: "254:1", Root: "/", Dir: "/mnt/my disk", FSType: "vfat", Source: "/dev/vda1", ReadOnly: true},
		{ID: 31, Parent: 22, Dev: "0:40", Root: "/@home", Dir: "/home", FSType: "btrfs", Source: "/dev/vdb2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"22 1 254:2 / / rw\n", "a b c d e f - ext4 x y\n", "1 2 3 4 5 6 -\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("22 1 254:2 / / rw,relatime shared:1 - ext4 /dev/vda2 rw\n30 22 254:1 / /mnt/my\\040disk ro - vfat /dev/vda1 ro\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			return
		}
		ms, err := Parse(data)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.FSType == "" || m.Dir == "" {
				t.Errorf("mount %+v has no type or directory", m)
			}
		}
	})
}

func TestUnder(t *testing.T) {
	ms := []Mount{{Dir: "/"}, {Dir: "/run/warmboot/mnt"}, {Dir: "/run/warmboot/mnt/vda1"}, {Dir: "/run/warmboot/mntx"}, {Dir: "/run/warmboot/mnt/md0/a b"}}
	got := Under(ms, "/run/warmboot/mnt/")
	want := []string{"/run/warmboot/mnt/md0/a b", "/run/warmboot/mnt/vda1", "/run/warmboot/mnt"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Under (-want +got):\n%s", diff)
	}
}
