package measure

import (
	"bytes"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/eventlog"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/tpm"
	"github.com/warmboot/warmboot/internal/testtool"
)

// swtpm starts a software TPM 2.0 (swtpm, as QEMU uses) and returns a
// connection that speaks raw TPM commands to it.
func swtpm(t *testing.T) net.Conn {
	bin := testtool.Need(t, "swtpm")
	d := t.TempDir()
	sock := filepath.Join(d, "tpm.sock")
	cmd := exec.Command(bin, "socket", "--tpm2", "--tpmstate", "dir="+d,
		"--server", "type=unixio,path="+sock, "--ctrl", "type=unixio,path="+filepath.Join(d, "ctrl.sock"),
		"--flags", "not-need-init,startup-clear")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("unix", sock)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if i == 100 {
			t.Fatalf("swtpm did not start: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSwtpm measures into a real (software) TPM and checks that replaying
// the log gives exactly the PCR values the TPM reports, in every bank.
func TestSwtpm(t *testing.T) {
	dev := swtpm(t)
	m, err := New(dev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains([]byte(strings.Join(algNames(m.Banks()), ",")), []byte("sha256")) {
		t.Fatalf("banks = %v, want sha256 among them", m.Banks())
	}
	kernel := bytes.Repeat([]byte("kernel"), 100000)
	if err := m.Measure(PCRFiles, bytes.NewReader(kernel), "vda2:/vmlinuz", nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Measure(PCRFiles, strings.NewReader("initrd"), "vda2:/initrd.img", map[tpm.Alg][]byte{tpm.SHA256: tpm.SHA256.Sum([]byte("initrd"))}); err != nil {
		t.Fatal(err)
	}
	if err := m.MeasureString(PCRCmdline, "console=ttyS0 quiet", "kernel_cmdline: console=ttyS0 quiet"); err != nil {
		t.Fatal(err)
	}
	raw := m.Log()
	l, err := eventlog.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Events) != 3 {
		t.Fatalf("log has %d events, want 3", len(l.Events))
	}
	for _, a := range m.Banks() {
		want := l.Replay(a)
		for _, pcr := range []int{PCRCmdline, PCRFiles} {
			got, err := tpm.Read(dev, pcr, a)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want[pcr]) {
				t.Errorf("PCR %d %s = %x, replayed log gives %x", pcr, a, got, want[pcr])
			}
		}
	}

	// tpm2_eventlog (tpm2-tools), an attestation tool that knows nothing
	// of warmboot, parses the log and replays it to the same values.
	bin := testtool.Need(t, "tpm2_eventlog")
	f := filepath.Join(t.TempDir(), "eventlog")
	if err := os.WriteFile(f, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, f).CombinedOutput()
	if err != nil {
		t.Fatalf("tpm2_eventlog: %v\n%s", err, out)
	}
	pcr9, _ := tpm.Read(dev, PCRFiles, tpm.SHA256)
	for _, want := range []string{"kernel_cmdline: console=ttyS0 quiet", "vda2:/vmlinuz", "EV_IPL", "9  : 0x" + hex.EncodeToString(pcr9)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("tpm2_eventlog output lacks %q:\n%s", want, out)
		}
	}
}

func algNames(as []tpm.Alg) []string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return s
}

// TestContinue: a second stage continues the first stage's log, and the
// whole log replays to the TPM's PCRs, as after a warm swap.
func TestContinue(t *testing.T) {
	dev := swtpm(t)
	first, err := New(dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.MeasureString(PCRCmdline, "first", "kernel_cmdline: first"); err != nil {
		t.Fatal(err)
	}
	second, _ := New(dev)
	if err := second.Continue(first.Log()); err != nil {
		t.Fatal(err)
	}
	if err := second.MeasureString(PCRCmdline, "second", "kernel_cmdline: second"); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Parse(second.Log())
	if err != nil || len(l.Events) != 2 {
		t.Fatalf("continued log: %v events, %v", len(l.Events), err)
	}
	got, _ := tpm.Read(dev, PCRCmdline, tpm.SHA256)
	if want := l.Replay(tpm.SHA256)[PCRCmdline]; !bytes.Equal(got, want) {
		t.Errorf("PCR 8 = %x, continued log replays to %x", got, want)
	}
	other := &eventlog.Log{Algs: []tpm.Alg{tpm.SHA256}}
	if err := second.Continue(other.Marshal()); err == nil {
		t.Error("Continue accepted a log with other banks")
	}
}

// TestImageStagedSums: Image records the digests staging took in its one
// read (every bank) and reads a file again only for a bank it lacks. The
// memfd here holds other bytes than the sums describe, so a second read
// would show.
func TestImageStagedSums(t *testing.T) {
	dev := swtpm(t)
	m, err := New(dev)
	if err != nil {
		t.Fatal(err)
	}
	staged := []byte("the kernel as staging read it")
	f, err := os.CreateTemp(t.TempDir(), "memfd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	decoy := []byte("other bytes")
	if _, err := f.Write(decoy); err != nil {
		t.Fatal(err)
	}
	sums := kexec.Sums{}
	for _, a := range m.Banks() {
		sums[a.Crypto()] = a.Sum(staged)
	}
	im := &kexec.Image{Entry: entry.Entry{Kernel: "/vmlinuz", Source: entry.Source{Device: "vda2"}}, Kernel: f, KernelSize: int64(len(decoy)), KernelSums: sums}
	if _, err := m.Image(im, "warmboot_trust: policy=off"); err != nil {
		t.Fatal(err)
	}
	// Without the staged sums, the memfd is read.
	im.KernelSums = nil
	if _, err := m.Image(im, "warmboot_trust: policy=off"); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Parse(m.Log())
	if err != nil {
		t.Fatal(err)
	}
	var files []eventlog.Event
	for _, e := range l.Events {
		if e.PCR == PCRFiles {
			files = append(files, e)
		}
	}
	if len(files) != 2 {
		t.Fatalf("%d PCR %d events, want 2", len(files), PCRFiles)
	}
	for _, a := range m.Banks() {
		if got, want := files[0].Digests[a], a.Sum(staged); !bytes.Equal(got, want) {
			t.Errorf("%s: measured %x, want the staged digest %x (the file was read again)", a, got, want)
		}
		if got, want := files[1].Digests[a], a.Sum(decoy); !bytes.Equal(got, want) {
			t.Errorf("%s without staged sums: measured %x, want the file's %x", a, got, want)
		}
	}
}
