// Package mountinfo is the one parser of /proc/self/mountinfo (proc(5)):
// the bootloader unmounting its disks before kexec, warmswap finding a
// running system's filesystems and shutting them down all read mounts
// through it, with the kernel's octal escapes undone.
package mountinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	ID, Parent int
	// Dev is the filesystem's device number, "major:minor" ("254:1"),
	// whatever name its source has ("/dev/root" for a root the kernel
	// mounted itself).
	Dev string
	// Root is the directory of the filesystem mounted there ("/" for
	// all of it; a bind mount's or btrfs subvolume's path otherwise).
	Root     string
	Dir      string // mount point
	FSType   string
	Source   string
	ReadOnly bool // the mount's own "ro" option
}

// Parse parses /proc/self/mountinfo (proc(5)). Mount points are
// octal-escaped there ("\040" for a space) and are unescaped.
func Parse(data []byte) ([]Mount, error) {
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
		m := Mount{ID: id, Parent: parent, Dev: f[2], Root: Unescape(f[3]), Dir: Unescape(f[4]), FSType: f[sep+1], Source: Unescape(f[sep+2])}
		for _, o := range strings.Split(f[5], ",") {
			if o == "ro" {
				m.ReadOnly = true
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// Unescape undoes the octal escapes (\040 space, \011 tab, \012 newline,
// \134 backslash) that the kernel writes in mountinfo and fstab(5) uses
// for the same fields.
func Unescape(s string) string {
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

// Read reads and parses proc/self/mountinfo under root ("/" on a machine,
// a test's directory).
func Read(root string) ([]Mount, error) {
	p := filepath.Join(root, "proc/self/mountinfo")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("listing mounts: %w", err)
	}
	ms, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return ms, nil
}

// Under returns the mount points at or beneath dir, deepest first, so
// they can be unmounted in order.
func Under(ms []Mount, dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, m := range ms {
		if m.Dir == dir || strings.HasPrefix(m.Dir, dir+"/") || dir == "/" {
			out = append(out, m.Dir)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out
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
