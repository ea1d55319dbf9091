package swap

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Debian's kexec-tools with LOAD_KEXEC=true loads a kernel at every
// reboot, behind warmboot's back: said, whichever way the reboot goes.
func TestNextRebootKexecTools(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/default"), 0o755)
	for _, tt := range []struct {
		conf string
		warn bool
	}{
		{"# Defaults for kexec initscript\nLOAD_KEXEC=true\nKERNEL_IMAGE=\"/vmlinuz\"\n", true},
		{"LOAD_KEXEC=\"true\"\n", true},
		{"LOAD_KEXEC=false\n", false},
		{"#LOAD_KEXEC=true\n", false},
	} {
		os.WriteFile(filepath.Join(root, KexecToolsDefaults), []byte(tt.conf), 0o644)
		p := NextReboot(ReadRebootFacts(root, true, false))
		if (p.Warning != "") != tt.warn || tt.warn && !strings.Contains(p.Warning, "/etc/default/kexec sets LOAD_KEXEC=true") || p.Kexec {
			t.Errorf("%q: %+v", tt.conf, p)
		}
	}
}

// The warmboot package's /etc/default/kexec.d/warmboot (LOAD_KEXEC=false)
// turns kexec-tools' loading off, as its kexec-load script reads it: the
// snippets after /etc/default/kexec, in run-parts order, names run-parts
// skips skipped.
func TestNextRebootKexecToolsSnippets(t *testing.T) {
	pkg, err := os.ReadFile("../../images/deb/etc/kexec-tools")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		files map[string]string
		load  bool
		by    string
	}{
		{"the package's snippet", map[string]string{"kexec.d/warmboot": string(pkg)}, false, "/etc/default/kexec.d/warmboot"},
		{"a later snippet turns it on again", map[string]string{"kexec.d/warmboot": string(pkg), "kexec.d/zz-local": "LOAD_KEXEC=true # mine\n"}, true, "/etc/default/kexec.d/zz-local"},
		{"run-parts skips a name with a dot", map[string]string{"kexec.d/warmboot": string(pkg), "kexec.d/zz.dpkg-old": "LOAD_KEXEC=true\n"}, false, "/etc/default/kexec.d/warmboot"},
		{"no snippet", nil, true, "/etc/default/kexec"},
	} {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, KexecToolsSnippets), 0o755)
		os.WriteFile(filepath.Join(root, KexecToolsDefaults), []byte("LOAD_KEXEC=true\nKERNEL_IMAGE=\"/vmlinuz\"\n"), 0o644)
		for n, c := range tt.files {
			os.WriteFile(filepath.Join(root, "etc/default", n), []byte(c), 0o644)
		}
		f := ReadRebootFacts(root, true, false)
		if f.KexecTools != tt.load || f.KexecToolsBy != tt.by {
			t.Errorf("%s: LOAD_KEXEC %v by %s, want %v by %s", tt.name, f.KexecTools, f.KexecToolsBy, tt.load, tt.by)
		}
		if w := NextReboot(f).Warning; (w != "") != tt.load || tt.load && !strings.HasPrefix(w, tt.by+" sets LOAD_KEXEC=true") {
			t.Errorf("%s: warning %q", tt.name, w)
		}
	}
}

// What kexec-load's shell makes of /etc/default/kexec and its snippets
// (sourced, in run-parts order) is what warmswap reads, or it errs
// towards the warning: an export, a second statement on the line, an
// assignment that may run, a value in quotes. A snippet with CRLF line
// ends ("true\r" to the shell) is warned about though the shell loads
// nothing.
func TestLoadKexecAsTheShell(t *testing.T) {
	pkg, err := os.ReadFile("../../images/deb/etc/kexec-tools")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		local string
		warn  bool // what warmswap must say when the shell does not load
	}{
		{"export LOAD_KEXEC=true\n", false},
		{"LOAD_KEXEC=true; KERNEL_IMAGE=/vmlinuz\n", false},
		{"[ -e /etc/kexec-never ] || LOAD_KEXEC=true\n", false},
		{"if [ -e /etc/kexec-always ]; then\n  LOAD_KEXEC=true\nfi\n", true},
		{"LOAD_KEXEC='true' # mine\n", false},
		{"LOAD_KEXEC=false\n", false},
		{"[ -e /nonexistent ] && LOAD_KEXEC=false\n", false},
		{"LOAD_KEXEC=true\r\n", true},
	} {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, KexecToolsSnippets), 0o755)
		os.WriteFile(filepath.Join(root, KexecToolsDefaults), []byte("LOAD_KEXEC=true\n"), 0o644)
		os.WriteFile(filepath.Join(root, KexecToolsSnippets, "warmboot"), pkg, 0o644)
		os.WriteFile(filepath.Join(root, KexecToolsSnippets, "zz-local"), []byte(tt.local), 0o644)
		script := `. "$1/etc/default/kexec"; for s in $(run-parts --list "$1/etc/default/kexec.d"); do . "$s"; done; test "$LOAD_KEXEC" = true && echo true || echo false`
		out, err := exec.Command("sh", "-c", script, "sh", root).Output()
		if err != nil {
			t.Fatalf("sh (run-parts is in debianutils): %v", err)
		}
		shell := strings.TrimSpace(string(out)) == "true"
		if f := ReadRebootFacts(root, true, false); f.KexecTools != (shell || tt.warn) {
			t.Errorf("zz-local %q: the shell loads a kernel: %v; warmswap says %v (by %s)", tt.local, shell, f.KexecTools, f.KexecToolsBy)
		}
	}
}

func TestSystemdVersion(t *testing.T) {
	for out, want := range map[string]int{
		"systemd 257 (257.9-1~deb13u1)\n+PAM +AUDIT\n": 257,
		"systemd 252 (252.39-1~deb12u1)\n":             252,
		"257.9-1~deb13u1\n":                            257,
		"254\n":                                        254,
		"":                                             0,
		"systemctl: command not found\n":               0,
		"systemd two\n":                                0,
	} {
		if got := SystemdVersion(out); got != want {
			t.Errorf("SystemdVersion(%q) = %d, want %d", out, got, want)
		}
	}
}
