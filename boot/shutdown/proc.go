package shutdown

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/warmboot/warmboot/boot/mountinfo"
)

// Process is one entry of /proc.
type Process struct {
	PID   int
	Comm  string // the name in /proc/PID/stat, for messages
	State byte   // 'R', 'S', 'D', 'Z', ...
	// Kernel is a kernel thread (PF_KTHREAD): it is never signalled.
	Kernel bool
	// Spared has an argv[0] starting with '@' (see the package doc).
	Spared bool
}

func (p Process) String() string { return fmt.Sprintf("%d (%s)", p.PID, p.Comm) }

// pfKthread is PF_KTHREAD in the flags field of /proc/PID/stat.
const pfKthread = 0x00200000

// ParseStat reads the fields of /proc/PID/stat that shutdown needs. The
// command name is in parentheses and may itself hold spaces and
// parentheses, so the fields after it are found from the last ')'.
func ParseStat(data []byte) (Process, error) {
	var p Process
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 1 || end < open {
		return p, fmt.Errorf("malformed stat: no (comm)")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data[:open])))
	if err != nil || pid <= 0 {
		return p, fmt.Errorf("malformed stat: pid %q", bytes.TrimSpace(data[:open]))
	}
	p.PID, p.Comm = pid, string(data[open+1:end])
	// After ") ": state ppid pgrp session tty_nr tpgid flags ...
	rest := strings.Fields(string(data[end+1:]))
	if len(rest) < 7 {
		return p, fmt.Errorf("malformed stat for pid %d: too few fields", pid)
	}
	// The state is one letter (R, S, D, Z, T, t, X, I, ...).
	if st := rest[0]; len(st) != 1 || !('A' <= st[0] && st[0] <= 'Z' || 'a' <= st[0] && st[0] <= 'z') {
		return p, fmt.Errorf("malformed stat for pid %d: state %q", pid, st)
	}
	p.State = rest[0][0]
	flags, err := strconv.ParseUint(rest[6], 10, 64)
	if err != nil {
		return p, fmt.Errorf("malformed stat for pid %d: flags %q", pid, rest[6])
	}
	p.Kernel = flags&pfKthread != 0
	return p, nil
}

// Mount is one mount of /proc/self/mountinfo (package mountinfo).
type Mount = mountinfo.Mount
