package main

import (
	"bytes"
	"errors"
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
	if want := "-mode firmware -unprotected -reason device check failed after a kexec -entry debian-6.12"; len(ran) != 1 || strings.Join(ran[0], " ") != want {
		t.Errorf("restart = %q; want warmswap %s", ran, want)
	}
	if code := blessCmd([]string{"-root", root, "-on-device-loss=later"}, &stdout, &stderr); code != cli.ExitUsage {
		t.Errorf("-on-device-loss=later = exit %d; want 2", code)
	}
}

// A kernel handed over (entry "handoff", in no config) whose device check
// failed restarts through the firmware into the configs' default; so does
// an entry whose own restart warmswap refused.
func TestBlessDeviceLossHandoff(t *testing.T) {
	for _, tc := range []struct {
		entry string
		fail  bool
		want  []string
	}{
		{"handoff", false, []string{"-mode firmware -unprotected -reason device check failed after a kexec"}},
		{"debian", true, []string{"-mode firmware -unprotected -reason device check failed after a kexec -entry debian", "-mode firmware -unprotected -reason device check failed after a kexec"}},
	} {
		root := t.TempDir()
		write := func(name, data string) {
			p := filepath.Join(root, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(data), 0o644)
		}
		b := handoff.Booted{Entry: tc.entry, Kernel: strings.Repeat("ab", 32), By: "warmboot", Handoff: &handoff.Record{Version: 1, Entry: tc.entry,
			Check: &handoff.DeviceCheck{Inventory: inventory.Inventory{Version: 1, Net: []inventory.Link{{Name: "enp0s3", MAC: "52:54:00:12:34:56", Carrier: true}}}}}}
		data, _ := b.Marshal()
		write("run/warmboot/booted.json", string(data))
		write("proc/self/mountinfo", "22 1 8:1 / / rw,relatime - ext4 /dev/vda1 rw\n")
		write(inventory.RulesFile, "wait 0s\n")
		var ran []string
		orig := restartCommand
		restartCommand = func(_, _ io.Writer, args ...string) error {
			ran = append(ran, strings.Join(args, " "))
			if tc.fail && len(ran) == 1 {
				return errors.New("exit status 1")
			}
			return nil
		}
		var stdout, stderr bytes.Buffer
		code := blessCmd([]string{"-root", root, "-on-device-loss=restart"}, &stdout, &stderr)
		restartCommand = orig
		if code != cli.ExitDeviceLost || strings.Join(ran, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: exit %d, restarts %q; want 3, %q\n%s%s", tc.entry, code, ran, tc.want, stdout.String(), stderr.String())
		}
	}
}
