package restart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	a, b := "aaaa", "bbbb"
	unsafe := "kernel 6.1.0-57 lost pci/0000:00:1f.6 (e1000e) after a kexec on 2026-12-04"
	never := "/etc/warmboot/never-kexec says this machine must never kexec"
	for _, tc := range []struct {
		name string
		f    Facts
		want Mode
		err  string
	}{
		{"same boot: soft", Facts{Asked: Auto, Running: a, Target: a, SoftReboot: true}, Soft, ""},
		{"same boot, old systemd: kexec", Facts{Asked: Auto, Running: a, Target: a}, Kexec, ""},
		{"running unknown: kexec", Facts{Asked: Auto, Running: "", Target: "", SoftReboot: true}, Kexec, ""},
		{"another boot: kexec", Facts{Asked: Auto, Running: a, Target: b, SoftReboot: true}, Kexec, ""},
		{"kexec unsafe: firmware", Facts{Asked: Auto, Running: a, Target: b, SoftReboot: true, Unsafe: unsafe}, Firmware, ""},
		{"never-kexec: firmware", Facts{Asked: Auto, Running: a, Target: b, NeverKexec: never}, Firmware, ""},
		{"kexec unsafe, same boot: soft still", Facts{Asked: Auto, Running: a, Target: a, SoftReboot: true, Unsafe: unsafe}, Soft, ""},
		{"never-kexec, same boot: soft still", Facts{Asked: Auto, Running: a, Target: a, SoftReboot: true, NeverKexec: never}, Soft, ""},
		{"asked firmware", Facts{Asked: Firmware, Running: a, Target: a, SoftReboot: true}, Firmware, ""},
		{"asked soft, another boot", Facts{Asked: Soft, Running: a, Target: b, SoftReboot: true}, "", "-mode soft restarts userspace only"},
		{"asked soft, running unknown", Facts{Asked: Soft, SoftReboot: true}, "", "-mode soft restarts userspace only"},
		{"asked soft, old systemd", Facts{Asked: Soft, Running: a, Target: a}, "", "needs systemd 254"},
		{"asked kexec, unsafe", Facts{Asked: Kexec, Running: a, Target: b, Unsafe: unsafe}, "", "-mode kexec refused: " + unsafe},
		{"asked kexec, never-kexec", Facts{Asked: Kexec, Running: a, Target: b, NeverKexec: never}, "", "-mode kexec refused: " + never},
		{"asked kexec", Facts{Asked: Kexec, Running: a, Target: a, SoftReboot: true}, Kexec, ""},
		{"devices lost: firmware", Facts{Asked: Auto, Running: a, Target: b, DevicesLost: "lost"}, Firmware, ""},
		{"devices lost, same boot: firmware, not soft", Facts{Asked: Auto, Running: a, Target: a, SoftReboot: true, DevicesLost: "lost"}, Firmware, ""},
		{"asked kexec, devices lost", Facts{Asked: Kexec, Running: a, Target: b, DevicesLost: "lost"}, "", "-mode kexec refused: lost"},
		{"asked nonsense", Facts{Asked: "sometimes"}, "", "want auto, kexec, soft or firmware"},
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

func TestUnsafe(t *testing.T) {
	root := t.TempDir()
	u, err := ReadUnsafe(root)
	if err != nil || len(u.Kernels) != 0 {
		t.Fatalf("ReadUnsafe(none) = %+v, %v; want empty", u, err)
	}
	k := strings.Repeat("ab", 32)
	at := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	u.Add(UnsafeKernel{Kernel: k, Release: "6.12.57+deb13-amd64", Entry: "debian", Devices: []string{"net/enp0s3: link enp0s3 (52:54:00:12:34:56) is gone"}, At: at})
	u.Add(UnsafeKernel{Kernel: k, Release: "6.12.57+deb13-amd64", Entry: "debian", Devices: []string{"net/enp0s3: link enp0s3 (52:54:00:12:34:56) is gone", "input/x: gone"}, At: at.Add(time.Hour)})
	if err := WriteUnsafe(root, u); err != nil {
		t.Fatal(err)
	}
	got, err := ReadUnsafe(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Kernels) != 1 || len(got.Kernels[0].Devices) != 2 {
		t.Fatalf("record = %+v; want one kernel, both devices once", got)
	}
	why := got.Why(k)
	for _, w := range []string{"6.12.57+deb13-amd64", "abababababab…", "net/enp0s3", "input/x", "2026-12-04 16:00 UTC", UnsafeFile, "warmswap -clear-unsafe"} {
		if !strings.Contains(why, w) {
			t.Errorf("Why = %q; want %q in it", why, w)
		}
	}
	if w := got.Why(strings.Repeat("cd", 32)); w != "" {
		t.Errorf("Why(another kernel) = %q; want none", w)
	}
	if err := ClearUnsafe(root); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadUnsafe(root); err != nil || got.Why(k) != "" {
		t.Errorf("after ClearUnsafe: %+v, %v", got, err)
	}
	if err := ClearUnsafe(root); err != nil {
		t.Errorf("ClearUnsafe with nothing recorded: %v", err)
	}
}

func TestUnsafeBad(t *testing.T) {
	k := strings.Repeat("ab", 32)
	for name, data := range map[string]string{
		"not json":      "kernel abc",
		"other version": `{"version":2,"kernels":[]}`,
		"too large":     strings.Repeat(" ", maxUnsafeFile+1),
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			p := filepath.Join(root, UnsafeFile)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(data), 0o644)
			u, err := ReadUnsafe(root)
			if err == nil || !strings.Contains(err.Error(), UnsafeFile) || !strings.Contains(err.Error(), "warmswap -clear-unsafe") {
				t.Errorf("ReadUnsafe = %v; want an error naming the file and the fix", err)
			}
			// Unreadable, no kernel is known safe.
			if w := u.Why(k); !strings.Contains(w, "unreadable") {
				t.Errorf("Why with an unreadable record = %q", w)
			}
			// Recording a loss keeps the unreadable file aside.
			u.Add(UnsafeKernel{Kernel: k, Devices: []string{"net/x: gone"}})
			if err := WriteUnsafe(root, u); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(p + ".unreadable"); string(b) != data {
				t.Errorf("the unreadable record was not kept aside")
			}
			if got, err := ReadUnsafe(root); err != nil || got.Why(k) == "" || len(got.Kernels) != 1 {
				t.Errorf("after recording: %+v, %v", got, err)
			}
		})
	}
	// One bad entry is left out, the others hold; digests in upper case
	// are read.
	root := t.TempDir()
	p := filepath.Join(root, UnsafeFile)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte(`{"version":1,"kernels":[{"kernel":"../etc","devices":[]},{"kernel":"`+strings.ToUpper(k)+`","devices":["net/x: gone"]}]}`), 0o644)
	u, err := ReadUnsafe(root)
	if err == nil || !strings.Contains(err.Error(), "left out") || !strings.Contains(err.Error(), UnsafeFile) {
		t.Errorf("ReadUnsafe = %v; want the bad entry named", err)
	}
	if u.Why(k) == "" || len(u.Kernels) != 1 || u.Unreadable != "" {
		t.Errorf("record = %+v; want the good entry kept", u)
	}
}

func TestUnsafeBounded(t *testing.T) {
	var u Unsafe
	var devs []string
	for i := range 100 {
		devs = append(devs, "pci/"+string(rune('a'+i%26))+strings.Repeat("x", i))
	}
	for i := range 100 {
		u.Add(UnsafeKernel{Kernel: strings.Repeat(string("0123456789abcdef"[i%16]), 63) + string("0123456789abcdef"[i/16%16]), Devices: devs})
	}
	if len(u.Kernels) > maxUnsafeKernels {
		t.Errorf("%d kernels kept; want at most %d", len(u.Kernels), maxUnsafeKernels)
	}
	for _, k := range u.Kernels {
		if len(k.Devices) > maxUnsafeDevices {
			t.Errorf("%d devices kept; want at most %d", len(k.Devices), maxUnsafeDevices)
		}
	}
}

func FuzzParseUnsafe(f *testing.F) {
	f.Add([]byte(`{"version":1,"kernels":[{"kernel":"` + strings.Repeat("ab", 32) + `","devices":["net/x: gone"],"at":"2026-12-04T15:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUnsafe(b)
		if err != nil {
			return
		}
		for _, k := range u.Kernels {
			_ = u.Why(k.Kernel)
		}
	})
}
