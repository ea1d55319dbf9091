package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/internal/testtool"
)

// The repository's fragment parses, sets what the bootloader needs, and
// leaves CONFIG_INITRAMFS_SOURCE to the builder.
func TestRepositoryFragment(t *testing.T) {
	data, err := os.ReadFile("payload.config")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := parseFragment(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CONFIG_KEXEC_FILE=y", "CONFIG_KEXEC_BZIMAGE_VERIFY_SIG=y", "CONFIG_EFI_STUB=y", "CONFIG_BLK_DEV_NVME=y", "CONFIG_SATA_AHCI=y", "CONFIG_USB_STORAGE=y", "CONFIG_USB_HID=y", "CONFIG_XFS_FS=y", "CONFIG_I6300ESB_WDT=y", "CONFIG_TCG_CRB=y", "CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT=y"} {
		if !slices.Contains(lines, want) {
			t.Errorf("payload.config lacks %s", want)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "CONFIG_MODULES=") {
			t.Errorf("payload.config sets %s: the payload has no modules", l)
		}
	}
}

func TestParseFragment(t *testing.T) {
	lines, err := parseFragment([]byte("# a comment\n\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n"))
	if err != nil || !slices.Equal(lines, []string{"CONFIG_A=y", "# CONFIG_B is not set", `CONFIG_C="x y"`}) {
		t.Errorf("parseFragment = %q, %v", lines, err)
	}
	for _, bad := range []string{"CONFIG_INITRAMFS_SOURCE=\"/x\"\n", "A=y\n", "CONFIG_A\n"} {
		if _, err := parseFragment([]byte(bad)); err == nil {
			t.Errorf("parseFragment(%q) accepted", bad)
		}
	}
}

// A line olddefconfig dropped is reported; an unset option that stays
// unset (or absent) is not.
func TestMissing(t *testing.T) {
	dot := []byte("#\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_D=y\n")
	got := missing([]string{"CONFIG_A=y", "CONFIG_X=y", "# CONFIG_B is not set", "# CONFIG_C is not set", "# CONFIG_D is not set"}, dot)
	if !slices.Equal(got, []string{"CONFIG_X=y", "# CONFIG_D is not set"}) {
		t.Errorf("missing = %q", got)
	}
}

// The cache keeps the tree just used and the one used before it; an older
// tree goes, unless a build holds its lock.
func TestPrune(t *testing.T) {
	cache := t.TempDir()
	mk := func(name string, age time.Duration) string {
		tree := filepath.Join(cache, name)
		os.MkdirAll(filepath.Join(tree, "arch"), 0o755)
		os.WriteFile(tree+".lock", nil, 0o644)
		when := time.Now().Add(-age)
		os.Chtimes(tree+".lock", when, when)
		return tree
	}
	cur, prev, old, held := mk("payload-c", time.Hour), mk("payload-p", 2*time.Hour), mk("payload-o", 3*time.Hour), mk("payload-h", 4*time.Hour)
	unlock, err := lockFile(held + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var out strings.Builder
	prune(cache, cur, &out)
	for tree, kept := range map[string]bool{cur: true, prev: true, old: false, held: true} {
		if _, err := os.Stat(tree); (err == nil) != kept {
			t.Errorf("%s: kept=%v, want %v", filepath.Base(tree), err == nil, kept)
		}
	}
	if !strings.Contains(out.String(), "payload-o") {
		t.Errorf("prune said %q", out.String())
	}
}

// The cache key follows the settings, the source and the compiler, not
// the fragment's comments.
func TestTreeKey(t *testing.T) {
	testtool.Need(t, "gcc")
	src := filepath.Join(t.TempDir(), "linux.tar.xz")
	os.WriteFile(src, []byte("source"), 0o644)
	b := builder{source: src}
	key := func(frag string) string {
		lines, err := parseFragment([]byte(frag))
		if err != nil {
			t.Fatal(err)
		}
		k, err := b.treeKey(context.Background(), lines)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key("# why\nCONFIG_A=y\n")
	if key("# a better why\n\nCONFIG_A=y\n") != base {
		t.Error("a comment changed the key")
	}
	if key("CONFIG_A=n\n") == base {
		t.Error("a setting did not change the key")
	}
	os.WriteFile(src, []byte("other source"), 0o644)
	if key("CONFIG_A=y\n") == base {
		t.Error("the source did not change the key")
	}
}

func TestLastWins(t *testing.T) {
	got := lastWins([]string{"CONFIG_NET=y", "# CONFIG_IPV6 is not set", "CONFIG_PACKET=y", "CONFIG_IPV6=y"})
	want := []string{"CONFIG_NET=y", "CONFIG_PACKET=y", "CONFIG_IPV6=y"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lastWins = %q, want %q", got, want)
	}
}

// fakeKernelTools puts a tar, make and merge_config.sh on PATH that do
// what the builder needs of them: make records its targets in the tree's
// "made" file, and its bzImage is the tree's initramfs.
func fakeKernelTools(t *testing.T) (source string) {
	t.Helper()
	testtool.Need(t, "gcc")
	bin := t.TempDir()
	write := func(name, script string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("tar", `dir=; while [ $# -gt 0 ]; do [ "$1" = -C ] && dir=$2; shift; done
mkdir -p "$dir/scripts/kconfig" && printf '#!/bin/sh\ncat "$3" >> "$2"\n' > "$dir/scripts/kconfig/merge_config.sh" && chmod +x "$dir/scripts/kconfig/merge_config.sh"
`)
	write("make", `tree=.; target=
while [ $# -gt 0 ]; do case $1 in -C) tree=$2; shift;; -j*|*=*) ;; *) target=$1;; esac; shift; done
case $target in
tinyconfig) echo '#' > .config;;
olddefconfig) ;;
*) echo "$target" >> "$tree/made"
   if [ "$target" = bzImage ]; then mkdir -p "$tree/arch/x86/boot" && cat "$tree/warmboot-initramfs.cpio" > "$tree/arch/x86/boot/bzImage"; fi;;
esac
`)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	source = filepath.Join(t.TempDir(), "linux.tar.xz")
	os.WriteFile(source, []byte("source"), 0o644)
	return source
}

// -prepare configures and compiles a tree (vmlinux) and writes no
// payload; the build that follows finds the tree and relinks it with its
// initramfs.
func TestPrepareThenBuild(t *testing.T) {
	source := fakeKernelTools(t)
	dir := t.TempDir()
	frag := filepath.Join(dir, "frag.config")
	os.WriteFile(frag, []byte("CONFIG_A=y\n"), 0o644)
	cache := filepath.Join(dir, "cache")
	var stdout, stderr strings.Builder
	if rc := run(context.Background(), []string{"-prepare", "-source", source, "-config", frag, "-cache", cache}, &stdout, &stderr); rc != 0 {
		t.Fatalf("payload -prepare = %d: %s", rc, stderr.String())
	}
	trees, _ := filepath.Glob(filepath.Join(cache, "payload-*[^k]"))
	if len(trees) != 1 {
		t.Fatalf("trees after -prepare: %q", trees)
	}
	tree := trees[0]
	if made, _ := os.ReadFile(filepath.Join(tree, "made")); string(made) != "vmlinux\n" {
		t.Errorf("-prepare made %q, want vmlinux", made)
	}
	if !strings.Contains(stdout.String(), "configuring a new kernel tree") {
		t.Errorf("-prepare said %q", stdout.String())
	}

	image := filepath.Join(dir, "image.cpio")
	os.WriteFile(image, []byte("070701 the image"), 0o644)
	out := filepath.Join(dir, "warmboot.bzImage")
	stdout.Reset()
	if rc := run(context.Background(), []string{"-initramfs", image, "-o", out, "-efi", "", "-source", source, "-config", frag, "-cache", cache}, &stdout, &stderr); rc != 0 {
		t.Fatalf("payload = %d: %s", rc, stderr.String())
	}
	if strings.Contains(stdout.String(), "configuring") || !strings.Contains(stdout.String(), "cached tree") {
		t.Errorf("the build after -prepare did not take its tree: %q", stdout.String())
	}
	if made, _ := os.ReadFile(filepath.Join(tree, "made")); string(made) != "vmlinux\nbzImage\n" {
		t.Errorf("made %q, want vmlinux then bzImage", made)
	}
	bz, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(bz), "070701 the image") {
		t.Errorf("the payload does not hold the image: %q", bz)
	}

	// A build that waits for the tree (a -prepare holding it) says so,
	// apart from its own time.
	hold, err := lockFile(tree + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(1500*time.Millisecond, hold)
	os.WriteFile(image, []byte("070701 another image"), 0o644)
	stdout.Reset()
	if rc := run(context.Background(), []string{"-initramfs", image, "-o", out, "-efi", "", "-source", source, "-config", frag, "-cache", cache}, &stdout, &stderr); rc != 0 {
		t.Fatalf("payload = %d: %s", rc, stderr.String())
	}
	if !strings.Contains(stdout.String(), "payload: waited 2s for the kernel tree") && !strings.Contains(stdout.String(), "payload: waited 1s for the kernel tree") {
		t.Errorf("a build that waited for the tree did not say so: %q", stdout.String())
	}

	if rc := run(context.Background(), []string{"-prepare", "-initramfs", image}, &stdout, &stderr); rc != 2 {
		t.Errorf("-prepare with -initramfs = %d, want 2 (usage)", rc)
	}
}
