package syslinux

import (
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/entry"
)

// Adversarial review of the submenu/default rewrite. Each test cites the
// syslinux 6 source (geneC/syslinux HEAD 5e426532) it is checked against:
//   menu module: com32/menu/readconfig.c, com32/menu/menumain.c
//   core:        com32/elflink/ldlinux/{ldlinux.c,readconfig.c,kernel.c}

func reviewParse(t *testing.T, files map[string]string) *entry.Config {
	t.Helper()
	fsys := fstest.MapFS{}
	for n, d := range files {
		fsys[n] = &fstest.MapFile{Data: []byte(d)}
	}
	cfg, err := Parse(fsys, "s.cfg")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func defaultID(cfg *entry.Config) string {
	if cfg.Default < 0 || cfg.Default >= len(cfg.Entries) {
		return ""
	}
	return cfg.Entries[cfg.Default].ID
}

// autoboots says whether the config boots its default by itself.
func autoboots(cfg *entry.Config) bool {
	return cfg.Timeout == nil || *cfg.Timeout >= 0
}

// Without UI the core boots DEFAULT at once unless PROMPT is set
// (ldlinux.c main: "if (!forceprompt && !shift_is_held())
// ldlinux_auto_boot()", ldlinux.c:349 -> load_kernel(default_cmd)); ONTIMEOUT is only
// read when the boot: prompt times out (ldlinux.c:272 enter_cmdline: "if (to
// && ontimeoutlen) load_kernel(ontimeout)"). warmboot boots ONTIMEOUT
// "menu or no menu" (pickDefault). Before this change it booted a.
func TestReviewOntimeoutWithoutPromptOrUI(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "default a\nontimeout b\ntimeout 50\nlabel a\nkernel /a\nlabel b\nkernel /b\n"})
	if got := defaultID(cfg); got != "a" {
		t.Errorf("default = %q, want %q: with no UI and no PROMPT the core boots DEFAULT immediately and never reads ONTIMEOUT", got, "a")
	}
}

// ONTIMEOUT is a field of the menu being parsed (menu readconfig.c:1044
// "m->ontimeout = refstrdup(...)"), copied into submenus only when they
// are created (new_menu, readconfig.c:187). The top menu's timeout boots
// cm->ontimeout else its defentry (menumain.c:793-795). An ONTIMEOUT
// inside a submenu does not change what the top menu's timeout boots;
// warmboot keeps one global ONTIMEOUT.
func TestReviewOntimeoutIsPerMenu(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "ui menu.c32\ntimeout 50\nlabel a\nkernel /a\nmenu begin s\nmenu title Sub\nontimeout b\nlabel b\nkernel /b\nmenu end\n"})
	if got := defaultID(cfg); got != "a" {
		t.Errorf("default = %q, want %q: the ONTIMEOUT inside submenu s is that submenu's, the top menu times out to its defentry", got, "a")
	}
}

// TIMEOUT is per menu too (menu readconfig.c:1040 "m->timeout = ...");
// menumain.c:759 runs start_menu with its own timeout. A submenu's
// "TIMEOUT 0" (wait for a key in that submenu) leaves the top menu's 5 s
// countdown; warmboot takes the last TIMEOUT anywhere and waits forever.
func TestReviewTimeoutIsPerMenu(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "ui menu.c32\ntimeout 50\nlabel a\nkernel /a\nmenu begin s\ntimeout 0\nlabel b\nkernel /b\nmenu end\n"})
	if cfg.Timeout == nil || *cfg.Timeout != 5*time.Second {
		t.Errorf("Timeout = %v, want 5s: the top menu's TIMEOUT 50; the submenu's TIMEOUT 0 is its own", cfg.Timeout)
	}
}

// With UI, DEFAULT is looked up by find_label (menu readconfig.c:448),
// which returns the FIRST recorded entry with that label, hidden or not;
// parse_configs (readconfig.c:1137-1142) then ignores it because it is in
// hide_menu. warmboot's byName(defName, true) skips the hidden one and
// takes a later visible LABEL of the same name.
func TestReviewUIDefaultFirstMatchHidden(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "ui menu.c32\ndefault x\nlabel x\nmenu hide\nkernel /hidden\nlabel a\nkernel /a\nlabel x\nkernel /visible\n"})
	if got := cfg.Entries[cfg.Default].Kernel; got != "/a" {
		t.Errorf("default kernel = %q, want /a: find_label(\"x\") finds the hidden x first, so DEFAULT is ignored and the top menu's entry 0 (a) is the default", got)
	}
}

// parse_config_file keeps the menu it adds to in a local, m
// (readconfig.c:657 "struct menu *m = current_menu"); a MENU END inside
// an INCLUDEd file changes current_menu but not the includer's m. So
// after "include inner.cfg" (which ends submenu s) the includer still
// records into s, and its own MENU END then goes from the top to the top
// (end_submenu of a menu with no parent). warmboot's p.cur follows the
// included file's MENU END, so b and its MENU DEFAULT land in the top
// menu and b becomes the top menu's default; syslinux's top default is a.
func TestReviewMenuEndInsideInclude(t *testing.T) {
	cfg := reviewParse(t, map[string]string{
		"s.cfg":     "ui menu.c32\ntimeout 50\nlabel a\nkernel /a\nmenu begin s\nmenu title Sub\ninclude inner.cfg\nlabel b\nmenu default\nkernel /b\nmenu end\n",
		"inner.cfg": "label x\nkernel /x\nmenu end\n",
	})
	if got := defaultID(cfg); got != "a" {
		t.Errorf("default = %q, want %q (b and its MENU DEFAULT are in submenu Sub in syslinux)\nmenu: %q", got, "a", summary(cfg))
	}
	want := []string{"*a: a", " x: Sub > x", " b: Sub > b"}
	if diff := cmp.Diff(want, summary(cfg)); diff != "" {
		t.Errorf("menu (-want +got):\n%s", diff)
	}
}

// A default that is not a Linux kernel - ONTIMEOUT/DEFAULT/MENU DEFAULT on
// a LOCALBOOT or COM32 (chain.c32) entry, or a top menu whose entry 0 is
// one - is what syslinux runs (menu readconfig.c:422-425 accepts MA_CMD
// of any kernel type as defentry; menumain.c:795 boots its cmdline).
// warmboot warns "cannot boot; using <first>" (or, for entry 0, silently
// takes the first Linux entry in menuDefault) and still counts down to
// it: PXE/USB installer menus whose timeout boots the local disk
// ("ONTIMEOUT local" / "LOCALBOOT 0") autoboot the installer instead.
func TestReviewNonLinuxDefaultAutoboots(t *testing.T) {
	for _, tt := range []struct{ name, src string }{
		{"ONTIMEOUT localboot", "ui menu.c32\ntimeout 100\nontimeout local\nlabel install\nkernel /install/vmlinuz\nappend auto=true priority=critical\nlabel local\nmenu label Boot from first hard disk\nlocalboot 0\n"},
		{"UI DEFAULT chain.c32 entry", "ui menu.c32\ntimeout 100\ndefault windows\nlabel install\nkernel /install/vmlinuz\nlabel windows\ncom32 chain.c32\nappend hd0 1\n"},
		{"no-UI DEFAULT chain.c32 with args", "default chain.c32 hd0 1\ntimeout 100\nprompt 1\nlabel install\nkernel /install/vmlinuz\n"},
		{"MENU DEFAULT on localboot", "ui menu.c32\ntimeout 100\nlabel install\nkernel /install/vmlinuz\nlabel local\nmenu default\nlocalboot 0\n"},
		{"entry 0 is localboot", "ui menu.c32\ntimeout 100\nlabel local\nlocalboot 0\nlabel install\nkernel /install/vmlinuz\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := reviewParse(t, map[string]string{"s.cfg": tt.src})
			if len(cfg.Entries) > 0 && autoboots(cfg) {
				t.Errorf("timeout %v boots %q; syslinux's timeout runs a non-Linux entry (local disk / chainload), warmboot must not count down to the installer\nwarnings: %q",
					cfg.Timeout, defaultID(cfg), entry.Strings(cfg.Warnings))
			}
		})
	}
}

// A submenu marked MENU DEFAULT (no LABEL open) is the top menu's
// defentry; the timeout boots cm->menu_entries[cm->defentry]->cmdline
// (menumain.c:795), which is NULL for MA_SUBMENU, so run_menu returns
// NULL and the menu exits to the boot: prompt (menumain.c:1155-1164,
// execute.c:141 longjmp __return_to_command_prompt) - the timeout never
// descends into the submenu. warmboot counts down to the submenu's own
// default (menuDefault recursion), an entry syslinux never autoboots.
func TestReviewSubmenuDefaultDoesNotAutoboot(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "ui menu.c32\ntimeout 50\nlabel a\nkernel /a\nmenu begin s\nmenu label ^Rescue\nmenu default\nlabel c\nkernel /c\nmenu end\n"})
	if autoboots(cfg) && defaultID(cfg) == "c" {
		t.Errorf("timeout %v boots c (Rescue > c); syslinux's timeout on a submenu entry boots nothing", cfg.Timeout)
	}
}

// Without UI, load_kernel (ldlinux.c:145-176) runs the LABEL's command
// line with DEFAULT's words after the label appended ("%s %s",
// me->cmdline, args). warmboot cuts DEFAULT at the first space and drops
// "single".
func TestReviewDefaultArgsAppended(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "default linux single\nlabel linux\nkernel /vmlinuz\nappend root=/dev/sda1 ro\n"})
	if got := cfg.Entries[cfg.Default].Cmdline; !strings.HasSuffix(got, " single") {
		t.Errorf("cmdline = %q, want it to end in \" single\" (DEFAULT's arguments)", got)
	}
}

// Without UI, a DEFAULT that names no LABEL is a kernel command line
// (ldlinux.c:186 load_kernel: allowimplicit, execute(kernel, type)); syslinux
// boots /vmlinuz-new root=/dev/sda1. warmboot warns and boots the first
// LABEL (old).
func TestReviewImplicitDefaultKernel(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "default /vmlinuz-new root=/dev/sda1\nlabel old\nkernel /vmlinuz-old\nappend root=/dev/sda1\n"})
	if len(cfg.Entries) == 0 || cfg.Entries[cfg.Default].Kernel != "/vmlinuz-new" {
		t.Errorf("default boots %q, want /vmlinuz-new (the implicit DEFAULT kernel)\nwarnings: %q", summary(cfg), entry.Strings(cfg.Warnings))
	}
}

// syslinux loads the initrds of the FIRST "initrd=" in the command line
// only (ldlinux kernel.c:68 strstr(cmdline, "initrd=")), and the menu
// puts the INITRD line's " initrd=..." after APPEND (menu readconfig.c
// :375-396). A second INITRD line replaces the first (:1014 ld.initrd =
// a). warmboot loads all of them.
func TestReviewInitrdFirstOptionOnly(t *testing.T) {
	for _, tt := range []struct{ name, src string }{
		{"APPEND initrd= and INITRD", "default a\nlabel a\nkernel /vmlinuz\nappend initrd=/a.img root=/dev/sda1\ninitrd /b.img\n"},
		{"two INITRD lines", "default a\nlabel a\nkernel /vmlinuz\ninitrd /b.img\ninitrd /a.img\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := reviewParse(t, map[string]string{"s.cfg": tt.src})
			if diff := cmp.Diff([]string{"/a.img"}, cfg.Entries[0].Initrds); diff != "" {
				t.Errorf("initrds (-want +got):\n%s", diff)
			}
		})
	}
}

// MENU EXIT only makes an exit entry inside a submenu (menu readconfig.c
// :891 "if (ld.label && m->parent)"); at the top it is ignored and the
// LABEL boots its kernel. warmboot drops it as navigation.
func TestReviewTopLevelMenuExitBoots(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "ui menu.c32\nlabel a\nkernel /a\nlabel b\nmenu exit\nmenu default\nkernel /b\n"})
	if got := defaultID(cfg); got != "b" {
		t.Errorf("default = %q, want b (MENU EXIT at the top menu is ignored; b is MENU DEFAULT)\nmenu: %q", got, summary(cfg))
	}
}

// MENU TITLE renames a submenu's entry only while its name is still the
// MENU BEGIN tag (readconfig.c:691 "displayname == m->label", a pointer
// compare); after the first MENU TITLE it no longer is. warmboot lets the
// last MENU TITLE win.
func TestReviewSecondMenuTitle(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "ui menu.c32\nmenu begin s\nmenu title First\nmenu title Second\nlabel x\nkernel /x\nmenu end\n"})
	if diff := cmp.Diff([]string{"*x: First > x"}, summary(cfg)); diff != "" {
		t.Errorf("menu (-want +got):\n%s", diff)
	}
}

// reviewWithin runs Parse and fails if it has not returned within d (the
// goroutine is left running: the point is that it does not stop).
func reviewWithin(t *testing.T, d time.Duration, fsys fstest.MapFS) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		Parse(fsys, "s.cfg")
	}()
	select {
	case <-done:
		t.Logf("Parse returned in %v", time.Since(start))
	case <-time.After(d):
		t.Fatalf("Parse still running after %v", d)
	}
}

// MENU DEFAULT with no LABEL open inside a submenu appends the submenu to
// its parent's defs once per line. menuDefault walks defs from the last
// and recomputes menuDefault(sub) for every copy when the submenu holds
// nothing bootable, so nested submenus each repeating "menu default" K
// times cost K^depth: 3 levels x 2000 lines (78 KB, well under the
// 64-file x 1 MiB bound) is 8e9 calls. The bootloader never reaches its
// menu while such a stick is plugged in.
func TestReviewMenuDefaultBlowup(t *testing.T) {
	const k = 2000
	rep := strings.Repeat("menu default\n", k)
	src := "ui menu.c32\nmenu begin a\n" + rep + "menu begin b\n" + rep + "menu begin c\n" + rep + "menu end\nmenu end\nmenu end\nlabel x\nkernel /x\n"
	reviewWithin(t, 3*time.Second, fstest.MapFS{"s.cfg": {Data: []byte(src)}})
}

// A global APPEND is copied into every LABEL without one (entry()), and
// its initrd= list is split and resolved again for each: the labels and
// the global APPEND are bounded separately (maxItems 4096 labels, 1 MiB
// per file) but not their product. 4 KB of "initrd=a,a,..." and 4096
// two-line labels (90 KB) allocate hundreds of MiB; a 1 MiB APPEND line
// makes it tens of GiB (OOM in the bootloader's initramfs).
func TestReviewGlobalAppendTimesLabels(t *testing.T) {
	src := "append initrd=" + strings.TrimSuffix(strings.Repeat("a,", 2000), ",") + "\ninclude l.cfg\n"
	labels := strings.Repeat("label x\nkernel /k\n", 4096)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	reviewWithin(t, 10*time.Second, fstest.MapFS{"s.cfg": {Data: []byte(src)}, "l.cfg": {Data: []byte(labels)}})
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MiB for %d KB of config (testtool.Bounded's limit is 64 MiB)", alloc>>20, (len(src)+len(labels))>>10)
	}
}

// With TIMEOUT 0 (or none) the menu never times out (menumain.c:758
// "for both key_timeout and timeout == 0 means no limit"), so ONTIMEOUT
// is never used; Enter boots the highlighted entry, cm->curentry =
// defentry, which UI+DEFAULT set to a (readconfig.c:1137-1141,
// :1164). warmboot waits for a key (Timeout -1) with b, ONTIMEOUT's
// label, as the default, so Enter boots b. (TestMenuDefaults' "ONTIMEOUT
// is what the timeout boots" has no TIMEOUT either: there warmboot
// autoboots b after its own 10 s, an entry syslinux never boots unasked.)
func TestReviewOntimeoutWithoutTimeout(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "ui menu.c32\ntimeout 0\ndefault a\nontimeout b\nlabel a\nkernel /a\nlabel b\nkernel /b\n"})
	if got := defaultID(cfg); got != "a" {
		t.Errorf("default = %q, want a: with no timeout, ONTIMEOUT never applies and Enter boots DEFAULT's entry", got)
	}
}

// syslinux types a command by its extension only when it is not a LABEL:
// load_kernel (ldlinux.c:157) looks the word up with find_label first and
// runs the label's command line; only an unlabelled command goes through
// parse_image_type. pickDefault tests isModule(DEFAULT) before looking
// for the LABEL, so "DEFAULT linux-6.1.0" (path.Ext ".0", a PXE NBP
// suffix) is taken for a menu module and the first LABEL is booted.
func TestReviewDefaultLabelWithModuleSuffix(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "default linux-6.1.0\nprompt 0\nlabel old\nlinux /boot/vmlinuz-old\nlabel linux-6.1.0\nlinux /boot/vmlinuz-new\n"})
	if got := defaultID(cfg); got != "linux-6.1.0" {
		t.Errorf("default = %q, want linux-6.1.0 (DEFAULT names a LABEL)\nwarnings: %q", got, entry.Strings(cfg.Warnings))
	}
}

// The LINUX keyword (and the LABEL's last kernel-type keyword) fixes the
// type: the menu records ".linux /boot/vmlinuz-6.8.0" (menu
// readconfig.c:398) and execute() strips ".linux" and boots it as Linux
// whatever its name (execute.c:94-113); only KERNEL is typed by
// extension. A self-built mainline kernel installed by "make install"
// is /boot/vmlinuz-6.8.0 (KERNELRELEASE 6.8.0); path.Ext is ".0" and
// warmboot drops it as "not a Linux kernel". Likewise a later LINUX line
// replaces an earlier COM32 line (readconfig.c:1033-1037, ld.type =
// type), but warmboot's label.other stays set.
func TestReviewLinuxKeywordIsLinux(t *testing.T) {
	for _, tt := range []struct{ name, src, kernel string }{
		{"LINUX vmlinuz-6.8.0", "default l\nlabel l\nlinux /boot/vmlinuz-6.8.0\nappend root=/dev/sda1\n", "/boot/vmlinuz-6.8.0"},
		{"COM32 then LINUX", "default l\nlabel l\ncom32 chain.c32\nlinux /boot/vmlinuz\n", "/boot/vmlinuz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := reviewParse(t, map[string]string{"s.cfg": tt.src})
			if len(cfg.Entries) != 1 || cfg.Entries[0].Kernel != tt.kernel {
				t.Errorf("entries %q, want one booting %s\nwarnings: %q", summary(cfg), tt.kernel, entry.Strings(cfg.Warnings))
			}
		})
	}
}

// A LABEL without KERNEL/LINUX boots the file named like the label: LABEL
// sets "ld.kernel = refstrdup(p)" (menu readconfig.c:1023; ldlinux
// readconfig.c:1185 likewise). warmboot skips it ("has no KERNEL or
// LINUX line").
func TestReviewLabelIsDefaultKernel(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "default vmlinuz\nlabel vmlinuz\nappend root=/dev/sda1\n"})
	if len(cfg.Entries) != 1 || cfg.Entries[0].Kernel != "/vmlinuz" {
		t.Errorf("entries %q, want one booting /vmlinuz\nwarnings: %q", summary(cfg), entry.Strings(cfg.Warnings))
	}
}

// TOTALTIMEOUT bounds the wait even when TIMEOUT 0 means "no limit": the
// menu's mygetkey longjmps to the timeout path when it runs out
// (menumain.c:185-197) and the core's boot: prompt likewise (cli.c:137).
// warmboot ignores the keyword and waits for a key forever.
func TestReviewTotalTimeout(t *testing.T) {
	cfg := reviewParse(t, map[string]string{"s.cfg": "ui menu.c32\ntimeout 0\ntotaltimeout 600\nlabel a\nkernel /a\n"})
	if cfg.Timeout == nil || *cfg.Timeout != 60*time.Second {
		t.Errorf("Timeout = %v, want 1m0s (TOTALTIMEOUT 600)", cfg.Timeout)
	}
}
