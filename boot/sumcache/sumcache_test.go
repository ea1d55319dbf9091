package sumcache

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// remember opens p, stats it, and remembers its digest in c as if it had
// been taken at the given time.
func remember(t *testing.T, c *Cache, p string, at time.Time) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	sum := sha256.Sum256(data)
	c.now = func() time.Time { return at }
	c.Remember(f, st, sum)
	return sum
}

func lookup(t *testing.T, c *Cache, p string) ([32]byte, bool) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return c.Lookup(st)
}

func TestRememberLookup(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "var/cache/warmboot/sums")
	p := filepath.Join(dir, "initrd.img")
	if err := os.WriteFile(p, []byte("initrd one"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Open(cache)
	// Hashed just after it was written: racy, not used.
	remember(t, c, p, time.Now())
	if _, ok := lookup(t, c, p); ok {
		t.Error("a digest taken within Racy of the file's change was used")
	}
	// Hashed later: used, and kept across a save.
	want := remember(t, c, p, time.Now().Add(2*Racy))
	if got, ok := lookup(t, c, p); !ok || got != want {
		t.Errorf("Lookup = %x, %v; want %x", got, ok, want)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(cache); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("cache file: %v, %v; want mode 0600", st, err)
	}
	c2 := Open(cache)
	if got, ok := lookup(t, c2, p); !ok || got != want {
		t.Errorf("after Save and Open: %x, %v; want %x", got, ok, want)
	}
	// Rewritten in place, same size: another version, not found.
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(p, []byte("initrd two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup(t, c2, p); ok {
		t.Error("a rewritten file was found under its old digest")
	}
	// Replaced by rename (as update-initramfs does): not found.
	q := filepath.Join(dir, "new")
	os.WriteFile(q, []byte("initrd one"), 0o644)
	os.Rename(q, p)
	if _, ok := lookup(t, c2, p); ok {
		t.Error("a replaced file was found under its old digest")
	}
}

func TestOpenBad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sums")
	good := fmt.Sprintf("%x %d 1:2:3:4.000000000:5.000000000", sha256.Sum256(nil), time.Now().UnixNano())
	os.WriteFile(p, []byte("garbage\n"+good+"\nzz 1 x\n"+strings.Repeat("a", 70000)+"\n"), 0o600)
	c := Open(p)
	if len(c.sums) != 1 {
		t.Errorf("read %d entries from a cache with one good line, want 1", len(c.sums))
	}
	if c := Open(filepath.Join(dir, "missing")); c == nil || len(c.sums) != 0 {
		t.Error("a missing cache is not an empty one")
	}
	var none *Cache
	if _, ok := none.Lookup(nil); ok || none.Save() != nil {
		t.Error("a nil cache remembers something")
	}
}

func TestBounded(t *testing.T) {
	c := Open(filepath.Join(t.TempDir(), "sums"))
	for i := range MaxEntries + 10 {
		c.put(fmt.Sprint(i), sum{at: time.Now()})
	}
	if len(c.sums) != MaxEntries || len(c.order) != MaxEntries {
		t.Errorf("%d entries, want %d", len(c.sums), MaxEntries)
	}
	if _, ok := c.sums["0"]; ok {
		t.Error("the oldest entry was kept")
	}
}
