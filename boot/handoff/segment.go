// Package handoff passes information across a kexec, as a cpio segment
// appended to the next initramfs: the kernel unpacks concatenated archives
// in order, so the files appear in the next system's initramfs without
// touching its own archive. Both directions use it: warmboot hands the
// booted system its TPM event log, and a running system that re-enters
// warmboot (warmswap) hands it a Record saying which entry to boot.
//
// Files go under Dir ("/.warmboot"), a top-level directory: /run is a
// tmpfs that initramfs-tools, dracut and systemd mount over the initramfs
// early, which would hide anything placed there, and systemd-stub sets the
// precedent of a dot-directory (/.extra) for what a boot stage adds.
//
// What is there:
//
//	/.warmboot/eventlog   the TPM event log of what warmboot measured, in
//	                      the TCG crypto-agile format (package eventlog);
//	                      absent when the machine has no TPM. A
//	                      re-entered bootloader continues the one it finds
//	                      in its own initramfs, since PCRs were not reset.
//	/.warmboot/handoff.json
//	                      in the bootloader's own initramfs: a Record
//	                      (versioned JSON, see Record), written by the
//	                      system that re-enters the bootloader.
package handoff

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// Dir is where the booted system finds what warmboot hands it.
const Dir = "/.warmboot"

// EventLog is the event log's path in the booted system.
const EventLog = Dir + "/eventlog"

// Segment writes files (absolute path → content) as a newc cpio archive,
// with their parent directories, in a fixed order with zero times, so the
// same input gives the same bytes. The result is a multiple of 4 bytes
// long, as appending to an initramfs needs.
func Segment(files map[string][]byte) ([]byte, error) {
	var names []string
	dirs := map[string]bool{}
	for n := range files {
		if !strings.HasPrefix(n, "/") || path.Clean(n) != n {
			return nil, fmt.Errorf("handoff segment: bad path %q", n)
		}
		names = append(names, n)
		for d := path.Dir(n); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names) // parents sort before their children
	var b bytes.Buffer
	w := cpio.NewWriter(&b)
	for _, n := range names {
		h := &cpio.Header{Name: strings.TrimPrefix(n, "/"), Links: 1}
		data, isFile := files[n]
		if isFile {
			h.Mode = cpio.TypeReg | 0o444
			h.Size = int64(len(data))
		} else {
			h.Mode = cpio.TypeDir | 0o755
			h.Links = 2
		}
		if err := w.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("handoff segment: %w", err)
		}
		if _, err := w.Write(data); err != nil {
			return nil, fmt.Errorf("handoff segment: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("handoff segment: %w", err)
	}
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	return b.Bytes(), nil
}
