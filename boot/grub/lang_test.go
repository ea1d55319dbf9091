package grub

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/entry"
)

// entries parses cfg as boot/grub/grub.cfg and returns "id|kernel|cmdline"
// for each entry, the default's index and the warnings.
func entries(t *testing.T, cfg string, extra fstest.MapFS) ([]string, int, []string) {
	t.Helper()
	fsys := fstest.MapFS{"boot/grub/grub.cfg": {Data: []byte(cfg)}}
	for k, v := range extra {
		fsys[k] = v
	}
	c, err := Parse(fsys, "boot/grub/grub.cfg")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var out []string
	for _, e := range c.Entries {
		out = append(out, e.ID+"|"+e.Kernel+"|"+e.Cmdline)
	}
	return out, c.Default, entry.Strings(c.Warnings)
}

func TestLanguage(t *testing.T) {
	for _, tt := range []struct {
		name, cfg string
		want      []string
	}{
		{"function sets a global (Ubuntu gfxmode)", `
function gfxmode {
	set gfxpayload="${1}"
	if [ "${1}" = "keep" ]; then
		set vt_handoff=vt.handoff=7
	else
		set vt_handoff=
	fi
}
menuentry a { gfxmode keep; linux /k ro $vt_handoff; }
menuentry b { gfxmode text; linux /k ro $vt_handoff; }
`, []string{"a|/k|BOOT_IMAGE=/k ro vt.handoff=7", "b|/k|BOOT_IMAGE=/k ro"}},
		{"unquoted variables split into words, empty ones vanish", `
set opts="root=/dev/sda1   ro quiet"
set empty=
menuentry a { linux /k $opts $empty "$empty" x; }
`, []string{`a|/k|BOOT_IMAGE=/k root=/dev/sda1 ro quiet  x`}},
		{"quoted arguments with blanks as GRUB rebuilds them", `
menuentry a { linux /k "a b" 'c"d' e\'f g\\h; }
`, []string{`a|/k|BOOT_IMAGE=/k "a b" c\"d e\'f g\\h`}},
		{"-a -o ! and integer comparisons", `
set n=5
if [ -n "$n" -a "$n" -gt 3 ]; then menuentry gt { linux /gt; }; fi
if [ "$n" -lt 3 -o "$n" -eq 5 ]; then menuentry or { linux /or; }; fi
if [ ! "$n" -ne 5 ]; then menuentry not { linux /not; }; fi
if [ ! -f /missing -a -e /boot/grub/grub.cfg ]; then menuentry files { linux /files; }; fi
if [ "$n" -le 4 ]; then menuentry wrong { linux /wrong; }; fi
if [ \( "$n" = 1 -o "$n" = 5 \) -a x = x ]; then menuentry parens { linux /parens; }; fi
`, []string{"gt|/gt|BOOT_IMAGE=/gt", "or|/or|BOOT_IMAGE=/or", "not|/not|BOOT_IMAGE=/not", "files|/files|BOOT_IMAGE=/files", "parens|/parens|BOOT_IMAGE=/parens"}},
		{"positional parameters are restored after a call", `
function f { set seen="$1:$#:$@"; }
set 1=outer
f x y
menuentry a { linux /k $seen $1; }
set v=$1
menuentry b { linux /k $v; }
`, []string{"a|/k|BOOT_IMAGE=/k x:2:x y a", "b|/k|BOOT_IMAGE=/k outer"}},
		{"a menuentry's title and arguments are its body's $1, $2 (snapper)", `
menuentry 'Snapshot 3' --class os /.snapshots/3/snapshot { linux $2/boot/vmlinuz n=$# t="$1"; }
`, []string{"Snapshot 3|/.snapshots/3/snapshot/boot/vmlinuz|BOOT_IMAGE=/.snapshots/3/snapshot/boot/vmlinuz n=2 \"t=Snapshot 3\""}},
		{"openSUSE's hiddenentry is read and not offered; configfile in an entry opens a menu", `
hiddenentry 'Text mode' --hotkey 't' { set textmode=true; terminal_output console; }
menuentry 'Snapshots' { configfile /snap/grub.cfg; }
menuentry a { linux /k; }
`, []string{"a|/k|BOOT_IMAGE=/k"}},
		{"search by file sets a variable; a label no volume has sets nothing", `
search --no-floppy --label --set=root nosuchlabel
search --file --set=found /boot/grub/grub.cfg
menuentry a { linux ($found)/k $root; }
`, []string{"a|/k|BOOT_IMAGE=(vol0)/k"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _, warns := entries(t, tt.cfg, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s\nwarnings: %q", diff, warns)
			}
		})
	}
}

func TestCRLFAndLatin1(t *testing.T) {
	cfg := "set timeout=3\r\nmenuentry 'Caf\xe9' --id cafe {\r\n\tlinux /k ro\r\n}\r\n"
	got, _, warns := entries(t, cfg, nil)
	if diff := cmp.Diff([]string{"cafe|/k|BOOT_IMAGE=/k ro"}, got); diff != "" || len(warns) > 0 {
		t.Errorf("entries (-want +got):\n%s\nwarnings %q", diff, warns)
	}
	c, _ := Parse(fstest.MapFS{"grub.cfg": {Data: []byte(cfg)}}, "grub.cfg")
	if c.Entries[0].Label != "Caf\uFFFD" || *c.Timeout != 3*time.Second {
		t.Errorf("label %q timeout %v; want Caf\uFFFD, 3s", c.Entries[0].Label, c.Timeout)
	}
	_, err := Parse(fstest.MapFS{"grub.cfg": {Data: []byte("menuentry a {\n\x00linux /k\n}\n")}}, "grub.cfg")
	if err == nil || !strings.Contains(err.Error(), "/grub.cfg:2: not a text file (binary data)") {
		t.Errorf("NUL byte: err = %v, want a binary-data error naming line 2", err)
	}
}

// TestLimits feeds configs that would cost a naive interpreter time or
// memory out of proportion to their size; each must stop quickly with a
// message naming the limit, keeping what it read before.
func TestLimits(t *testing.T) {
	deep := strings.Repeat("submenu x {\n", 20000) + strings.Repeat("}\n", 20000)
	doubling := "set a=x\n" + strings.Repeat("set a=$a$a\n", 40) + "menuentry m { linux /k $a; }\n"
	recursion := "function f { f; }\nmenuentry before { linux /k; }\nf\n"
	// FuzzParse found this one taking 14 GiB: 32 calls deep, each
	// doubling its argument.
	doublingArg := "function f { f $1$1; }\nmenuentry before { linux /k; }\nf 0\n"
	many := strings.Repeat("menuentry m { linux /k; }\n", maxItems+10)
	for _, tt := range []struct {
		name, cfg, want string
		parseErr        bool
	}{
		{"deep submenus", deep, "blocks nested deeper than 32", true},
		{"doubling variable", doubling, "longer than 65536 bytes", false},
		{"recursion", recursion, "functions call each other deeper than 32", false},
		{"doubling argument", doublingArg, "a command's arguments are longer than 65536 bytes", false},
		{"too many entries", many, "more than 4096 menu entries", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			c, err := Parse(fstest.MapFS{"grub.cfg": {Data: []byte(tt.cfg)}}, "grub.cfg")
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			msg := fmt.Sprint(err)
			if c != nil {
				msg = strings.Join(entry.Strings(c.Warnings), "\n")
			}
			if tt.parseErr != (err != nil) || !strings.Contains(msg, tt.want) {
				t.Errorf("Parse = %q, %v; want a message with %q", msg, err, tt.want)
			}
		})
	}
}

func TestBLSCfg(t *testing.T) {
	bls := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	fsys := fstest.MapFS{
		"grub2/grub.cfg": {Data: []byte(`
load_env
set default="${saved_entry}"
set tuned_params="isolcpus=2"
set early_initrd="ucode.img"
blscfg
`)},
		"grub2/grubenv": envFile("saved_entry", "m-5.14.0-70.el9.x86_64", "kernelopts", "root=/dev/sda2 ro "),
		"loader/entries/m-5.14.0-70.el9.x86_64.conf":  bls("title Seventy\nlinux /vmlinuz-70\ninitrd /initramfs-70.img $tuned_initrd\noptions $kernelopts$tuned_params\noptions ignored=1\n"),
		"loader/entries/m-5.14.0-162.el9.x86_64.conf": bls("title New\nlinux /vmlinuz-162\ninitrd /initramfs-162.img\n"),
		"loader/entries/m-5.14.0-9.el9.x86_64.conf":   bls("title Old\r\nlinux /vmlinuz-9\r\noptions a=1\r\nbroken\r\noptions never=read\r\n"),
		"loader/entries/m-uki.conf":                   bls("title UKI\nefi /EFI/Linux/uki.efi\n"),
		"loader/entries/.hidden.conf":                 bls("title Hidden\nlinux /vmlinuz-x\n"),
	}
	c, err := Parse(fsys, "grub2/grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range c.Entries {
		got = append(got, fmt.Sprintf("%s|%s|%v|%s", e.ID, e.Kernel, e.Initrds, e.Cmdline))
	}
	want := []string{
		// No options line: $default_kernelopts (unset) gives none.
		"m-5.14.0-162.el9.x86_64|/vmlinuz-162|[/ucode.img /initramfs-162.img]|BOOT_IMAGE=()/vmlinuz-162",
		// The first options line only, each $var followed by a blank.
		"m-5.14.0-70.el9.x86_64|/vmlinuz-70|[/ucode.img /initramfs-70.img]|BOOT_IMAGE=()/vmlinuz-70 root=/dev/sda2 ro isolcpus=2",
		// A line with no value ends the file, as in blscfg.
		"m-5.14.0-9.el9.x86_64|/vmlinuz-9|[/ucode.img]|BOOT_IMAGE=()/vmlinuz-9 a=1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if c.Default != 1 {
		t.Errorf("default = %d, want 1 (saved_entry names the file)", c.Default)
	}
	if w := strings.Join(entry.Strings(c.Warnings), "\n"); !strings.Contains(w, "/loader/entries/m-uki.conf:1: menuentry \"UKI\" starts the EFI program /EFI/Linux/uki.efi, not a Linux kernel; skipped") {
		t.Errorf("warnings = %q, want the UKI entry skipped by name", c.Warnings)
	}
	if diff := cmp.Diff([]string{"/loader/entries"}, c.Consumed); diff != "" {
		t.Errorf("Consumed (-want +got):\n%s", diff)
	}
}

func TestRPMVercmp(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "2.0", -1},
		{"2.0.1", "2.0", 1},
		{"5.14.0-162", "5.14.0-70", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0+git1", "1.0", 1},
		{"1a", "1.0", -1},
		{"010", "9", 1},
		{"el8_9", "el8_10", -1},
	} {
		if got := rpmvercmp(tt.a, tt.b); got != tt.want {
			t.Errorf("rpmvercmp(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := rpmvercmp(tt.b, tt.a); got != -tt.want {
			t.Errorf("rpmvercmp(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestMultiVolume(t *testing.T) {
	esp := fstest.MapFS{"EFI/x/grub.cfg": {Data: []byte(`
search --no-floppy --fs-uuid --set=dev 1111-AAAA
set prefix=($dev)/grub2
configfile $prefix/grub.cfg
`)}}
	boot := fstest.MapFS{"grub2/grub.cfg": {Data: []byte(`
search --fs-uuid --set=root --hint-bios=hd0,gpt2 1111-aaaa
menuentry a { linux /vmlinuz; initrd /initrd; }
menuentry b { linux (hd9,gpt9)/vmlinuz; }
`)}}
	vols := []entry.Volume{{FS: esp, Device: "sda1", Dir: "/m/sda1"}, {FS: boot, Device: "sda2", Dir: "/m/sda2", UUID: "1111-AAAA"}}
	c, err := ParseVolumes(vols, 0, "EFI/x/grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range c.Entries {
		got = append(got, fmt.Sprintf("%s %s %s %s %s", e.ID, e.At(e.Kernel), e.Root, e.Source, e.Cmdline))
	}
	want := []string{
		"a sda2:/vmlinuz /m/sda2 sda2:/grub2/grub.cfg:3 BOOT_IMAGE=/vmlinuz",
		// An unresolved GRUB device is the current file's filesystem.
		"b sda2:/vmlinuz /m/sda2 sda2:/grub2/grub.cfg:4 BOOT_IMAGE=(hd9,gpt9)/vmlinuz",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sda2:/grub2/grub.cfg"}, c.Consumed); diff != "" {
		t.Errorf("Consumed (-want +got):\n%s", diff)
	}
}
