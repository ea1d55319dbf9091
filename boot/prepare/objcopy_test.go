package prepare

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/internal/testtool"
)

// The other way distributions built UKIs before ukify (systemd 252's
// documentation, dracut --uefi): objcopy adding sections to Debian's own
// stub (systemd-boot-efi), at addresses past the stub's. warmboot lists
// it, stages exactly the kernel, initrd and command line objcopy was
// given, and the stub's own sections (.text, .data with its .bss,
// .sbat) do not disturb the strict parser.
func TestObjcopyUKI(t *testing.T) {
	objcopy := testtool.Need(t, "objcopy")
	stub := "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
	if _, err := os.Stat(stub); err != nil {
		if os.Getenv("WARMBOOT_REQUIRE_TOOLS") != "" {
			t.Fatalf("%v (make deps installs systemd-boot-efi)", err)
		}
		t.Skipf("%v", err)
	}
	dir := t.TempDir()
	kernel := testtool.BzImage(64 << 10)
	in := map[string][]byte{"os-release": []byte("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n"),
		"cmdline.txt": []byte("root=/dev/vda2 ro quiet\n"), "vmlinuz": kernel, "initrd": bytes.Repeat([]byte("initrd"), 1000)}
	for n, b := range in {
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	out := filepath.Join(dir, "EFI/Linux/debian.efi")
	os.MkdirAll(filepath.Dir(out), 0o755)
	cmd := exec.Command(objcopy,
		"--add-section", ".osrel="+filepath.Join(dir, "os-release"), "--change-section-vma", ".osrel=0x20000",
		"--add-section", ".cmdline="+filepath.Join(dir, "cmdline.txt"), "--change-section-vma", ".cmdline=0x30000",
		"--add-section", ".linux="+filepath.Join(dir, "vmlinuz"), "--change-section-vma", ".linux=0x2000000",
		"--add-section", ".initrd="+filepath.Join(dir, "initrd"), "--change-section-vma", ".initrd=0x3000000",
		stub, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, b)
	}
	es := listUKIs(t, dir)
	if len(es) != 1 || es[0].Label != "Debian GNU/Linux 12 (bookworm) 12" || es[0].Cmdline != "root=/dev/vda2 ro quiet" {
		t.Fatalf("entries = %+v", es)
	}
	c, err := (&Pipeline{Trust: trust.Trust{Policy: trust.Off}}).Check(es[0], es[0].Cmdline, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Image.Close()
	k, _ := io.ReadAll(io.NewSectionReader(c.Image.Kernel, 0, c.Image.KernelSize))
	initrd, _ := io.ReadAll(io.NewSectionReader(c.Image.Initrd, 0, c.Image.InitrdSize))
	if !bytes.Equal(k, kernel) || !bytes.Equal(initrd, in["initrd"]) || c.Image.Cmdline != "root=/dev/vda2 ro quiet" {
		t.Errorf("staged kernel %d bytes (want %d), initrd %d bytes (want %d), cmdline %q", len(k), len(kernel), len(initrd), len(in["initrd"]), c.Image.Cmdline)
	}
}
