// Package sumcache remembers, on a running system, the SHA-256 of the
// kernels and initrds it has already read, by the version of the file
// (device, inode, size, modification and change times: sys.FileID), so
// that checking an entry again reads nothing.
//
// A kernel upgrade hashes every entry once (warmsign manifest), and the
// checks after it (warmsign verify, warmswap -load) and a later swap
// through the bootloader reuse those digests: the one read and hash of a
// swap is then the bootloader's, which never uses this cache (it runs
// from its own image, and verifying is its job). Only checks whose answer
// the bootloader will give again use it: warmswap -direct hashes what it
// loads.
//
// A file written twice within one tick of the kernel's clock keeps its
// times, so a digest is used only if the file had last changed more than
// Racy before it was taken (git's "racily clean" rule): a file hashed
// just after it was written is read again by the next check, which can
// then remember it.
//
// The cache is one file, Default, only root's, kept across reboots (a
// swap is a reboot: in /run the first check after every swap would hash
// again); a device numbered differently after a reboot only misses. A
// cache that cannot be read is empty; one that cannot be written is not
// kept; neither is an error, since the cache only saves time. Its lines are "<sha256 hex> <when hashed, Unix ns> <file id>", at
// most MaxEntries.
package sumcache

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// Default is where the running system keeps the cache.
const Default = "/var/cache/warmboot/sums"

// MaxEntries bounds the cache; the oldest entries go first.
const MaxEntries = 512

// Racy is how long before its digest was taken a file must have last
// changed for the digest to be used: far more than a tick of the
// kernel's clock (1-10 ms).
const Racy = time.Second

// Cache is the remembered digests. The zero value and nil remember
// nothing.
type Cache struct {
	path  string
	order []string // file ids, oldest first
	sums  map[string]sum
	dirty bool
	now   func() time.Time
}

type sum struct {
	sha256 [32]byte
	at     time.Time // when it was taken
}

// Open reads the cache at path. A missing or unreadable cache, or a bad
// line in it, leaves it (or that line) out.
func Open(path string) *Cache {
	c := &Cache{path: path, sums: map[string]sum{}, now: time.Now}
	f, err := os.Open(path)
	if err != nil {
		return c
	}
	defer f.Close()
	s := bufio.NewScanner(io.LimitReader(f, MaxEntries*256))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) != 3 {
			continue
		}
		b, err := hex.DecodeString(f[0])
		at, err2 := strconv.ParseInt(f[1], 10, 64)
		if err != nil || err2 != nil || len(b) != 32 {
			continue
		}
		c.put(f[2], sum{[32]byte(b), time.Unix(0, at)})
	}
	c.dirty = false
	return c
}

// Lookup returns the SHA-256 remembered for the version of the file fi
// describes.
func (c *Cache) Lookup(fi fs.FileInfo) ([32]byte, bool) {
	if c == nil || c.sums == nil {
		return [32]byte{}, false
	}
	id, changed, ok := sys.FileID(fi)
	if !ok {
		return [32]byte{}, false
	}
	s, ok := c.sums[id]
	if !ok || !changed.Before(s.at.Add(-Racy)) {
		return [32]byte{}, false
	}
	return s.sha256, true
}

// Remember records sum for f, read from before (f's stat before it was
// read): only if f is still that version, so a file written while it was
// being hashed is not remembered with a digest of neither version.
func (c *Cache) Remember(f *os.File, before fs.FileInfo, sha [32]byte) {
	if c == nil || c.sums == nil {
		return
	}
	after, err := f.Stat()
	if err != nil {
		return
	}
	id, _, ok := sys.FileID(before)
	if id2, _, ok2 := sys.FileID(after); !ok || !ok2 || id != id2 {
		return
	}
	c.put(id, sum{sha, c.now()})
}

func (c *Cache) put(id string, s sum) {
	if old, ok := c.sums[id]; ok && old.sha256 == s.sha256 && !s.at.After(old.at) {
		return
	}
	if _, ok := c.sums[id]; !ok {
		c.order = append(c.order, id)
	}
	c.sums[id] = s
	for len(c.order) > MaxEntries {
		delete(c.sums, c.order[0])
		c.order = c.order[1:]
	}
	c.dirty = true
}

// Save writes the cache back if anything was added, atomically and
// readable only by its owner. It returns why it could not (callers may
// ignore it: the next check reads the files again).
func (c *Cache) Save() error {
	if c == nil || !c.dirty {
		return nil
	}
	var b bytes.Buffer
	for _, id := range c.order {
		s := c.sums[id]
		fmt.Fprintf(&b, "%x %d %s\n", s.sha256, s.at.UnixNano(), id)
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".sums-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return err
	}
	c.dirty = false
	return nil
}
