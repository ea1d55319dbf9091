package restart

import (
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	a := Boot{Kernel: [32]byte{1}, Initrds: [][32]byte{{2}}, Cmdline: "root=/dev/sda2"}
	b := Boot{Kernel: [32]byte{9}, Initrds: [][32]byte{{2}}, Cmdline: "root=/dev/sda2"}
	edited := a
	edited.Cmdline += " quiet"
	unsafe := "kernel 6.1.0-57 lost pci/0000:00:1f.6 (e1000e) after a kexec on 2026-12-04"
	for _, tc := range []struct {
		name string
		f    Facts
		want Mode
		err  string
	}{
		{"same kernel: soft", Facts{Asked: Auto, Running: a, Target: a, SoftReboot: true}, Soft, ""},
		{"same kernel, old systemd: kexec", Facts{Asked: Auto, Running: a, Target: a}, Kexec, ""},
		{"another kernel: kexec", Facts{Asked: Auto, Running: a, Target: b, SoftReboot: true}, Kexec, ""},
		{"another command line: kexec", Facts{Asked: Auto, Running: a, Target: edited, SoftReboot: true}, Kexec, ""},
		{"kexec unsafe: firmware", Facts{Asked: Auto, Running: a, Target: b, SoftReboot: true, Unsafe: unsafe}, Firmware, ""},
		{"kexec unsafe, same kernel: soft still", Facts{Asked: Auto, Running: a, Target: a, SoftReboot: true, Unsafe: unsafe}, Soft, ""},
		{"asked firmware", Facts{Asked: Firmware, Running: a, Target: a, SoftReboot: true}, Firmware, ""},
		{"asked soft, another kernel", Facts{Asked: Soft, Running: a, Target: b, SoftReboot: true}, "", "-mode soft restarts userspace only"},
		{"asked soft, old systemd", Facts{Asked: Soft, Running: a, Target: a}, "", "needs systemd 254"},
		{"asked kexec, unsafe", Facts{Asked: Kexec, Running: a, Target: b, Unsafe: unsafe}, "", "-mode kexec refused: " + unsafe},
		{"asked kexec", Facts{Asked: Kexec, Running: a, Target: a, SoftReboot: true}, Kexec, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decide(tc.f)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) || d != (Decision{}) {
					t.Errorf("Decide = %+v, %v; want an error with %q", d, err, tc.err)
				}
			case err != nil || d.Mode != tc.want || d.Why == "":
				t.Errorf("Decide = %+v, %v; want %s with a reason", d, err, tc.want)
			}
		})
	}
	if _, err := ParseMode("sometimes"); err == nil {
		t.Errorf("ParseMode(sometimes) succeeded")
	}
}
