package lvm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/internal/testtool"
)

// pvImage makes a 64 MiB PV image with lvm itself (root, a loop device,
// no device-mapper needed): VG "wb-vg" with "boot" (16 MiB) and "root"
// (8 MiB, then 4 more MiB after a hole, so two segments).
func pvImage(t *testing.T) string {
	t.Helper()
	testtool.Need(t, "lvm")
	testtool.Need(t, "losetup")
	testtool.NeedRoot(t)
	img := filepath.Join(t.TempDir(), "pv.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", loop).Run()
	lvm := func(args ...string) {
		t.Helper()
		args = append([]string{args[0], "--driverloaded", "n"}, args[1:]...)
		cmd := exec.Command("lvm", args...)
		cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("lvm %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	lvm("pvcreate", "-y", "-ff", loop)
	lvm("vgcreate", "-y", "wb-vg", loop)
	lvm("lvcreate", "-y", "-an", "-Zn", "-L", "8m", "-n", "root", "wb-vg")
	lvm("lvcreate", "-y", "-an", "-Zn", "-L", "16m", "-n", "boot", "wb-vg")
	lvm("lvextend", "-y", "-L", "12m", "wb-vg/root")
	return img
}

func TestRealPV(t *testing.T) {
	img := pvImage(t)
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "dev"), 0o755)
	os.MkdirAll(filepath.Join(root, "sys/class/block/sdb2"), 0o755)
	if err := os.Symlink(img, filepath.Join(root, "dev/sdb2")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "sys/class/block/sdb2/dev"), []byte("8:18\n"), 0o644)
	var created []string
	a := &Activator{Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev"),
		Create: func(name, uuid string, ts []sys.DMTarget) (string, error) {
			var lines []string
			for _, t := range ts {
				lines = append(lines, strings.Join([]string{itoa(t.Start), itoa(t.Length), t.Type, t.Params}, " "))
			}
			created = append(created, name+": "+strings.Join(lines, "; "))
			if !strings.HasPrefix(uuid, "LVM-") || len(uuid) != 4+64 {
				t.Errorf("uuid %q is not LVM-<vg id><lv id>", uuid)
			}
			return "253:0", nil
		}}
	got := a.Activate([]string{"sda1", "sdb2"})
	// 4 MiB extents (8192 sectors) after lvm's 1 MiB (2048 sectors) of
	// metadata: root is extents 0-1 and 6, boot 2-5.
	want := []string{
		"wb--vg-root: 0 16384 linear 8:18 2048; 16384 8192 linear 8:18 51200",
		"wb--vg-boot: 0 32768 linear 8:18 18432",
	}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("device-mapper tables (-want +got):\n%s", diff)
	}
	if len(got) != 2 || got[1].String() != "LVM volume wb-vg/boot on sdb2 as  (read-only)" {
		t.Errorf("results = %v", got)
	}
	if again := a.Activate([]string{"sdb2"}); len(again) != 0 {
		t.Errorf("a second Activate mapped %v again", again)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestPlanUnsupported(t *testing.T) {
	text := `vg {
id = "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa"
seqno = 3
extent_size = 8192
physical_volumes {
pv0 {
id = "bbbbbb-bbbb-bbbb-bbbb-bbbb-bbbb-bbbbbb"
pe_start = 2048
}
pv1 {
id = "cccccc-cccc-cccc-cccc-cccc-cccc-cccccc"
pe_start = 2048
}
}
logical_volumes {
thin { id = "x" status = ["READ", "VISIBLE"] segment1 { start_extent = 0 extent_count = 1 type = "thin" } }
wide { id = "y" status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 2 stripes = ["pv0", 0, "pv1", 0] } }
gone { id = "z" status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 0] } }
hidden { id = "w" status = ["READ"] segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 0] } }
}
}
`
	vg, vols, seq, err := Plan(text, map[string]string{"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb": "8:2"})
	if err != nil || vg != "vg" || seq != 3 {
		t.Fatalf("Plan = %q, %v, %d, %v", vg, vols, seq, err)
	}
	var got []string
	for _, v := range vols {
		got = append(got, v.LV+": "+v.Err.Error())
	}
	want := []string{
		"thin: is a thin volume, which warmboot does not map (only linear volumes)",
		"wide: is striped over 2 volumes, which warmboot does not map (only linear volumes)",
		"gone: physical volume pv1 (cccccc-cccc-cccc-cccc-cccc-cccc-cccccc) is missing",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
}

func FuzzParseLabel(f *testing.F) {
	f.Add(make([]byte, 2048))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		testtool.Bounded(t, func() { ParseLabel(b) })
	})
}

func FuzzMetadata(f *testing.F) {
	f.Add([]byte("vg { id = \"x\" seqno = 1 extent_size = 8 logical_volumes { l { id = \"y\" status = [\"VISIBLE\"] segment1 { start_extent = 0 extent_count = 1 type = \"striped\" stripe_count = 1 stripes = [\"pv0\", 0] } } } physical_volumes { pv0 { id = \"p\" pe_start = 2048 } } }\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		testtool.Bounded(t, func() {
			_, vols, _, err := Plan(string(b), map[string]string{"p": "8:1"})
			for _, v := range vols {
				if (v.Err == nil) == (len(v.Targets) == 0) {
					t.Fatalf("volume %+v: want targets or an error", v)
				}
			}
			_ = err
			area := make([]byte, 4096)
			copy(area, b)
			MetadataText(area)
		})
	})
}
