package vmtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/boot/trust"
)

// swtpmArgs starts swtpm (TPM 2.0) for one VM and returns the QEMU
// arguments that attach it as a TIS device.
func swtpmArgs(t testing.TB) []string {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		t.Fatalf("swtpm not installed (make deps installs it): %v", err)
	}
	d := t.TempDir()
	sock := filepath.Join(d, "ctrl.sock")
	cmd := exec.Command(bin, "socket", "--tpm2", "--tpmstate", "dir="+d, "--ctrl", "type=unixio,path="+sock, "--terminate")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		// Wait for the socket to exist; QEMU is its only client (a probe
		// connection would end swtpm under --terminate).
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 100 {
			t.Fatalf("swtpm did not start: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return []string{"-chardev", "socket,id=chrtpm,path=" + sock, "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"}
}

// extend replays SHA-256 extends from zero.
func extend(digests ...[32]byte) string {
	pcr := make([]byte, 32)
	for _, d := range digests {
		s := sha256.Sum256(append(pcr, d[:]...))
		pcr = s[:]
	}
	return hex.EncodeToString(pcr)
}

// Measured boot on a TPM: warmboot extends PCRs 8 and 9 and hands the
// event log to the target, which replays it and compares with what the
// kernel reads from the TPM. The expected PCR values are computed here
// from the files on the disk, so a log that merely agreed with itself
// would not pass.
func TestTPMMeasuredBoot(t *testing.T) {
	parallel(t)
	d := twoEntries(map[string][]byte{
		"/warmboot/a.manifest": []byte(signed(signKey, "/vmlinuz-a", kernelData, cmdA)),
	})
	dimg := buildDisk(t, d)
	args := append([]string{"-no-reboot", "-drive", "file=" + dimg + ",if=virtio,format=raw"}, swtpmArgs(t)...)
	vm := qemu.StartT(t, "vm", qemu.ArchAMD64,
		qemu.WithKernel(kernel),
		qemu.WithInitramfs(enforceImage),
		qemu.WithAppendKernel("console=ttyS0 quiet "+fast),
		qemu.WithVMTimeout(4*time.Minute),
		qemu.ArbitraryArgs(args...),
	)
	fp := trust.Fingerprint(signKey.Public().(ed25519.PublicKey))
	trustEvent := fmt.Sprintf("warmboot_trust: policy=enforce key=%s manifest=vda1:/warmboot/a.manifest cmdline=signed", fp)
	pcr8 := extend(sha256.Sum256([]byte(cmdA)), sha256.Sum256([]byte(trustEvent)))
	pcr9 := extend(sum(kernelData), sum(targetData))
	expect(t, vm,
		"warmboot: TPM: measuring into PCRs 8 and 9 (banks [",
		`warmboot: booting "A 2"`,
		"WARMBOOT-TPM-OK events=4 pcr8="+pcr8+" pcr9="+pcr9,
		marker(cmdA))
	finish(t, vm, true)
}
