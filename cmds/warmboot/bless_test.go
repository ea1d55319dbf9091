package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/inventory"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// A kexec after which the NIC is gone: bless exits 3 (not blessed); with
// -on-device-loss=restart (the unit's) it hands the restart through the
// firmware into the same entry to warmswap.
func TestBlessDeviceLoss(t *testing.T) {
	root := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := handoff.Booted{Entry: "debian-6.12", Kernel: strings.Repeat("ab", 32), By: "warmboot", Handoff: &handoff.Record{Version: 1, Entry: "debian-6.12",
		Check: &handoff.DeviceCheck{Inventory: inventory.Inventory{Version: 1, Net: []inventory.Link{{Name: "enp0s3", MAC: "52:54:00:12:34:56", Carrier: true}}}}}}
	data, _ := b.Marshal()
	write("run/warmboot/booted.json", string(data))
	write("proc/self/mountinfo", "22 1 8:1 / / rw,relatime - ext4 /dev/vda1 rw\n")
	write(inventory.RulesFile, "wait 0s\n")
	var ran [][]string
	orig := restartCommand
	restartCommand = func(_, _ io.Writer, args ...string) error { ran = append(ran, args); return nil }
	defer func() { restartCommand = orig }()
	var stdout, stderr bytes.Buffer
	if code := blessCmd([]string{"-root", root}, &stdout, &stderr); code != cli.ExitDeviceLost || len(ran) != 0 {
		t.Fatalf("bless = exit %d, restarts %v; want 3 and none\n%s%s", code, ran, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "device check failed after the kexec into \"debian-6.12\": net/enp0s3") {
		t.Errorf("stderr = %s", stderr.String())
	}
	if code := blessCmd([]string{"-root", root, "-on-device-loss=restart"}, &stdout, &stderr); code != cli.ExitDeviceLost {
		t.Fatalf("bless -on-device-loss=restart = exit %d", code)
	}
	if want := "-mode firmware -unprotected -entry debian-6.12 -reason device check failed after a kexec"; len(ran) != 1 || strings.Join(ran[0], " ") != want {
		t.Errorf("restart = %q; want warmswap %s", ran, want)
	}
	if code := blessCmd([]string{"-root", root, "-on-device-loss=later"}, &stdout, &stderr); code != cli.ExitUsage {
		t.Errorf("-on-device-loss=later = exit %d; want 2", code)
	}
}
