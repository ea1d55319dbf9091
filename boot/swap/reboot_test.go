package swap

import (
	"os"
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
		if (p.Warning != "") != tt.warn || tt.warn && !strings.Contains(p.Warning, "set LOAD_KEXEC=false") || p.Kexec {
			t.Errorf("%q: %+v", tt.conf, p)
		}
	}
}
