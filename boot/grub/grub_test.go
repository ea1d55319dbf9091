package grub

import (
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/internal/testtool"
)

// envFile is a grubenv holding kv, as grub-editenv writes it.
func envFile(kv ...string) *fstest.MapFile {
	b := grubenv.New()
	for i := 0; i < len(kv); i += 2 {
		var err error
		if b, err = grubenv.Set(b, kv[i], kv[i+1]); err != nil {
			panic(err)
		}
	}
	return &fstest.MapFile{Data: b}
}

func debianFS(t *testing.T, env *fstest.MapFile) fstest.MapFS {
	t.Helper()
	cfg, err := os.ReadFile("testdata/debian.cfg")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"grub/grub.cfg": {Data: cfg}}
	if env != nil {
		fsys["grub/grubenv"] = env
	}
	return fsys
}

func TestParseDebian(t *testing.T) {
	cfg, err := Parse(debianFS(t, nil), "grub/grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	five := 5 * time.Second
	want := &entry.Config{
		Format: entry.GRUB,
		Source: entry.Source{File: "/grub/grub.cfg"},
		Entries: []entry.Entry{
			{ID: "gnulinux-simple-3d2b", MenuPath: "gnulinux-simple-3d2b", Label: "Debian GNU/Linux", Format: entry.GRUB,
				Kernel: "/vmlinuz-6.1.0-56-amd64", Initrds: []string{"/initrd.img-6.1.0-56-amd64"},
				Cmdline: "BOOT_IMAGE=/vmlinuz-6.1.0-56-amd64 root=UUID=3d2b ro quiet", Source: entry.Source{File: "/grub/grub.cfg", Line: 60}, TriesLeft: -1},
			{ID: "gnulinux-6.1.0-56-amd64-advanced-3d2b", MenuPath: "gnulinux-advanced-3d2b>gnulinux-6.1.0-56-amd64-advanced-3d2b", Label: "Advanced options for Debian GNU/Linux > Debian GNU/Linux, with Linux 6.1.0-56-amd64", Format: entry.GRUB,
				Kernel: "/vmlinuz-6.1.0-56-amd64", Initrds: []string{"/initrd.img-6.1.0-56-amd64"},
				Cmdline: "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-6.1.0-56-amd64 root=UUID=3d2b ro quiet", Source: entry.Source{File: "/grub/grub.cfg", Line: 73}, TriesLeft: -1},
			{ID: "gnulinux-6.1.0-56-amd64-recovery-3d2b", MenuPath: "gnulinux-advanced-3d2b>gnulinux-6.1.0-56-amd64-recovery-3d2b", Label: "Advanced options for Debian GNU/Linux > Debian GNU/Linux, with Linux 6.1.0-56-amd64 (recovery mode)", Format: entry.GRUB,
				Kernel: "/vmlinuz-6.1.0-56-amd64", Initrds: []string{"/intel-ucode.img", "/initrd.img-6.1.0-56-amd64"},
				Cmdline: "BOOT_IMAGE=/vmlinuz-6.1.0-56-amd64 root=UUID=3d2b ro single", Source: entry.Source{File: "/grub/grub.cfg", Line: 78}, TriesLeft: -1},
		},
		Timeout:  &five,
		Warnings: []entry.Warning{{Source: entry.Source{File: "/grub/grub.cfg", Line: 88}, Msg: `menuentry "UEFI Firmware Settings" uses "fwsetup", not a Linux kernel; skipped`}},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("Parse(debian.cfg) mismatch (-want +got):\n%s", diff)
	}
}

func TestDefault(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     *fstest.MapFile
		want    int
		warning string
	}{
		{"no grubenv", nil, 0, ""},
		{"saved_entry by id path", envFile("saved_entry", "gnulinux-advanced-3d2b>gnulinux-6.1.0-56-amd64-recovery-3d2b"), 2, ""},
		{"saved_entry by title path", envFile("saved_entry", "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-56-amd64"), 1, ""},
		{"saved_entry by index path", envFile("saved_entry", "1>1"), 2, ""},
		{"next_entry wins over saved_entry", envFile("saved_entry", "0", "next_entry", "1>0"), 1, ""},
		{"saved_entry names a submenu", envFile("saved_entry", "1"), 1, ""},
		{"saved_entry unknown", envFile("saved_entry", "gone"), 0, `/grub/grub.cfg:19: default "gone" matches no menu entry; using "Debian GNU/Linux"`},
		{"saved_entry not bootable", envFile("saved_entry", "uefi-firmware"), 0, `/grub/grub.cfg:19: default "uefi-firmware" names an entry that cannot boot`},
		{"corrupt grubenv", &fstest.MapFile{Data: []byte("saved_entry=1>1\n")}, 0, "/grub/grubenv: not a GRUB environment block"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(debianFS(t, tt.env), "grub/grub.cfg")
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Default != tt.want {
				t.Errorf("Default = %d (%s), want %d", cfg.Default, cfg.Entries[cfg.Default].ID, tt.want)
			}
			if tt.warning != "" && !strings.Contains(strings.Join(entry.Strings(cfg.Warnings), "\n"), tt.warning) {
				t.Errorf("Warnings = %q, want one containing %q", cfg.Warnings, tt.warning)
			}
			// grub-mkconfig's header empties next_entry and saves it
			// when it used it; savedefault's saved_entry is not kept.
			var want []entry.EnvWrite
			if strings.HasPrefix(tt.name, "next_entry") {
				want = []entry.EnvWrite{{File: entry.Source{File: "/grub/grubenv"}, Name: "next_entry", Value: ""}}
			}
			if diff := cmp.Diff(want, cfg.EnvWrites); diff != "" {
				t.Errorf("EnvWrites (-want +got):\n%s", diff)
			}
		})
	}
}

// On a filesystem warmboot does not write (XFS /boot), grub-reboot's
// next_entry is not used: the config's save_env could not use it up, and
// it would boot at every warm boot.
func TestNextEntryUnwritable(t *testing.T) {
	fsys := debianFS(t, envFile("next_entry", "1>0"))
	cfg, err := ParseVolumes([]entry.Volume{{FS: fsys, Device: "sda2", Unwritable: errors.New("it is xfs")}}, 0, "grub/grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Default != 0 || len(cfg.EnvWrites) != 0 || !strings.Contains(strings.Join(entry.Strings(cfg.Warnings), "\n"), `ignoring next_entry="1>0" (GRUB's one-shot entry): warmboot cannot clear it here (it is xfs)`) {
		t.Errorf("Default %d, EnvWrites %v, warnings %q", cfg.Default, cfg.EnvWrites, cfg.Warnings)
	}
}

func TestSetDefault(t *testing.T) {
	src := `set default="2"
set timeout=0
menuentry 'a' { linux /a }
menuentry "b" {
  linux /b x=$y
}
set y=late
menuentry 'c' --id=cc {
  set y=inner
  linux /c y=$y
  initrd /c.img
}
menuentry 'd' { linux /d y=$y }
`
	cfg, err := Parse(fstest.MapFS{"grub.cfg": {Data: []byte(src)}}, "grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range cfg.Entries {
		got = append(got, e.ID+"|"+e.Kernel+"|"+e.Cmdline)
	}
	want := []string{"a|/a|BOOT_IMAGE=/a", "b|/b|BOOT_IMAGE=/b x=", "cc|/c|BOOT_IMAGE=/c y=inner", "d|/d|BOOT_IMAGE=/d y=late"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if cfg.Default != 2 || *cfg.Timeout != 0 {
		t.Errorf("Default, Timeout = %d, %v; want 2, 0s", cfg.Default, *cfg.Timeout)
	}
}

func TestSource(t *testing.T) {
	fsys := fstest.MapFS{
		"EFI/debian/grub.cfg": {Data: []byte("search.fs_uuid 3d2b root\nset prefix=($root)'/grub'\nconfigfile $prefix/grub.cfg\n")},
		"grub/grub.cfg":       {Data: []byte("menuentry x { linux /vmlinuz }\n")},
	}
	cfg, err := Parse(fsys, "EFI/debian/grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Entries) != 1 || cfg.Entries[0].Source.File != "/grub/grub.cfg" {
		t.Errorf("entries = %+v, want one from /grub/grub.cfg", cfg.Entries)
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"menuentry 'x' {\n linux /a\n", "/grub.cfg:1: menuentry is missing its closing \"}\""},
		{"if true; then\nset a=b\n", "/grub.cfg:1: \"if\" without \"fi\""},
		{"echo 'abc\n", "/grub.cfg:1: unterminated single quote"},
		{"fi\n", "/grub.cfg:1: unexpected \"fi\""},
		{"menuentry x\n{\n}\n", "/grub.cfg:1: menuentry without \"{\" on the same line"},
		{"\x7fELF\x02\x01\x01\x00", "/grub.cfg:1: not a text file"},
	} {
		_, err := Parse(fstest.MapFS{"grub.cfg": {Data: []byte(tt.src)}}, "grub.cfg")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tt.src, err, tt.want)
		}
	}
}

// A menuentry defined inside another's body (GRUB defines it only when
// the outer entry runs) is skipped with a warning; FuzzParse found the
// interpreter crashing on it.
func TestNestedMenuentry(t *testing.T) {
	cfg, err := Parse(fstest.MapFS{"grub.cfg": {Data: []byte("menuentry outer {\n linux /a\n menuentry inner { linux /b; }\n}\n")}}, "grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Entries) != 1 || cfg.Entries[0].Label != "outer" {
		t.Errorf("entries = %+v, want outer only", cfg.Entries)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].String(), "grub.cfg:3: menuentry inside a menuentry is only defined when that entry runs; skipped") {
		t.Errorf("warnings = %v", cfg.Warnings)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/debian.cfg"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte(nil))
	}
	f.Add([]byte("set default=0\nmenuentry a { linux /a; initrd /b }\n"), []byte(grubenv.Header+"saved_entry=0\n"))
	f.Add([]byte("if [ -s $prefix/grubenv ]; then load_env; fi\nsource /x\n"), []byte("x"))
	f.Add([]byte("function f { set a=$a$1; f $a; }\nf x\nsearch --file --set=r /x\nblscfg\n"), []byte("title T\nlinux /k\noptions $a $x\ninitrd /i\n"))
	f.Add([]byte(strings.Repeat("submenu s {\n", 40)+"menuentry m { linux /k; }"+strings.Repeat("}", 40)), []byte(nil))
	f.Add([]byte("hiddenentry h { set t=1; }\nmenuentry \"S\" /snap { configfile $2/g.cfg; }\nmenuentry a x y { linux /k $1 $2 $# $@; }\n"), []byte(nil))
	f.Fuzz(func(t *testing.T, cfg, env []byte) {
		if len(cfg) > 64<<10 || len(env) > 4<<10 {
			return
		}
		fsys := fstest.MapFS{"grub.cfg": {Data: cfg}, "grubenv": {Data: env}, "x": {Data: cfg}, "loader/entries/a-1.conf": {Data: env}}
		var c *entry.Config
		var err error
		testtool.Bounded(t, func() { c, err = Parse(fsys, "grub.cfg") })
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config and an error %v", err)
			}
			return
		}
		if len(c.Entries) > 0 && (c.Default < 0 || c.Default >= len(c.Entries)) {
			t.Fatalf("Default %d out of range of %d entries", c.Default, len(c.Entries))
		}
		for _, e := range c.Entries {
			if !strings.HasPrefix(e.Kernel, "/") {
				t.Fatalf("kernel path %q is not absolute", e.Kernel)
			}
		}
	})
}
