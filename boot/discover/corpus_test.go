package discover

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/safefs"
)

var update = flag.Bool("update", false, "rewrite the corpus's golden files")

// TestCorpus reads every layout under testdata/corpus as the bootloader
// reads disks, and compares the menu with what the distribution's own
// loader shows and boots (want.txt, reviewed against the loader's source;
// each case's SOURCE says where its configs come from).
//
// A case is a directory of volumes, one subdirectory per filesystem named
// by its device; VOLUMES gives each one's type, UUID and label (what
// GRUB's search matches) as "device type uuid [label]".
func TestCorpus(t *testing.T) {
	cases, err := filepath.Glob("testdata/corpus/*")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(dir, "SOURCE")); err != nil {
				t.Fatalf("every corpus case says where its configs come from: %v", err)
			}
			got := describe(t, dir)
			golden := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update, then review it against the loader)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("menu of %s (-want +got):\n%s", dir, diff)
			}
		})
	}
}

func describe(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "VOLUMES"))
	if err != nil {
		t.Fatal(err)
	}
	var vols []entry.Volume
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Fatalf("VOLUMES: %q: want device type uuid [label]", l)
		}
		v := entry.Volume{FS: safefs.Dir(filepath.Join(dir, f[0])), Dir: "/mnt/" + f[0], Device: f[0], UUID: f[2]}
		if len(f) > 3 {
			v.Label = strings.Join(f[3:], " ")
		}
		vols = append(vols, v)
	}
	m := choose.Rank(Scan(vols))
	var b strings.Builder
	if m.Timeout != nil {
		fmt.Fprintf(&b, "timeout %s\n", *m.Timeout)
	}
	for i, e := range m.Entries {
		mark := " "
		if i == m.Default {
			mark = "*"
		}
		fmt.Fprintf(&b, "%s %d) %s [%s %s]\n", mark, i+1, e.Label, e.Format, e.Source)
		fmt.Fprintf(&b, "    id:      %s\n", e.ID)
		fmt.Fprintf(&b, "    kernel:  %s (root %s)\n", e.At(e.Kernel), e.Root)
		for _, r := range e.Initrds {
			fmt.Fprintf(&b, "    initrd:  %s\n", e.At(r))
		}
		fmt.Fprintf(&b, "    cmdline: %s\n", e.Cmdline)
	}
	for _, w := range m.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}
