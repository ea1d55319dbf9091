package state

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// FS is what an atomic replace needs of a filesystem. OS is the
// machine's; tests use a model that loses what was not synced.
type FS interface {
	// CreateTemp creates a new file in dir.
	CreateTemp(dir, pattern string) (File, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	// SyncFile makes name's own metadata, where it now is, durable: on
	// FAT a file's size and first cluster live in its directory entry,
	// which a rename moves to the target's slot and only the renamed
	// file's sync writes there (syncing the directory does not).
	SyncFile(name string) error
	// SyncDir makes dir's entries (a rename) durable.
	SyncDir(dir string) error
}

// File is a file being written.
type File interface {
	Name() string
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

// Write replaces the file at path with data so that a power cut at any
// moment leaves the old file or the new one, never a mix: the data goes
// to a new file in the same directory, which is synced, renamed over
// path, and the directory synced.
func Write(fsys FS, path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := fsys.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		fsys.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		fsys.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		fsys.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Linux's vfat rename over an existing file leaves the target's
	// slot naming the old file's clusters, which it frees, until the
	// renamed file's entry is written back; a sync of the directory then
	// puts the freed clusters on the disk under the old entry (found by
	// TestStateCrashPointsFAT: every crash point read an empty or torn
	// state). The file's own sync writes its entry first.
	if err := fsys.SyncFile(path); err != nil {
		return fmt.Errorf("writing %s: the new file is in place but did not sync there: %w", path, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("writing %s: the new file is in place but its directory did not sync: %w", path, err)
	}
	return nil
}

// OS is the machine's filesystem.
type OS struct{}

// CreateTemp implements FS.
func (OS) CreateTemp(dir, pattern string) (File, error) { return os.CreateTemp(dir, pattern) }

// Rename implements FS.
func (OS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove implements FS.
func (OS) Remove(name string) error { return os.Remove(name) }

// SyncFile implements FS.
func (OS) SyncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// SyncDir implements FS.
func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteJSON replaces the file at path with v as indented JSON, atomically
// (Write on the machine's filesystem), making its directory first: for
// the running system's own records (/var/lib/warmboot).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return Write(OS{}, path, append(b, '\n'))
}
