package measure

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/eventlog"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/tpm"
	"github.com/warmboot/warmboot/boot/uki/ukitest"
	"github.com/warmboot/warmboot/internal/testtool"
)

// A UKI's sections go into PCR 11 as sd-stub puts them: systemd's own
// systemd-measure, given the same sections, predicts the value. A second
// image measured after it (PCR 11 no longer zero, as after a warm swap)
// leaves PCR 11 alone and says so. The log replays to the PCRs.
func TestUKIPCR11(t *testing.T) {
	measureBin := testtool.Need(t, "/usr/lib/systemd/systemd-measure")
	dev := swtpm(t)
	m, err := New(dev)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secs := map[string][]byte{
		"linux":   testtool.BzImage(8192),
		"osrel":   []byte("ID=debian\nPRETTY_NAME=\"Debian\"\n"),
		"cmdline": []byte("console=ttyS0 quiet"),
		"initrd":  []byte("INITRD"),
	}
	// File order differs from the measuring order on purpose.
	img := ukitest.Build(
		ukitest.Section{Name: ".initrd", Data: secs["initrd"]},
		ukitest.Section{Name: ".cmdline", Data: secs["cmdline"]},
		ukitest.Section{Name: ".osrel", Data: secs["osrel"]},
		ukitest.Section{Name: ".linux", Data: secs["linux"]},
	)
	os.MkdirAll(filepath.Join(dir, "EFI/Linux"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "EFI/Linux/a.efi"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := bls.Parse(os.DirFS(dir), nil)
	if err != nil || len(cfg.Entries) != 1 {
		t.Fatalf("Parse = %+v, %v", cfg, err)
	}
	e := cfg.Entries[0]
	e.Root = dir
	im, err := kexec.Stage(e, e.Cmdline, kexec.WithHashes(tpm.SHA256.Crypto()))
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	note, err := m.Image(im, "warmboot_trust: policy=off")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(note, "into PCR 11 as sd-stub does") {
		t.Errorf("note = %q", note)
	}
	args := []string{"calculate", "--bank=sha256", "--phase="}
	for name, data := range secs {
		f := filepath.Join(dir, name)
		os.WriteFile(f, data, 0o644)
		args = append(args, "--"+name+"="+f)
	}
	out, err := exec.Command(measureBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-measure: %v\n%s", err, out)
	}
	want := regexp.MustCompile(`11:sha256=([0-9a-f]{64})`).FindSubmatch(out)
	pcr11, err := tpm.Read(dev, PCRKernelBoot, tpm.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if want == nil || hex.EncodeToString(pcr11) != string(want[1]) {
		t.Fatalf("PCR 11 = %x, systemd-measure predicts:\n%s", pcr11, out)
	}

	note, err = m.Image(im, "warmboot_trust: policy=off")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := tpm.Read(dev, PCRKernelBoot, tpm.SHA256); !bytes.Equal(again, pcr11) || !strings.Contains(note, "PCR 11 is already extended") {
		t.Errorf("second image: PCR 11 %x (was %x), note %q; want it untouched and said", again, pcr11, note)
	}
	l, err := eventlog.Parse(m.Log())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range m.Banks() {
		replay := l.Replay(a)
		for _, pcr := range []int{PCRCmdline, PCRFiles, PCRKernelBoot} {
			got, _ := tpm.Read(dev, pcr, a)
			if !bytes.Equal(got, replay[pcr]) {
				t.Errorf("PCR %d %s = %x, the log replays to %x", pcr, a, got, replay[pcr])
			}
		}
	}
}
