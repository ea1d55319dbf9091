package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/payload"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/cmds/internal/cli"
	"github.com/warmboot/warmboot/internal/testtool"
)

// fakeESP builds a root with what "warmboot efi-entry" reads: a vfat ESP
// mounted on /boot/efi from /dev/sda1 (8:1), its sysfs, the disk's GPT
// (from boot/efivar/testdata: partition 1 at 2048, 4096 blocks,
// 5f2d1c3b-8a9e-4f60-b1c2-d3e4f5a6b7c8), warmboot.efi on it, and a
// QEMU/OVMF machine's boot variables.
func fakeESP(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/self/mountinfo", ""+
		"29 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n"+
		"40 29 8:1 / /boot/efi rw,relatime shared:2 - vfat /dev/sda1 rw,fmask=0077,dmask=0077\n")
	const disk = "sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda"
	write(disk+"/queue/logical_block_size", "512\n")
	write(disk+"/sda1/partition", "1\n")
	write(disk+"/sda1/start", "2048\n")
	write(disk+"/sda1/size", "4096\n")
	if err := os.MkdirAll(filepath.Join(root, "sys/dev/block"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../"+strings.TrimPrefix(disk, "sys/")+"/sda1", filepath.Join(root, "sys/dev/block/8:1")); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../../boot/efivar/testdata/sfdisk-gpt.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	gpt, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	write("dev/sda", string(gpt))
	write("boot/efi/EFI/warmboot/warmboot.efi", string(fakePayload(t, trust.Off)))
	vars, _ := filepath.Glob("../../boot/efivar/testdata/ovmf/*")
	for _, p := range vars {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		write("sys/firmware/efi/efivars/"+filepath.Base(p), string(b))
	}
	return root
}

func efivarsOf(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	dir := filepath.Join(root, "sys/firmware/efi/efivars")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		m[e.Name()] = string(b)
	}
	return m
}

func efiEntryRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"efi-entry"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestEFIEntry(t *testing.T) {
	root := fakeESP(t)
	before := efivarsOf(t, root)
	const what = `"warmboot" HD(1,GPT,5f2d1c3b-8a9e-4f60-b1c2-d3e4f5a6b7c8,0x800,0x1000)/\EFI\warmboot\warmboot.efi`

	code, out, errs := efiEntryRun(t, "-root", root, "-dry-run")
	want := "warmboot: efi-entry: would write Boot000B = " + what + " (attributes NV|BS|RT)\n" +
		"warmboot: efi-entry: would write BootOrder = 000B,000A,0007,0008,0000,0001,0002,0003,0005,0009,0004,0006\n"
	if code != 0 || out != want {
		t.Errorf("efi-entry -dry-run = %d, %q, stderr %q, want 0,\n%s", code, out, errs, want)
	}
	if diff := cmp.Diff(before, efivarsOf(t, root)); diff != "" {
		t.Errorf("-dry-run changed the variables (-before +after):\n%s", diff)
	}

	code, out, errs = efiEntryRun(t, "-root", root)
	if code != 0 || out != strings.ReplaceAll(want, "would write", "wrote") {
		t.Errorf("efi-entry = %d, %q, stderr %q", code, out, errs)
	}
	after := efivarsOf(t, root)
	boot := after["Boot000B-8be4df61-93ca-11d2-aa0d-00e098032b8c"]
	if !strings.HasPrefix(boot, "\x07\x00\x00\x00\x01\x00\x00\x00") {
		t.Errorf("Boot000B starts % x, want attributes 7 and LOAD_OPTION_ACTIVE", boot[:min(8, len(boot))])
	}

	code, out, _ = efiEntryRun(t, "-root", root)
	if code != 0 || !strings.Contains(out, "Boot000B "+what+" is already first in BootOrder: nothing to write") {
		t.Errorf("efi-entry again = %d, %q", code, out)
	}

	code, out, _ = efiEntryRun(t, "-root", root, "-remove", "-dry-run")
	if code != 0 || out != "warmboot: efi-entry: would remove Boot000B "+what+" and take it out of BootOrder\n" {
		t.Errorf("efi-entry -remove -dry-run = %d, %q", code, out)
	}
	code, out, _ = efiEntryRun(t, "-root", root, "-remove")
	if code != 0 || out != "warmboot: efi-entry: removed Boot000B "+what+"\n" {
		t.Errorf("efi-entry -remove = %d, %q", code, out)
	}
	if diff := cmp.Diff(before, efivarsOf(t, root)); diff != "" {
		t.Errorf("efi-entry then -remove did not restore the variables (-before +after):\n%s", diff)
	}
	code, out, _ = efiEntryRun(t, "-root", root, "-remove")
	if code != 0 || !strings.Contains(out, "nothing to remove") {
		t.Errorf("efi-entry -remove again = %d, %q", code, out)
	}
}

func TestEFIEntryErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(root string)
		args []string
		want string
	}{
		{"not mounted", func(string) {}, []string{"-esp", "/efi"}, "nothing is mounted on /efi: mount the EFI system partition there, or pass -esp DIR"},
		{"not vfat", func(string) {}, []string{"-esp", "/"}, "/ is ext4 (/dev/sda2), not vfat"},
		{"no file", func(string) {}, []string{"-file", `\EFI\warmboot\other.efi`}, "no such file on the ESP: copy the warmboot EFI binary there first"},
		{"slashes", func(string) {}, []string{"-file", "/EFI/warmboot/warmboot.efi"}, "want a path on the ESP with backslashes"},
		{"stale kernel table", func(root string) {
			p, _ := filepath.EvalSymlinks(filepath.Join(root, "sys/dev/block/8:1"))
			os.WriteFile(filepath.Join(p, "start"), []byte("4096\n"), 0o644)
		}, nil, "re-read the partition table"},
		{"no efivarfs", func(root string) { os.RemoveAll(filepath.Join(root, "sys/firmware/efi/efivars")) }, nil, "mount -t efivarfs efivarfs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := fakeESP(t)
			c.edit(root)
			code, out, errs := efiEntryRun(t, append([]string{"-root", root}, c.args...)...)
			if code != 1 || !strings.Contains(errs, c.want) {
				t.Errorf("efi-entry %v = %d, stdout %q, stderr %q, want 1 and %q", c.args, code, out, errs, c.want)
			}
		})
	}
	if code, _, _ := efiEntryRun(t, "extra"); code != 2 {
		t.Errorf("efi-entry extra = %d, want 2", code)
	}
}

// fakePayload is a warmboot payload (a bzImage whose built-in initramfs
// is the image) whose trust has policy p and one key.
func fakePayload(t *testing.T, p trust.Policy) []byte {
	t.Helper()
	base, err := handoff.Segment(map[string][]byte{"/init": []byte("warmboot")})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := trust.Generate()
	if err != nil {
		t.Fatal(err)
	}
	archive, _, err := trust.Archive(p, trust.EditsRefuse, []trust.KeyFile{{Name: "k.pub", Data: trust.MarshalPublic(pub, "test")}})
	if err != nil {
		t.Fatal(err)
	}
	kernel := append([]byte("kernel code"), payload.ConsoleArchive()...)
	kernel = append(append(kernel, append(base, archive...)...), "kernel data"...)
	return testtool.ZstdBzImage(kernel)
}

// An enforcing payload that would refuse every entry on the system is
// not made the firmware's first boot entry: every cold boot would stop at
// its rescue shell. -force registers it anyway.
func TestEFIEntryRefusesUnsignedSystem(t *testing.T) {
	root := fakeESP(t)
	os.WriteFile(filepath.Join(root, "boot/efi/EFI/warmboot/warmboot.efi"), fakePayload(t, trust.Enforce), 0o644)
	os.MkdirAll(filepath.Join(root, "boot/loader/entries"), 0o755)
	os.WriteFile(filepath.Join(root, "boot/loader/entries/a.conf"), []byte("title A\nlinux /vmlinuz\n"), 0o644)
	os.WriteFile(filepath.Join(root, "boot/vmlinuz"), testtool.BzImage(4096), 0o644)
	var out, errb bytes.Buffer
	if code := efiEntryCmd([]string{"-root", root}, &out, &errb); code != cli.ExitError || !strings.Contains(errb.String(), "would refuse every entry on this system") {
		t.Errorf("efi-entry with an enforcing payload and unsigned entries = %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := efiEntryCmd([]string{"-root", root, "-force"}, &out, &errb); code != cli.ExitOK || !strings.Contains(out.String(), "would refuse A") {
		t.Errorf("-force = %d\n%s%s", code, out.String(), errb.String())
	}
}
