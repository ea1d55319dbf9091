package syslinux

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/internal/testtool"
)

func testFS(t testing.TB) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, n := range []string{"extlinux.conf", "more.conf"} {
		data, err := os.ReadFile("testdata/" + n)
		if err != nil {
			t.Fatal(err)
		}
		fsys["boot/extlinux/"+n] = &fstest.MapFile{Data: data}
	}
	return fsys
}

func TestParse(t *testing.T) {
	cfg, err := Parse(testFS(t), "boot/extlinux/extlinux.conf")
	if err != nil {
		t.Fatal(err)
	}
	five := 5 * time.Second
	src := func(f string, l int) entry.Source { return entry.Source{File: "/boot/extlinux/" + f, Line: l} }
	want := &entry.Config{
		Format: entry.Syslinux,
		Source: entry.Source{File: "/boot/extlinux/extlinux.conf"},
		Entries: []entry.Entry{
			{ID: "l0", Label: "Debian GNU/Linux 6.1.0-55-amd64", Format: entry.Syslinux, Kernel: "/boot/vmlinuz-6.1.0-55-amd64",
				Initrds: []string{"/boot/initrd.img-6.1.0-55-amd64"}, Cmdline: "BOOT_IMAGE=/boot/vmlinuz-6.1.0-55-amd64 root=/dev/vda2 ro quiet initrd=/boot/initrd.img-6.1.0-55-amd64", Source: src("extlinux.conf", 8), TriesLeft: -1},
			{ID: "l1", Label: "Debian GNU/Linux 6.1.0-56-amd64", Format: entry.Syslinux, Kernel: "/boot/vmlinuz-6.1.0-56-amd64",
				Initrds: []string{"/boot/ucode.img", "/boot/initrd.img-6.1.0-56-amd64"}, Cmdline: "BOOT_IMAGE=../vmlinuz-6.1.0-56-amd64 initrd=../ucode.img,../initrd.img-6.1.0-56-amd64 root=/dev/vda2 ro", Source: src("extlinux.conf", 14), TriesLeft: -1},
			{ID: "rescue", Label: "Rescue", Format: entry.Syslinux, Kernel: "/boot/vmlinuz-6.1.0-56-amd64",
				Cmdline: "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 console=ttyS0", Source: src("more.conf", 1), TriesLeft: -1},
		},
		Default:  1,
		Timeout:  &five,
		Warnings: []entry.Warning{{Source: entry.Source{File: "/boot/extlinux/extlinux.conf", Line: 19}, Msg: "LABEL hdt is a COM32 entry, not a Linux kernel; skipped"}},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

func TestDefaults(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      int
		warning   string
	}{
		{"menu default", "label a\nkernel /a\nlabel b\nmenu default\nkernel /b\n", 1, ""},
		{"ontimeout", "timeout 50\nontimeout b\nlabel a\nkernel /a\nlabel b\nkernel /b\n", 1, ""},
		{"a default naming no LABEL is a kernel", "default zz\nlabel a\nkernel /a\n", 1, ""},
		{"append dash", "append x\nlabel a\nkernel /a\nappend -\n", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(fstest.MapFS{"s.cfg": {Data: []byte(tt.src)}}, "s.cfg")
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Default != tt.want {
				t.Errorf("Default = %d, want %d", cfg.Default, tt.want)
			}
			if tt.warning != "" && !strings.Contains(strings.Join(entry.Strings(cfg.Warnings), "\n"), tt.warning) {
				t.Errorf("Warnings = %q, want %q", cfg.Warnings, tt.warning)
			}
		})
	}
}

func TestBinary(t *testing.T) {
	_, err := Parse(fstest.MapFS{"s.cfg": {Data: []byte("label a\n\x00\x01\x02")}}, "s.cfg")
	if err == nil || !strings.Contains(err.Error(), "/s.cfg:2: not a text file") {
		t.Errorf("Parse(binary) = %v, want error naming /s.cfg:2", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"extlinux.conf", "more.conf"} {
		data, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(debianMenu["isolinux/menu.cfg"].Data)
	f.Add([]byte("ui menu.c32\ndefault b\nmenu begin s\nmenu default\nlabel b\nmenu hide\nkernel /b\ninclude more.conf Sub\nmenu end\nontimeout b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		var cfg *entry.Config
		var err error
		testtool.Bounded(t, func() { cfg, err = Parse(fstest.MapFS{"s.cfg": {Data: data}, "more.conf": {Data: data}}, "s.cfg") })
		if err != nil {
			return
		}
		if len(cfg.Entries) > 0 && (cfg.Default < 0 || cfg.Default >= len(cfg.Entries)) {
			t.Fatalf("Default %d out of range", cfg.Default)
		}
		for _, e := range cfg.Entries {
			if !strings.HasPrefix(e.Kernel, "/") {
				t.Fatalf("kernel %q not absolute", e.Kernel)
			}
		}
	})
}

// debianMenu is the shape of debian-cd's isolinux menus: the top menu's
// MENU DEFAULT on the graphical install, an Advanced submenu with a Back
// entry (MENU EXIT), and an accessibility submenu whose own MENU DEFAULT
// and DEFAULT name its dark-theme entry, nested submenu included.
var debianMenu = fstest.MapFS{
	"isolinux/isolinux.cfg": {Data: []byte("path \ninclude menu.cfg\ndefault vesamenu.c32\nprompt 0\ntimeout 0\n")},
	"isolinux/menu.cfg": {Data: []byte(`menu title ^GDebian GNU/Linux installer menu (BIOS mode)
include gtk.cfg
include txt.cfg
menu begin advanced
    menu label ^Advanced options
	menu title Advanced options
	label mainmenu
		menu label ^Back..
		menu exit
	label expertgui
		menu label Graphical expert install
		kernel /install.amd/vmlinuz
		append priority=low initrd=/install.amd/gtk/initrd.gz ---
menu end
menu begin dark
    menu label Accessible ^dark contrast installer menu
	label mainmenu
		menu label ^Back..
		menu exit
	include drk.cfg
	menu begin advanced
	    menu label ^Advanced options
		label expertdark
			menu label Expert install
			kernel /install.amd/vmlinuz
			append priority=low initrd=/install.amd/initrd.gz theme=dark ---
	menu end
menu end
label help
	menu label ^Help
	config prompt.cfg
`)},
	"isolinux/gtk.cfg": {Data: []byte("default installgui\nlabel installgui\n\tmenu label ^Graphical install\n\tmenu default\n\tkernel /install.amd/vmlinuz\n\tappend initrd=/install.amd/gtk/initrd.gz --- quiet\n")},
	"isolinux/txt.cfg": {Data: []byte("label install\n\tmenu label ^Install\n\tkernel /install.amd/vmlinuz\n\tappend initrd=/install.amd/initrd.gz --- quiet\n")},
	"isolinux/drk.cfg": {Data: []byte("label installdark\ndefault installdark\n\tmenu label ^Install\n\tmenu default\n\tkernel /install.amd/vmlinuz\n\tappend initrd=/install.amd/initrd.gz theme=dark --- quiet\n")},
}

// summary is each entry's "id: label", the default marked with "*".
func summary(cfg *entry.Config) []string {
	var out []string
	for i, e := range cfg.Entries {
		mark := " "
		if i == cfg.Default {
			mark = "*"
		}
		out = append(out, mark+e.ID+": "+e.Label)
	}
	return out
}

func TestSubmenus(t *testing.T) {
	cfg, err := Parse(debianMenu, "isolinux/isolinux.cfg")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"*installgui: Graphical install",
		" install: Install",
		" expertgui: Advanced options > Graphical expert install",
		" installdark: Accessible dark contrast installer menu > Install",
		" expertdark: Accessible dark contrast installer menu > Advanced options > Expert install",
	}
	if diff := cmp.Diff(want, summary(cfg)); diff != "" {
		t.Errorf("menu (-want +got):\n%s", diff)
	}
	// Back.. entries are the menu's navigation, not warnings.
	if diff := cmp.Diff([]string{"/isolinux/menu.cfg:29: LABEL help is a CONFIG entry, not a Linux kernel; skipped"}, entry.Strings(cfg.Warnings)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestMenuDefaults(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      []string
	}{
		{"UI and DEFAULT override MENU DEFAULT and open the submenu",
			"ui vesamenu.c32\ndefault b\nlabel a\nmenu default\nkernel /a\nmenu begin s\nmenu title Sub\nlabel b\nkernel /b\nmenu end\n",
			[]string{" a: a", "*b: Sub > b"}},
		{"DEFAULT vesamenu.c32 leaves MENU DEFAULT in charge",
			"default b\nlabel a\nmenu default\nkernel /a\nlabel b\nkernel /b\ndefault vesamenu.c32\n",
			[]string{"*a: a", " b: b"}},
		{"without a menu module the core boots DEFAULT",
			"default b\nlabel a\nmenu default\nkernel /a\nlabel b\nkernel /b\n",
			[]string{" a: a", "*b: b"}},
		{"ONTIMEOUT is what the timeout boots",
			"ui menu.c32\ntimeout 50\ndefault a\nontimeout b\nlabel a\nkernel /a\nlabel b\nkernel /b\n",
			[]string{" a: a", "*b: b"}},
		{"a submenu marked default opens on its own default",
			"ui menu.c32\nlabel a\nkernel /a\nmenu begin s\nmenu label ^Rescue\nmenu default\nlabel b\nkernel /b\nlabel c\nmenu default\nkernel /c\nmenu end\n",
			[]string{" a: a", " b: Rescue > b", "*c: Rescue > c"}},
		{"MENU HIDE is not shown, separators and disabled entries boot nothing",
			"ui menu.c32\nlabel a\nmenu hide\nkernel /a\nmenu separator\nlabel b\nmenu disable\nkernel /b\nlabel c\nkernel /c\n",
			[]string{"*c: c"}},
		{"a hidden entry DEFAULT names still boots",
			"default a\nlabel a\nmenu hide\nkernel /a\nlabel c\nkernel /c\n",
			[]string{"*a: a", " c: c"}},
		{"a hidden MENU DEFAULT does not take the default",
			"ui menu.c32\nlabel a\nkernel /a\nmenu default\nlabel b\nmenu hide\nmenu default\nkernel /b\n",
			[]string{"*a: a"}},
		{"INCLUDE with a title is a submenu",
			"ui menu.c32\nlabel a\nkernel /a\ninclude more.cfg Older kernels\nlabel z\nkernel /z\n",
			[]string{"*a: a", " m: Older kernels > m", " z: z"}},
		{"a LABEL goes on in the file it includes",
			"label a\ninclude opts.cfg\n",
			[]string{"*a: a"}},
		{"MENU END at the top is ignored",
			"menu end\nlabel a\nkernel /a\n",
			[]string{"*a: a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"s.cfg":    {Data: []byte(tt.src)},
				"more.cfg": {Data: []byte("label m\nkernel /m\n")},
				"opts.cfg": {Data: []byte("kernel /a\nappend quiet\n")},
			}
			cfg, err := Parse(fsys, "s.cfg")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summary(cfg)); diff != "" {
				t.Errorf("menu (-want +got):\n%s\nwarnings: %q", diff, entry.Strings(cfg.Warnings))
			}
		})
	}
}

// TestSubmenuLimits: a config made of submenus or labels stops at a bound
// with a warning, keeping what it read.
func TestSubmenuLimits(t *testing.T) {
	cfg, err := Parse(fstest.MapFS{"s.cfg": {Data: []byte("label a\nkernel /a\n" + strings.Repeat("menu begin x\n", 10000))}}, "s.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Entries) != 1 || !strings.Contains(strings.Join(entry.Strings(cfg.Warnings), "\n"), "more than 256 submenus") {
		t.Errorf("entries %d, warnings %q; want a and a warning about submenus", len(cfg.Entries), cfg.Warnings)
	}
}

// TestIncludeFanOut: a file that includes itself many times on each line
// would be read 100^8 times; reading stops at a bound.
func TestIncludeFanOut(t *testing.T) {
	cfg, err := Parse(fstest.MapFS{"s.cfg": {Data: []byte("label a\nkernel /a\n" + strings.Repeat("include s.cfg\n", 100))}}, "s.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Entries) == 0 || !strings.Contains(strings.Join(entry.Strings(cfg.Warnings), "\n"), "more than 64 files included") {
		t.Errorf("entries %d, warnings %q; want a warning about includes", len(cfg.Entries), cfg.Warnings)
	}
}
