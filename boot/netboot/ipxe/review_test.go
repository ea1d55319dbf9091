package ipxe

import (
	"context"
	"net/url"
	"runtime"
	"strings"
	"testing"
)

// "4 KiB a token" bounds one token, not a setting, an echo or a command
// line: a 256 KiB script whose one line is `${x}` 50 000 times, x a
// 4 000-byte setting, builds a 200 MB string. Each of the 1024 settings,
// each of the 100 echoes (printed to every console), and the kernel's
// command line can be one: a hostile script (or DHCP server pointing at
// one) exhausts the bootloader's memory instead of ending in a message.
func TestReviewExpansionAmplifies(t *testing.T) {
	x := strings.Repeat("A", 4000)
	refs := strings.TrimSpace(strings.Repeat("${x} ", 50000))
	script := "#!ipxe\nset x " + x + "\nkernel vmlinuz " + refs + "\nboot\n"
	if len(script) > MaxScript {
		t.Fatalf("script %d bytes", len(script))
	}
	u, _ := url.Parse(base + "boot.ipxe")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := Run(context.Background(), Config{Probe: files.probe}, u, []byte(script))
	runtime.ReadMemStats(&after)
	if r.Boot != nil || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].String(), "boot.ipxe:3: kernel: the command expands to more than 16 KiB") {
		t.Errorf("a %d-byte script amplified: boot %v, warnings %v", len(script), r.Boot != nil, r.Warnings)
	}
	if a := after.TotalAlloc - before.TotalAlloc; a > 64<<20 {
		t.Errorf("allocated %d MB", a>>20)
	}
}

// iPXE: "Any argument supplied to the initrd command will be used as the
// pathname for that image within the initrd.magic initial RAM
// filesystem" (ipxe.org/cmd/initrd). warmboot appends the file's raw
// bytes as an initrd and drops the path without a word: the script in
// the example boots with no /sbin/init.
func TestReviewInitrdArgsDropped(t *testing.T) {
	srv := with(files, server{
		base + "deploy.sh": "#!/bin/sh\n",
		base + "boot.ipxe": "#!ipxe\nkernel vmlinuz\ninitrd initrd.img\ninitrd deploy.sh /sbin/init mode=755\nboot\n",
	})
	g, _ := run(t, srv, settings, base+"boot.ipxe")
	if g.Kernel == "" {
		t.Fatalf("no boot: %v", g.Warnings)
	}
	if len(g.Warnings) == 0 {
		t.Errorf("booted %s with initrds %v and no warning: the cpio path /sbin/init mode=755 was dropped", g.Kernel, g.Initrds)
	}
}

// The same, kept: a goto loop stores a new 48 MB setting per pass (1024
// settings allowed), all live at once. Five passes of a 60 KB script hold
// 240 MB; 1024 would hold 49 GB. Settings come from hostile DHCP's boot
// file under the default warmboot.net=last too: discovery runs on every
// boot, so the bootloader is OOM-killed before it boots the disk.
func TestReviewSettingsHeldLive(t *testing.T) {
	x := strings.Repeat("A", 4000)
	refs := strings.TrimSpace(strings.Repeat("${x} ", 12000))
	script := "#!ipxe\nset x " + x + "\nset i 0\n:loop\nset i ${i}x\nset v${i} " + refs + "\niseq ${i} 0xxxxx && goto done || goto loop\n:done\nkernel vmlinuz\nboot\n"
	u, _ := url.Parse(base + "boot.ipxe")
	var live uint64
	probe := func(ctx context.Context, u *url.URL) ([]byte, bool, error) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		live = ms.HeapAlloc
		return files.probe(ctx, u)
	}
	r := Run(context.Background(), Config{Probe: probe}, u, []byte(script))
	if r.Boot != nil || len(r.Warnings) == 0 || !strings.Contains(r.Warnings[0].String(), "set: the command expands to more than 16 KiB") {
		t.Errorf("boot %v, warnings %v", r.Boot != nil, r.Warnings)
	}
	// Within the bounds: many settings, each under 16 KiB, up to 256 KiB.
	script = "#!ipxe\nset x " + strings.Repeat("A", 4000) + "\nset i 0\n:loop\nset i ${i}x\nset v${i} ${x} ${x} ${x}\ngoto loop\n"
	r = Run(context.Background(), Config{Probe: probe}, u, []byte(script))
	if r.Boot != nil || len(r.Warnings) == 0 || !strings.Contains(r.Warnings[len(r.Warnings)-1].String(), "the settings would hold more than 256 KiB") {
		t.Errorf("boot %v, warnings %v", r.Boot != nil, r.Warnings)
	}
	if live > 64<<20 {
		t.Errorf("a %d KB script held %d MB live in settings when it reached its kernel", len(script)>>10, live>>20)
	}
}
