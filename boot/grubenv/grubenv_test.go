package grubenv

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/internal/testtool"
)

func editenv(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(testtool.Need(t, "grub-editenv"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("grub-editenv %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// What grub-editenv writes we read, and what we write grub-editenv reads,
// byte for byte the same block GRUB would have made.
func TestGrubEditenv(t *testing.T) {
	f := filepath.Join(t.TempDir(), "grubenv")
	editenv(t, f, "create")
	made, _ := os.ReadFile(f)
	if !bytes.Equal(made, New()) {
		t.Fatalf("New() differs from grub-editenv create:\n%q\n%q", New(), made)
	}
	editenv(t, f, "set", `a=x\y`, "b=line1\nline2", "saved_entry=gnulinux-6.1", "next_entry=rescue")
	theirs, _ := os.ReadFile(f)
	vars, err := Parse(theirs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Var{{"a", `x\y`}, {"b", "line1\nline2"}, {"saved_entry", "gnulinux-6.1"}, {"next_entry", "rescue"}}
	if diff := cmp.Diff(want, vars); diff != "" {
		t.Errorf("Parse(grub-editenv's block) (-want +got):\n%s", diff)
	}

	// The same edits, ours and grub-editenv's, give the same bytes.
	ours, err := Unset(theirs, "next_entry")
	if err == nil {
		ours, err = Set(ours, "b", "short")
	}
	if err == nil {
		ours, err = Set(ours, "boot_success", "1")
	}
	if err != nil {
		t.Fatal(err)
	}
	editenv(t, f, "unset", "next_entry")
	editenv(t, f, "set", "b=short")
	editenv(t, f, "set", "boot_success=1")
	theirs, _ = os.ReadFile(f)
	if !bytes.Equal(ours, theirs) {
		t.Errorf("our edits:\n%q\ngrub-editenv's:\n%q", ours, theirs)
	}
	os.WriteFile(f, ours, 0o644)
	if got := editenv(t, f, "list"); got != "a=x\\y\nb=short\nsaved_entry=gnulinux-6.1\nboot_success=1\n" {
		t.Errorf("grub-editenv list after our edits = %q", got)
	}
}

func TestErrors(t *testing.T) {
	b := New()
	if _, err := Set(b, "big", strings.Repeat("x", Size)); !errors.Is(err, ErrTooBig) {
		t.Errorf("Set(too big) = %v, want ErrTooBig", err)
	}
	for _, n := range []string{"", "a=b", "a\nb", "#c"} {
		if _, err := Set(b, n, "v"); !errors.Is(err, ErrBadName) {
			t.Errorf("Set(%q) = %v, want ErrBadName", n, err)
		}
	}
	for _, bad := range []string{"not a grubenv", Header + "novalue\n####", Header + "a=unterminated"} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("Parse(%q) = %v, want ErrFormat", bad, err)
		}
	}
}

func FuzzSet(f *testing.F) {
	f.Add(New(), "next_entry", "rescue")
	f.Add([]byte(Header+"a=x\\\\y\nb=l1\\\nl2\n#####"), "b", "v\\\n")
	f.Fuzz(func(t *testing.T, b []byte, name, value string) {
		if len(b) > 4096 {
			return
		}
		var before []Var
		var out []byte
		var err error
		testtool.Bounded(t, func() {
			if before, err = Parse(b); err == nil {
				out, err = Set(b, name, value)
			}
		})
		if err != nil {
			return
		}
		if len(out) != len(b) {
			t.Fatalf("Set changed the block's size: %d -> %d", len(b), len(out))
		}
		m, err := Map(out)
		if err != nil || m[name] != value {
			t.Fatalf("after Set(%q, %q): %v, %v", name, value, m, err)
		}
		back, err := Unset(out, name)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := Parse(back)
		var kept []Var
		for _, v := range before {
			if v.Name != name {
				kept = append(kept, v)
			}
		}
		if !cmp.Equal(kept, after, cmp.Comparer(func(a, b []Var) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })) {
			t.Fatalf("Unset after Set lost variables: %v -> %v", kept, after)
		}
	})
}

// A variable the block holds twice: GRUB's load_env reads the last, so
// Set keeps only the first line, and Unset removes both. Otherwise
// clearing next_entry could leave a second next_entry that boots forever.
func TestDuplicate(t *testing.T) {
	b := []byte(Header + "next_entry=a\nsaved_entry=x\nnext_entry=b\n" + strings.Repeat("#", 100))
	set, err := Set(b, "next_entry", "")
	if err != nil {
		t.Fatal(err)
	}
	if vs, _ := Parse(set); !cmp.Equal(vs, []Var{{"next_entry", ""}, {"saved_entry", "x"}}) || len(set) != len(b) {
		t.Errorf("Set on a duplicate = %v (%d bytes)", vs, len(set))
	}
	unset, err := Unset(b, "next_entry")
	if err != nil {
		t.Fatal(err)
	}
	if vs, _ := Parse(unset); !cmp.Equal(vs, []Var{{"saved_entry", "x"}}) {
		t.Errorf("Unset on a duplicate = %v", vs)
	}
}
