package bless

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/state"
)

// Bless finds the booted BLS entry's file where the running system
// mounted the device the bootloader read it from, whatever the layout,
// and leaves the counter of a device that is not mounted instead of
// guessing. Every layout also has a decoy at /boot/loader/entries, where
// "/boot" + the file would have looked.
func TestBlessBLS(t *testing.T) {
	const entries = "/loader/entries/new+2-1.conf"
	for _, tc := range []struct {
		name      string
		mounts    string            // mountinfo lines: mount point and source
		links     map[string]string // under /dev: link → target
		booted    string            // booted.json; %s is the source
		src       entry.Source
		file      string // where the entry is on the host
		want      string // what bless says about it
		untouched []string
	}{{
		name:   "separate /boot",
		mounts: "/ /dev/vda2\n/boot /dev/vda1\n",
		src:    entry.Source{Device: "vda1", File: entries, Line: 1},
		file:   "/boot/loader/entries/new+2-1.conf",
		want:   "boot counting: /boot/loader/entries/new+2-1.conf is now new.conf",
	}, {
		name:      "root filesystem with a /boot directory",
		mounts:    "/ /dev/vda1\n/home /dev/vdb1\n",
		src:       entry.Source{Device: "vda1", File: "/boot" + entries, Line: 1},
		file:      "/boot/loader/entries/new+2-1.conf",
		want:      "boot counting: /boot/loader/entries/new+2-1.conf is now new.conf",
		untouched: []string{"/home/loader/entries/new+2-1.conf"},
	}, {
		name:      "ESP at /boot/efi",
		mounts:    "/ /dev/nvme0n1p2\n/boot/efi /dev/nvme0n1p1 vfat\n",
		src:       entry.Source{Device: "nvme0n1p1", File: entries, Line: 1},
		file:      "/boot/efi/loader/entries/new+2-1.conf",
		want:      "boot counting: /boot/efi/loader/entries/new+2-1.conf is now new.conf",
		untouched: []string{"/boot/loader/entries/new+2-1.conf"},
	}, {
		name:      "XBOOTLDR at /efi, from a version 1 booted.json",
		mounts:    "/ /dev/sda3\n/efi /dev/sda2 vfat\n",
		booted:    `{"version":1,"entry":"new","source":"%s","by":"warmboot"}`,
		src:       entry.Source{Device: "sda2", File: entries, Line: 1},
		file:      "/efi/loader/entries/new+2-1.conf",
		want:      "boot counting: /efi/loader/entries/new+2-1.conf is now new.conf",
		untouched: []string{"/boot/loader/entries/new+2-1.conf"},
	}, {
		name:      "LVM: the bootloader's dm-0 is the host's /dev/mapper/vg-boot",
		mounts:    "/ /dev/vda2\n/boot /dev/mapper/vg-boot\n",
		links:     map[string]string{"mapper/vg-boot": "../dm-0"},
		src:       entry.Source{Device: "dm-0", File: entries, Line: 1},
		file:      "/boot/loader/entries/new+2-1.conf",
		want:      "boot counting: /boot/loader/entries/new+2-1.conf is now new.conf",
		untouched: []string{"/loader/entries/new+2-1.conf"},
	}, {
		name:      "device not mounted",
		mounts:    "/ /dev/vda2\n",
		src:       entry.Source{Device: "vda1", File: entries, Line: 1},
		want:      "boot counting: vda1, which holds /loader/entries/new+2-1.conf, is not mounted: its counter is left as it is (mount vda1 and run bless again)",
		untouched: []string{"/boot/loader/entries/new+2-1.conf", "/loader/entries/new+2-1.conf"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			write := func(name, data string) {
				t.Helper()
				p := filepath.Join(root, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var mi strings.Builder
			for i, l := range strings.Split(strings.TrimSpace(tc.mounts), "\n") {
				f := append(strings.Fields(l), "ext4")
				fmt.Fprintf(&mi, "%d 1 8:%d / %s rw,relatime - %s %s rw\n", 22+i, i, f[0], f[2], f[1])
			}
			fmt.Fprintf(&mi, "90 22 0:5 / /proc rw - proc proc rw\n")
			write("proc/self/mountinfo", mi.String())
			for link, target := range tc.links {
				os.MkdirAll(filepath.Join(root, "dev", filepath.Dir(link)), 0o755)
				write(filepath.Join("dev", filepath.Dir(link), target), "")
				if err := os.Symlink(target, filepath.Join(root, "dev", link)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.booted != "" {
				write("run/warmboot/booted.json", fmt.Sprintf(tc.booted, tc.src))
			} else {
				data, err := handoff.Booted{Entry: "new", Source: tc.src, By: "warmboot"}.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				write("run/warmboot/booted.json", string(data))
			}
			conf := "title New\nlinux /vmlinuz\n"
			if tc.file != "" {
				write(tc.file, conf)
			}
			for _, f := range tc.untouched {
				write(f, conf)
			}

			var said bytes.Buffer
			if err := Bless(root, clog.New(&said, "bless"), Options{}); err != nil {
				t.Fatalf("Bless = %v; said %q", err, said.String())
			}
			if !strings.Contains(said.String(), tc.want) {
				t.Errorf("Bless said:\n%s\nwant %q", said.String(), tc.want)
			}
			// An image old enough to write booted.json version 1 reads
			// only state version 1: said, with the fix.
			if old := strings.Contains(said.String(), "booted by a warmboot image older than this bless"); old != (tc.booted != "") {
				t.Errorf("Bless said:\n%s\nwant the older image named: %v", said.String(), tc.booted != "")
			}
			if tc.file != "" {
				blessed := filepath.Join(filepath.Dir(tc.file), "new.conf")
				if _, err := os.Stat(filepath.Join(root, blessed)); err != nil {
					t.Errorf("the entry is not blessed: %v", err)
				}
			}
			for _, f := range tc.untouched {
				if _, err := os.Stat(filepath.Join(root, f)); err != nil {
					t.Errorf("%s was renamed: %v", f, err)
				}
			}
			// The entry is last-known-good, with its source as booted.
			r, _ := os.OpenRoot(root)
			defer r.Close()
			st, err := state.Read(r.FS(), state.HostFile(root))
			if err != nil || st.LastGood.ID != "new" || st.LastGood.Source != tc.src {
				t.Errorf("state after Bless: last good %+v, %v; want new from %v", st.LastGood, err, tc.src)
			}
		})
	}
}

// A root filesystem the kernel mounted itself (root=/dev/vda1, no
// initramfs) is "/dev/root" in the mount table, a name that exists
// nowhere under /dev; its device number (254:1) and /sys/dev/block say it
// is vda1, the name the bootloader recorded. The counted entry under
// /boot on it must be blessed, as it was before bless went through the
// mount table (it then looked under /boot); left counted, every reboot
// takes a try off the good kernel until it ranks last and an older one
// boots.
func TestBlessBLSKernelMountedRoot(t *testing.T) {
	root := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/self/mountinfo", "22 1 254:1 / / rw,relatime - ext4 /dev/root rw\n90 22 0:5 / /proc rw - proc proc rw\n")
	write("sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1/dev", "254:1\n")
	os.MkdirAll(filepath.Join(root, "sys/dev/block"), 0o755)
	if err := os.Symlink("../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1", filepath.Join(root, "sys/dev/block/254:1")); err != nil {
		t.Fatal(err)
	}
	src := entry.Source{Device: "vda1", File: "/boot/loader/entries/new+2-1.conf", Line: 1}
	data, err := handoff.Booted{Entry: "new", Source: src, By: "warmboot"}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	write("run/warmboot/booted.json", string(data))
	write("boot/loader/entries/new+2-1.conf", "title New\nlinux /vmlinuz\n")
	var said bytes.Buffer
	if err := Bless(root, clog.New(&said, "bless"), Options{}); err != nil {
		t.Fatalf("Bless = %v; said %q", err, said.String())
	}
	if _, err := os.Stat(filepath.Join(root, "boot/loader/entries/new.conf")); err != nil {
		t.Errorf("Bless on a root mounted as /dev/root left the counter: %v; said:\n%s", err, said.String())
	}
}

// The trial came up: GRUB's one-shot warmswap set for a reset is taken
// back. And a state that cannot be saved still has the watchdog stopped:
// the system is up, a reset would take it down for nothing.
func TestBlessFirmwareAndWatchdog(t *testing.T) {
	root := t.TempDir()
	one := &state.OneShot{Loader: "grub", File: "/boot/grub/grubenv", Var: "next_entry", Value: "adv>old"}
	env, _ := grubenv.Set(grubenv.New(), "next_entry", "adv>old")
	files := map[string][]byte{
		"proc/self/mountinfo":      []byte("22 1 254:1 / / rw - ext4 /dev/vda1 rw\n"),
		"run/warmboot/booted.json": []byte(`{"version":2,"entry":"new","by":"warmboot","boots":"N"}`),
		"boot/grub/grubenv":        env,
		"dev/watchdog":             nil,
	}
	for n, d := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(n)), 0o755)
		os.WriteFile(filepath.Join(root, n), d, 0o644)
	}
	r, _ := os.OpenRoot(root)
	defer r.Close()
	st := state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "new", Boots: "N"}, By: "warmswap", Firmware: one}}
	if err := state.Save(r, state.HostFile(root), st); err != nil {
		t.Fatal(err)
	}
	var said bytes.Buffer
	if err := Bless(root, clog.New(&said, "bless"), Options{}); err != nil {
		t.Fatalf("Bless: %v\n%s", err, said.String())
	}
	blk, _ := os.ReadFile(filepath.Join(root, "boot/grub/grubenv"))
	if vars, _ := grubenv.Map(blk); vars["next_entry"] != "" || !strings.Contains(said.String(), `cleared GRUB's one-shot next_entry="adv>old"`) {
		t.Errorf("grubenv after bless: %v\n%s", vars, said.String())
	}
	// The state cannot be saved (its directory is a file): an error,
	// and the watchdog stopped all the same.
	os.WriteFile(filepath.Join(root, "dev/watchdog"), nil, 0o644)
	os.RemoveAll(filepath.Join(root, "boot/warmboot"))
	os.WriteFile(filepath.Join(root, "boot/warmboot"), []byte("not a directory"), 0o644)
	said.Reset()
	err := Bless(root, clog.New(&said, "bless"), Options{})
	if w, _ := os.ReadFile(filepath.Join(root, "dev/watchdog")); err == nil || string(w) != "V" || !strings.Contains(said.String(), "watchdog stopped") {
		t.Errorf("Bless with an unsavable state = %v, watchdog got %q\n%s", err, w, said.String())
	}
}
