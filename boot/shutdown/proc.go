package shutdown

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
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

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	ID, Parent int
	Dir        string // mount point
	FSType     string
	Source     string
	ReadOnly   bool // the mount's own "ro" option
}

// ParseMountInfo parses /proc/self/mountinfo (proc(5)). Mount points are
// octal-escaped there ("\040" for a space) and are unescaped.
func ParseMountInfo(data []byte) ([]Mount, error) {
	var out []Mount
	for n, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("mountinfo line %d: malformed: %q", n+1, line)
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo line %d: bad mount ids: %q", n+1, line)
		}
		m := Mount{ID: id, Parent: parent, Dir: unescape(f[4]), FSType: f[sep+1], Source: unescape(f[sep+2])}
		for _, o := range strings.Split(f[5], ",") {
			if o == "ro" {
				m.ReadOnly = true
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// unescape undoes the kernel's octal escapes (\040 space, \011 tab, \012
// newline, \134 backslash).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// virtual are filesystem types with no backing store: nothing on them
// outlives the boot, so shutdown leaves them mounted.
var virtual = map[string]bool{
	"proc": true, "sysfs": true, "devtmpfs": true, "devpts": true, "tmpfs": true, "ramfs": true,
	"rootfs": true, "securityfs": true, "cgroup": true, "cgroup2": true, "debugfs": true,
	"tracefs": true, "pstore": true, "efivarfs": true, "bpf": true, "mqueue": true,
	"hugetlbfs": true, "configfs": true, "fusectl": true, "autofs": true, "binfmt_misc": true,
	"nsfs": true, "rpc_pipefs": true, "selinuxfs": true,
}

// Virtual says whether fstype has no backing store.
func Virtual(fstype string) bool { return virtual[fstype] }
