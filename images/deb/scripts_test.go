// Package deb holds the Debian package's files and builder (mkdeb.sh);
// its tests run the initramfs scripts against a scratch root.
package deb

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/handoff"
)

// scratch returns the script at path with its absolute /.warmboot and
// /run paths moved under root, written to an executable file.
func scratch(t *testing.T, path, root string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(" /.warmboot", " "+root+"/.warmboot", " /run/", " "+root+"/run/").Replace(string(data))
	f := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(f, []byte(s), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

// The initramfs-tools script and the dracut hook copy what warmboot
// handed over (/.warmboot) to /run/warmboot, keeping its tree, and do
// nothing on a boot without it.
func TestCopyScripts(t *testing.T) {
	for _, tt := range []struct{ script, run string }{
		{"initramfs-tools/init-bottom", ""},
		{"dracut/90warmboot/warmboot-copy.sh", ". "}, // dracut sources its hooks
	} {
		t.Run(tt.script, func(t *testing.T) {
			if out, err := exec.Command("sh", "-n", tt.script).CombinedOutput(); err != nil {
				t.Fatalf("sh -n: %v: %s", err, out)
			}
			root := t.TempDir()
			f := scratch(t, tt.script, root)
			if out, err := exec.Command("sh", "-c", tt.run+f).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("without /.warmboot: %v: %q", err, out)
			}
			if _, err := os.Stat(filepath.Join(root, "run/warmboot")); err == nil {
				t.Error("made /run/warmboot on a boot without warmboot")
			}
			for p, data := range map[string]string{".warmboot/booted.json": "{}", ".warmboot/fs/boot/vmlinuz": "k"} {
				os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
				os.WriteFile(filepath.Join(root, p), []byte(data), 0o600)
			}
			if out, err := exec.Command("sh", "-c", tt.run+f).CombinedOutput(); err != nil || len(out) > 0 {
				t.Fatalf("with /.warmboot: %v: %q", err, out)
			}
			for _, p := range []string{"run/warmboot/booted.json", "run/warmboot/fs/boot/vmlinuz"} {
				st, err := os.Stat(filepath.Join(root, p))
				if err != nil || st.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v (mode %v); want a copy with its mode", p, err, st)
				}
			}
		})
	}
}

// The hook scripts parse, and the initramfs-tools ones answer prereqs as
// initramfs-tools asks them.
func TestHookScripts(t *testing.T) {
	for _, s := range []string{"initramfs-tools/hook", "initramfs-tools/init-bottom", "kernel-hook", "debian/postinst", "debian/prerm", "debian/postrm"} {
		if out, err := exec.Command("sh", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v: %s", s, err, out)
		}
	}
	if out, err := exec.Command("bash", "-n", "dracut/90warmboot/module-setup.sh").CombinedOutput(); err != nil {
		t.Errorf("module-setup.sh: %v: %s", err, out)
	}
	for _, s := range []string{"initramfs-tools/hook", "initramfs-tools/init-bottom"} {
		if out, err := exec.Command("sh", s, "prereqs").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("%s prereqs = %q, %v", s, out, err)
		}
	}
}

// mkdeb.sh installs every systemd drop-in it names from
// cmds/warmswap/systemd, and systemd-bless-boot's keeps it off a boot
// warmboot made: there its LoaderBootCountPath names the entry
// systemd-boot booted at power on (systemd issue #43738).
func TestSystemdDropIns(t *testing.T) {
	sh, err := os.ReadFile("mkdeb.sh")
	if err != nil {
		t.Fatal(err)
	}
	installed := map[string]string{} // unit drop-in directory: source
	for _, m := range regexp.MustCompile(`(?m)^inst 644 "\$sd/([^"]+)" /usr/lib/systemd/system/([^/]+\.service\.d)/warmboot\.conf$`).FindAllStringSubmatch(string(sh), -1) {
		installed[m[2]] = m[1]
		if _, err := os.Stat(filepath.Join("../../cmds/warmswap/systemd", m[1])); err != nil {
			t.Errorf("mkdeb.sh installs %s: %v", m[1], err)
		}
	}
	src, ok := installed["systemd-bless-boot.service.d"]
	if !ok {
		t.Fatalf("mkdeb.sh installs no systemd-bless-boot.service.d/warmboot.conf; drop-ins: %v", installed)
	}
	data, err := os.ReadFile(filepath.Join("../../cmds/warmswap/systemd", src))
	if err != nil {
		t.Fatal(err)
	}
	section, found := "", false
	want := "ConditionPathExists=!/" + handoff.BootedFiles[0]
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || l[0] == '#':
		case strings.HasPrefix(l, "["):
			section = l
		case l == want && section == "[Unit]":
			found = true
		default:
			t.Errorf("%s: unexpected line %q in %s", src, l, section)
		}
	}
	if !found {
		t.Errorf("%s lacks %q in [Unit]", src, want)
	}
}
