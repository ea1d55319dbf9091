package kmod

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFields(t *testing.T) {
	m := parseFields([]byte("license=GPL\x00softdep=pre: crypto-crc32c post: x\x00alias=fs-ext4\x00depends=jbd2,mbcache,crc16\x00name=ext4\x00"))
	want := &Module{Name: "ext4", Depends: []string{"jbd2", "mbcache", "crc16"}, SoftPre: []string{"crypto-crc32c"}, Aliases: []string{"fs-ext4"}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("parseFields (-want +got):\n%s", diff)
	}
}

func testTree() *Tree {
	mk := func(name string, deps []string, soft []string, aliases ...string) *Module {
		return &Module{Name: name, Path: "kernel/" + name + ".ko", Depends: deps, SoftPre: soft, Aliases: aliases}
	}
	t := &Tree{Dir: "/m", Release: "6.1", builtin: map[string]bool{"crc32": true}, mods: map[string]*Module{}}
	for _, m := range []*Module{
		mk("ext4", []string{"jbd2", "mbcache", "crc16"}, []string{"crypto-crc32c"}, "fs-ext4"),
		mk("jbd2", []string{"crc32"}, nil),
		mk("mbcache", nil, nil),
		mk("crc16", nil, nil),
		mk("crc32c_generic", nil, nil, "crypto-crc32c", "crc32c"),
		mk("crc32c_intel", nil, nil, "crypto-crc32c", "crc32c"),
		mk("virtio_blk", []string{"virtio", "virtio_ring"}, nil),
		mk("virtio", []string{"virtio_ring"}, nil),
		mk("virtio_ring", nil, nil),
		mk("a", []string{"b"}, nil),
		mk("b", []string{"a"}, nil),
		mk("c", []string{"nothere"}, nil),
	} {
		t.mods[m.Name] = m
	}
	return t
}

func names(ms []*Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestResolve(t *testing.T) {
	tr := testTree()
	got, err := tr.Resolve("virtio_blk", "ext4", "virtio-ring", "crc32")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"virtio_ring", "virtio", "virtio_blk", "crc32c_generic", "crc32c_intel", "jbd2", "mbcache", "crc16", "ext4"}
	if diff := cmp.Diff(want, names(got)); diff != "" {
		t.Errorf("Resolve order (-want +got):\n%s", diff)
	}
	dep := string(tr.ModulesDep(got))
	if !strings.Contains(dep, "kernel/ext4.ko: kernel/jbd2.ko kernel/mbcache.ko kernel/crc16.ko\n") || !strings.Contains(dep, "kernel/virtio_ring.ko:\n") {
		t.Errorf("ModulesDep = %q", dep)
	}
	for _, tt := range []struct{ want, err string }{
		{"a", "dependency cycle: a -> b -> a"},
		{"c", "c depends on nothere, which is not in /m"},
		{"zz", "module zz is neither in /m nor built into kernel 6.1"},
	} {
		if _, err := tr.Resolve(tt.want); err == nil || err.Error() != tt.err {
			t.Errorf("Resolve(%s) = %v, want %q", tt.want, err, tt.err)
		}
	}
}

// TestDebianKernel runs against the real Debian kernel package when the
// Makefile has extracted it (WARMBOOT_KERNEL_DIR).
func TestDebianKernel(t *testing.T) {
	dir := os.Getenv("WARMBOOT_KERNEL_DIR")
	if dir == "" {
		t.Skip("WARMBOOT_KERNEL_DIR not set (make test sets it)")
	}
	rels, _ := filepath.Glob(filepath.Join(dir, "lib/modules/*"))
	if len(rels) != 1 {
		t.Fatalf("want one release under %s/lib/modules, have %q", dir, rels)
	}
	tr, err := Open(rels[0])
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.Resolve("virtio_pci", "virtio_blk", "ext4")
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range got {
		pos[m.Name] = i
	}
	for _, pair := range [][2]string{{"virtio_ring", "virtio"}, {"virtio", "virtio_pci"}, {"jbd2", "ext4"}, {"crc32c_generic", "ext4"}} {
		a, aok := pos[pair[0]]
		b, bok := pos[pair[1]]
		if !aok || !bok || a > b {
			t.Errorf("%s must load before %s; order %q", pair[0], pair[1], names(got))
		}
	}
}
