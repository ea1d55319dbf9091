package state

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/boot/mountinfo"
)

// Name is where the state lives, relative to the boot directory of the
// filesystem holding the boot configs: /boot/warmboot/state on a root
// filesystem with a /boot directory, /warmboot/state on a separate /boot
// (the same /boot/warmboot/state once mounted), beside the bootloader
// image and manifests warmswap reads. On an EFI system partition or
// XBOOTLDR (ESP), which every bootloader can write, it is /warmboot/state
// on that partition (mounted at /boot/efi, /efi or /boot).
const Name = "warmboot/state"

// Path is the state file's path on the filesystem whose boot config is
// at config: "/boot/loader/entries/a.conf" gives "/boot/warmboot/state",
// "/loader/entries/a.conf" (a separate /boot) "/warmboot/state".
func Path(config string) string {
	if strings.HasPrefix(config, "/boot/") {
		return "/boot/" + Name
	}
	return "/" + Name
}

// ESPMounts are where a running system mounts its ESP, in the order the
// state prefers them.
var ESPMounts = []string{"/boot/efi", "/efi", "/boot"}

// IsESP says whether fsys, the root of a FAT filesystem, is an EFI system
// partition (it holds /EFI) or an XBOOTLDR partition (/loader).
func IsESP(fsys fs.FS) bool {
	for _, d := range []string{"EFI", "loader"} {
		if st, err := fs.Stat(fsys, d); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// Choose picks the state file among candidates (most preferred first):
// the first that exists, else the first. exists reports a candidate's
// file.
func Choose[C any](cands []C, exists func(C) bool) (C, bool) {
	var zero C
	for _, c := range cands {
		if exists(c) {
			return c, true
		}
	}
	if len(cands) == 0 {
		return zero, false
	}
	return cands[0], true
}

// HostFile is the state file of the running system under root ("/"),
// relative to root: on a mounted ESP (ESPMounts, FAT, IsESP) if one
// holds it or none holds it elsewhere, else /boot/warmboot/state: the
// file the bootloader finds by the same preference (an existing file
// first, an ESP first). An ESP systemd automounts (systemd-gpt-auto-
// generator, an x-systemd.automount fstab line) is an autofs mount until
// something looks inside: it is looked into first, so that the state
// file on it is found, not a second one made under /boot.
func HostFile(root string) string {
	var cands []string
	ms, err := mountinfo.Read(root)
	for _, m := range ms {
		if m.FSType == "autofs" && slices.Contains(ESPMounts, m.Dir) {
			os.ReadDir(filepath.Join(root, m.Dir)) // mounts it
			ms, err = mountinfo.Read(root)
			break
		}
	}
	if err == nil {
		for _, mp := range ESPMounts {
			for _, m := range ms {
				if m.Dir == mp && m.FSType == "vfat" && IsESP(os.DirFS(filepath.Join(root, mp))) {
					cands = append(cands, path.Join(mp, Name))
				}
			}
		}
	}
	cands = append(cands, "/boot/"+Name)
	f, _ := Choose(cands, func(c string) bool {
		_, err := os.Lstat(filepath.Join(root, c))
		return err == nil
	})
	return f
}

// Read reads the state file name in fsys. No file is an empty State and
// no error. A file that cannot be read or parsed is an empty State and an
// error naming the file: the caller says so and boots on.
func Read(fsys fs.FS, name string) (State, error) {
	f, err := fsys.Open(strings.TrimPrefix(name, "/"))
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("reading %s: %w (treating the state as empty)", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err == nil {
		var s State
		if s, err = Parse(data); err == nil {
			return s, nil
		}
	}
	return State{}, fmt.Errorf("%s: %w (treating the state as empty; the next write replaces it)", name, err)
}

// Save writes s to name under r atomically (Write), creating its
// directory if need be.
func Save(r *os.Root, name string, s State) error {
	data, err := Marshal(s)
	if err != nil {
		return err
	}
	name = strings.TrimPrefix(name, "/")
	dir := path.Dir(name)
	if _, err := r.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		if err := (RootFS{r}).SyncDir(path.Dir(dir)); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return Write(RootFS{r}, name, data)
}

// RootFS is an FS confined to an os.Root: the bootloader writes through
// the root of the filesystem it remounted writable, and nothing else.
type RootFS struct{ R *os.Root }

// CreateTemp implements FS.
func (r RootFS) CreateTemp(dir, pattern string) (File, error) {
	prefix, suffix, _ := strings.Cut(pattern, "*")
	for range 10 {
		// math/rand, not crypto/rand: a name needs no secret, and
		// crypto/rand's getrandom(2) blocks, in the bootloader on a
		// machine with no RDRAND, until the kernel's RNG is seeded.
		name := path.Join(dir, prefix+strconv.FormatUint(rand.Uint64()>>16, 16)+suffix)
		f, err := r.R.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return rootFile{f, name}, nil
	}
	return nil, fmt.Errorf("creating a temporary file in %s: names taken", dir)
}

// rootFile is a file whose Name is its path under the root.
type rootFile struct {
	*os.File
	name string
}

func (f rootFile) Name() string { return f.name }

// Rename implements FS.
func (r RootFS) Rename(oldpath, newpath string) error { return r.R.Rename(oldpath, newpath) }

// Remove implements FS.
func (r RootFS) Remove(name string) error { return r.R.Remove(name) }

// Rename renames oldpath to newpath under r and makes it durable, on FAT
// too: the renamed file synced where it now is (Linux's vfat writes the
// new directory entry's size and first cluster only when the file's own
// metadata is written back: until then the entry names an empty file, or
// the replaced file's freed clusters), then the directory. BLS counters
// are renamed so, by the bootloader and by bless.
func Rename(r *os.Root, oldpath, newpath string) error {
	if err := r.Rename(oldpath, newpath); err != nil {
		return err
	}
	fs := RootFS{r}
	if err := fs.SyncFile(newpath); err != nil {
		return fmt.Errorf("%s renamed %s, not synced: %w", oldpath, newpath, err)
	}
	if err := fs.SyncDir(path.Dir(newpath)); err != nil {
		return fmt.Errorf("%s renamed %s, its directory not synced: %w", oldpath, newpath, err)
	}
	return nil
}

// SyncFile implements FS.
func (r RootFS) SyncFile(name string) error {
	f, err := r.R.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// SyncDir implements FS.
func (r RootFS) SyncDir(dir string) error {
	d, err := r.R.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LockFile is where the running system locks its boot state (Lock): in
// /run, so that it goes with the boot.
const LockFile = "run/warmboot/state.lock"

// Lock takes the running system's lock on its boot state under root, so
// that "warmboot bless" (at every boot) and warmswap (from the read of the
// state to its write before the kexec) do not read and write it over each
// other: bless would drop the one-shot entry a swap had just recorded. It
// waits for the other, up to LockWait: a process that holds it longer is
// slow or stuck, and the error (ErrLockBusy) says so rather than hang;
// the caller then writes nothing. The lock goes when unlock is called or
// the process ends (a swap's, at its kexec). Where it cannot be taken at
// all (no /run), the caller goes on unlocked.
func Lock(root string) (unlock func(), err error) {
	p := filepath.Join(root, LockFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return func() {}, err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return func() {}, err
	}
	for deadline := time.Now().Add(LockWait); ; time.Sleep(lockPoll) {
		locked, err := sys.TryLockFile(f.Fd())
		if err != nil {
			f.Close()
			return func() {}, err
		}
		if locked {
			return func() { f.Close() }, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return func() {}, fmt.Errorf("%s: %w for %v (a warmswap or \"warmboot bless\" that is slow or stuck: fuser -v %s names it)", p, ErrLockBusy, LockWait, p)
		}
	}
}

// ErrLockBusy is Lock's error when another process held the lock for all
// of LockWait. The state must then not be written: what was read could
// be older than what the other process is about to write.
var ErrLockBusy = errors.New("held by another process")

// LockWait is how long Lock waits for another process's lock: bless and a
// swap's plan hold it for the seconds it takes to read, stage and write.
var LockWait = time.Minute

const lockPoll = 50 * time.Millisecond
