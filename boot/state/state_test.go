package state

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/internal/testtool"
)

func sample(i int) State {
	return State{
		LastGood:  &Ref{ID: fmt.Sprintf("debian-6.1.%d", i), Source: entry.Source{Device: "vda1", File: "/loader/entries/debian.conf", Line: 1}},
		Next:      &Attempt{Entry: Ref{ID: "rescue", Source: entry.Source{Device: "vda1", File: "/grub/grub.cfg", Line: 40}}, By: "warmswap", Fallback: &Ref{ID: "debian-6.1"}},
		Trial:     &Attempt{Entry: Ref{ID: "new", Source: entry.Source{File: "/boot/loader/entries/new.conf", Line: 1}}, At: time.Date(2026, 11, 30, 9, 0, i, 0, time.UTC), By: "warmswap", DeadlineSeconds: 120},
		TriesLeft: map[string]int{"vda1:/grub/grub.cfg:12 gnulinux": 3 - i%4},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range []State{{}, sample(1)} {
		b, err := Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Marshal(%+v)) = %v\n%s", s, err, b)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good, _ := Marshal(sample(1))
	flipped := []byte(string(good))
	flipped[30] ^= 1
	v1 := []byte(strings.Replace(string(good), "warmboot-state 3", "warmboot-state 1", 1))
	for name, tt := range map[string]struct {
		data []byte
		want error
	}{
		"empty":        {nil, ErrFormat},
		"truncated":    {good[:len(good)-20], ErrFormat},
		"bit flipped":  {flipped, ErrChecksum},
		"line changed": {v1, ErrChecksum},
		"garbage":      {[]byte("hello\nworld\nsha256 00\n"), ErrFormat},
	} {
		if _, err := Parse(tt.data); !errors.Is(err, tt.want) {
			t.Errorf("%s: Parse = %v, want %v", name, err, tt.want)
		}
	}
	// Correctly checksummed: a version we do not know, and bodies
	// neither version has.
	for _, tc := range []struct {
		version int
		body    string
		want    error
	}{
		{4, `{}`, ErrVersion},
		{0, `{}`, ErrVersion},
		{2, `{"last_good":{"id":"a","source":"vda1:/a.conf:1"}}`, ErrFormat},                             // version 2's source is a value
		{1, `{"last_good":{"id":"a","source":{"file":"/a.conf"}}}`, ErrFormat},                           // version 1's is a string
		{1, `{"trial":{"entry":{"id":"a","source":":/a.conf"},"at":"2026-11-30T09:00:00Z"}}`, ErrFormat}, // and one ParseSource reads
		{1, `{"last_good":{"id":"a","source":"vda1:/a.conf","more":1}}`, ErrFormat},                      // no unknown fields in either
		{1, `[]`, ErrFormat},
	} {
		if _, err := Parse(checksummed(tc.version, tc.body)); !errors.Is(err, tc.want) {
			t.Errorf("version %d %s: Parse = %v, want %v", tc.version, tc.body, err, tc.want)
		}
	}
}

// checksummed is a state file of version with body.
func checksummed(version int, body string) []byte {
	b := fmt.Appendf(nil, "%s %d\n%s\n", Magic, version, body)
	sum := sha256.Sum256(b)
	return fmt.Appendf(b, "sha256 %s\n", hex.EncodeToString(sum[:]))
}

// A state file as warmboot wrote it before sources were values
// (testdata/state-v1, made by that version's Marshal) reads with every
// source as one, and is written again as version 3.
func TestVersion1(t *testing.T) {
	data, err := os.ReadFile("testdata/state-v1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	old := &Ref{ID: "debian-6.1.0-56-amd64", Source: entry.Source{Device: "vda1", File: "/loader/entries/debian-6.1.0-56-amd64.conf", Line: 1}}
	newer := Ref{ID: "debian-6.1.0-57-amd64", Source: entry.Source{Device: "vda1", File: "/loader/entries/debian-6.1.0-57-amd64+2-1.conf", Line: 1}}
	want := State{
		LastGood:    old,
		Default:     &Kept{Ref: *old},
		Next:        &Attempt{Entry: Ref{ID: "rescue", Source: entry.Source{Device: "vda1", File: "/grub/grub.cfg", Line: 40}}, At: at, By: "warmswap", Fallback: old},
		Trial:       &Attempt{Entry: newer, At: at, By: "warmswap -direct", DeadlineSeconds: 120, Fallback: old},
		LastAttempt: &Attempt{Entry: newer, At: at, By: "warmswap -direct", DeadlineSeconds: 120, Fallback: old},
		TriesLeft:   map[string]int{"panic": 0},
		LastFailure: &Failure{
			Attempt: Attempt{Entry: Ref{ID: "panic", Source: entry.Source{Device: "handoff", File: "/.warmboot/handoff.json"}}, At: at.Add(-time.Hour), By: "warmswap", DeadlineSeconds: 40,
				Fallback: &Ref{ID: "system", Source: entry.Source{File: "/boot/loader/entries/system.conf", Line: 1}}},
			Seen: at.Add(-50 * time.Minute),
			Why:  `it did not run "warmboot bless" before the machine came back to the bootloader: it panicked, hung past its watchdog deadline, or was reset`,
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse(testdata/state-v1) (-want +got):\n%s", diff)
	}
	out, err := Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "warmboot-state 3\n") || !strings.Contains(string(out), `"last_good":{"id":"debian-6.1.0-56-amd64","source":{"device":"vda1","file":"/loader/entries/debian-6.1.0-56-amd64.conf","line":1}}`) {
		t.Errorf("Marshal = %s, want version 3 with sources as values", out)
	}
	if again, err := Parse(out); err != nil || !cmp.Equal(want, again) {
		t.Errorf("Parse(Marshal) = %+v, %v", again, err)
	}
	// An entry whose id is "source" is only an id.
	if s, err := Parse(checksummed(1, `{"tries_left":{"source":0}}`)); err != nil || !s.OutOfTries("source", "") {
		t.Errorf(`version 1 with tries_left {"source":0}: %+v, %v`, s, err)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Marshal(sample(2))
	f.Add(good)
	f.Add([]byte("warmboot-state 1\n{}\nsha256 00\n"))
	if v1, err := os.ReadFile("testdata/state-v1"); err == nil {
		f.Add(v1)
	}
	f.Add(checksummed(1, `{"last_good":{"id":"a","source":"vda1:/a.conf:1"},"tries_left":{"source":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s State
		var err error
		testtool.Bounded(t, func() { s, err = Parse(data) })
		if err != nil {
			return
		}
		b, err := Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(b); err != nil {
			t.Fatalf("Marshal of a parsed state does not parse: %v", err)
		}
	})
}

// Write on the real filesystem: the file is replaced and no temporary is
// left behind.
func TestWriteOS(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	for i := 0; i < 3; i++ {
		b, _ := Marshal(sample(i))
		if err := Write(OS{}, p, b); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		if s, err := Parse(got); err != nil || s.LastGood.ID != sample(i).LastGood.ID {
			t.Fatalf("after write %d: %+v, %v", i, s, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d files, want only the state file", len(ents))
	}
}

// crashFS is a filesystem that remembers what is durable: file data
// becomes durable when synced, directory entries when the directory is.
// After any operation the machine may lose power; what is then on disk is
// the durable directory or (its operations being journaled, all or
// nothing) the current one, and each file's synced data, or for data not
// yet synced anything from nothing to all of it.
type crashFS struct {
	durableDir, dir map[string]*inode
	ops             int
	crashAt         int // stop after this many operations
	n               int
}

type inode struct{ data, synced []byte }

var errCrash = errors.New("power cut")

func (c *crashFS) op() error {
	if c.ops == c.crashAt {
		return errCrash
	}
	c.ops++
	return nil
}

type crashFile struct {
	c    *crashFS
	name string
	ino  *inode
}

func (f *crashFile) Name() string { return f.name }
func (f *crashFile) Write(p []byte) (int, error) {
	if err := f.c.op(); err != nil {
		return 0, err
	}
	f.ino.data = append(f.ino.data, p...)
	return len(p), nil
}
func (f *crashFile) Sync() error {
	if err := f.c.op(); err != nil {
		return err
	}
	f.ino.synced = append([]byte(nil), f.ino.data...)
	return nil
}
func (f *crashFile) Close() error { return f.c.op() }

func (c *crashFS) CreateTemp(dir, pattern string) (File, error) {
	if err := c.op(); err != nil {
		return nil, err
	}
	c.n++
	name := filepath.Join(dir, strings.Replace(pattern, "*", fmt.Sprint(c.n), 1))
	ino := &inode{}
	c.dir[name] = ino
	return &crashFile{c, name, ino}, nil
}
func (c *crashFS) Rename(o, n string) error {
	if err := c.op(); err != nil {
		return err
	}
	c.dir[n] = c.dir[o]
	delete(c.dir, o)
	return nil
}
func (c *crashFS) Remove(name string) error {
	if err := c.op(); err != nil {
		return err
	}
	delete(c.dir, name)
	return nil
}
func (c *crashFS) SyncFile(string) error { return c.op() }
func (c *crashFS) SyncDir(string) error {
	if err := c.op(); err != nil {
		return err
	}
	c.durableDir = maps.Clone(c.dir)
	return nil
}

// disks are what may be on disk after the power cut.
func (c *crashFS) disks(path string) [][]byte {
	var out [][]byte
	for _, dir := range []map[string]*inode{c.durableDir, c.dir} {
		ino, ok := dir[path]
		if !ok {
			out = append(out, nil)
			continue
		}
		out = append(out, ino.synced)
		if len(ino.data) > len(ino.synced) {
			for _, n := range []int{0, len(ino.data) / 2, len(ino.data) - 1, len(ino.data)} {
				out = append(out, ino.data[:n])
			}
		}
	}
	return out
}

// crashPoints writes states 0..writes-1 in turn with write, cutting power
// after every operation in turn; after each cut, every disk that may be
// left must read as the state before the write or the one it wrote.
func crashPoints(t *testing.T, writes int, write func(FS, string, []byte) error) (points int, torn []string) {
	const path = "/esp/warmboot/state"
	for w := 0; w < writes; w++ {
		for cut := 0; ; cut++ {
			c := &crashFS{durableDir: map[string]*inode{}, dir: map[string]*inode{}, crashAt: -1}
			for i := 0; i < w; i++ { // the writes before, completed
				b, _ := Marshal(sample(i))
				if err := write(c, path, b); err != nil {
					t.Fatal(err)
				}
			}
			c.crashAt = c.ops + cut
			b, _ := Marshal(sample(w))
			err := write(c, path, b)
			points++
			for _, d := range c.disks(path) {
				if d == nil && w == 0 {
					continue // no state yet: empty is the old state
				}
				s, perr := Parse(d)
				ok := perr == nil && (s.LastGood.ID == sample(w).LastGood.ID || w > 0 && s.LastGood.ID == sample(w-1).LastGood.ID)
				if !ok {
					torn = append(torn, fmt.Sprintf("write %d, cut after %d operations: %q (%v)", w, cut, d, perr))
				}
			}
			if err == nil {
				break // the write completed before the cut
			}
		}
	}
	return points, torn
}

// A power cut at any operation of any of 40 state writes leaves the old
// or the new state; the same model finds torn states in a writer that
// rewrites the file in place, so it can fail.
func TestCrashPoints(t *testing.T) {
	points, torn := crashPoints(t, 40, Write)
	if len(torn) > 0 {
		t.Errorf("%d torn states, e.g. %s", len(torn), torn[0])
	}
	if points < 200 {
		t.Errorf("%d crash points, want at least 200", points)
	}
	t.Logf("%d crash points, each with every disk the cut may leave", points)

	inPlace := func(fsys FS, path string, data []byte) error {
		c := fsys.(*crashFS)
		if err := c.op(); err != nil {
			return err
		}
		ino := c.dir[path]
		if ino == nil {
			ino = &inode{}
			c.dir[path] = ino
		}
		ino.data = nil
		f := &crashFile{c, path, ino}
		if _, err := f.Write(data); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		return c.SyncDir(filepath.Dir(path))
	}
	if _, torn := crashPoints(t, 5, inPlace); len(torn) == 0 {
		t.Error("the model found no torn state in a writer that rewrites in place")
	}
}

// HostFile prefers a mounted ESP (FAT, with /EFI) unless the file exists
// beside the configs already.
func TestHostFile(t *testing.T) {
	root := t.TempDir()
	if got := HostFile(root); got != "/boot/warmboot/state" {
		t.Errorf("no mounts: %q", got)
	}
	os.MkdirAll(filepath.Join(root, "proc/self"), 0o755)
	os.MkdirAll(filepath.Join(root, "boot/efi/EFI/debian"), 0o755)
	os.WriteFile(filepath.Join(root, "proc/self/mountinfo"), []byte(
		"22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"+
			"30 22 254:15 / /boot/efi rw,relatime shared:2 - vfat /dev/vda15 rw\n"), 0o644)
	if got := HostFile(root); got != "/boot/efi/warmboot/state" {
		t.Errorf("with an ESP: %q", got)
	}
	os.MkdirAll(filepath.Join(root, "boot/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "boot/warmboot/state"), nil, 0o644)
	if got := HostFile(root); got != "/boot/warmboot/state" {
		t.Errorf("with a file beside the configs: %q", got)
	}
	os.MkdirAll(filepath.Join(root, "boot/efi/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "boot/efi/warmboot/state"), nil, 0o644)
	if got := HostFile(root); got != "/boot/efi/warmboot/state" {
		t.Errorf("with both: %q", got)
	}
	// An automounted ESP at /efi (autofs, then the FAT filesystem on it
	// once looked into): its state file is the one.
	os.MkdirAll(filepath.Join(root, "efi/EFI"), 0o755)
	os.MkdirAll(filepath.Join(root, "efi/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "efi/warmboot/state"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "proc/self/mountinfo"), []byte(
		"22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"+
			"31 22 0:40 / /efi rw,relatime shared:3 - autofs systemd-1 rw,fd=42\n"+
			"32 31 254:15 / /efi rw,relatime shared:4 - vfat /dev/vda15 rw\n"), 0o644)
	if got := HostFile(root); got != "/efi/warmboot/state" {
		t.Errorf("with an automounted ESP: %q", got)
	}
}

// One of bless and warmswap holds the running system's boot state at a
// time: the second waits for the first to let go.
func TestLock(t *testing.T) {
	root := t.TempDir()
	unlock, err := Lock(root)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func())
	go func() {
		u, err := Lock(root)
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("a second Lock did not wait for the first")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	select {
	case u := <-got:
		u()
	case <-time.After(5 * time.Second):
		t.Fatal("the second Lock never got it")
	}
}

// A lock held past LockWait (a stuck process) is an error naming the file,
// not a wait for ever.
func TestLockStuck(t *testing.T) {
	root := t.TempDir()
	unlock, err := Lock(root)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	defer func(w time.Duration) { LockWait = w }(LockWait)
	LockWait = 200 * time.Millisecond
	u, err := Lock(root)
	u()
	if !errors.Is(err, ErrLockBusy) || !strings.Contains(err.Error(), "state.lock: held by another process") {
		t.Fatalf("Lock of a lock held elsewhere = %v", err)
	}
}
