// Package testtool finds the external tools some tests drive (signify,
// swtpm, tpm2_eventlog): such a test fails when its tool is missing and
// WARMBOOT_REQUIRE_TOOLS is set (make sets it, after installing them), and
// skips otherwise, so a bare "go test ./..." works on any machine.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Need returns the path of tool, or ends the test.
func Need(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("WARMBOOT_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is not installed (make deps installs it): %v", tool, err)
		}
		t.Skipf("%s not installed; make test requires it", tool)
	}
	return p
}
