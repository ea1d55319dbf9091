package modload

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestColdplug: a controller's module loads for its PCI device, then the
// disk driver for the device the controller brings; each once, with its
// dependencies first; a device nothing matches loads nothing.
func TestColdplug(t *testing.T) {
	root, sys := t.TempDir(), t.TempDir()
	mod := func(p string) {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), nil, 0o644)
	}
	for _, p := range []string{"core.ko", "nvme.ko", "scsi.ko", "sd_mod.ko", "xfs.ko", "crc.ko"} {
		mod("lib/modules/6.1/" + p)
	}
	os.MkdirAll(filepath.Join(root, "etc/warmboot/modules.d"), 0o755)
	os.WriteFile(filepath.Join(root, MatchFile), []byte(
		"pci:v*d*sv*sd*bc01sc08i02*\tlib/modules/6.1/core.ko lib/modules/6.1/nvme.ko\n"+
			"scsi:t-0x00*\tlib/modules/6.1/scsi.ko lib/modules/6.1/sd_mod.ko\n"+
			"scsi:t-0x07*\tlib/modules/6.1/scsi.ko lib/modules/6.1/sd_mod.ko\n"), 0o644)
	os.WriteFile(filepath.Join(root, GroupDir, "xfs.load"), []byte("lib/modules/6.1/crc.ko\nlib/modules/6.1/xfs.ko\n"), 0o644)
	dev := func(bus, name, alias string) {
		d := filepath.Join(sys, "bus", bus, "devices", name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "modalias"), []byte(alias+"\n"), 0o644)
	}
	dev("pci", "0000:00:04.0", "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02")
	dev("pci", "0000:00:1f.2", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01")

	var loaded []string
	m := &Modules{Root: root, Sys: sys, Release: "6.1",
		Load: func(f *os.File, _ string) error {
			loaded = append(loaded, filepath.Base(f.Name()))
			if filepath.Base(f.Name()) == "core.ko" {
				return errors.New("exists")
			}
			return nil
		},
		Exists: func(err error) bool { return err.Error() == "exists" }}
	names, errs := m.Coldplug()
	if len(errs) > 0 || !cmp.Equal(names, []string{"nvme"}) {
		t.Fatalf("first Coldplug = %v, %v; want nvme (core was present)", names, errs)
	}
	// The controller brought two disks of types that share a driver.
	dev("scsi", "0:0:0:0", "scsi:t-0x00")
	dev("scsi", "0:0:1:0", "scsi:t-0x07")
	names, errs = m.Coldplug()
	if len(errs) > 0 || !cmp.Equal(names, []string{"scsi", "sd_mod"}) {
		t.Fatalf("second Coldplug = %v, %v; want scsi, sd_mod", names, errs)
	}
	if names, _ := m.Coldplug(); len(names) != 0 {
		t.Errorf("third Coldplug loaded %v; nothing new appeared", names)
	}
	names, errs = m.LoadGroup("xfs")
	if len(errs) > 0 || !cmp.Equal(names, []string{"crc", "xfs"}) {
		t.Errorf("LoadGroup(xfs) = %v, %v", names, errs)
	}
	if _, errs := m.LoadGroup("btrfs"); len(errs) != 1 {
		t.Errorf("LoadGroup(btrfs) = %v, want an error naming the missing group", errs)
	}
	want := []string{"core.ko", "nvme.ko", "scsi.ko", "sd_mod.ko", "crc.ko", "xfs.ko"}
	if diff := cmp.Diff(want, loaded); diff != "" {
		t.Errorf("finit_module calls (-want +got):\n%s", diff)
	}
}

// TestColdplugFollowsDevices: a driver that makes a device as it loads
// (lpc_ich makes the iTCO watchdog's platform device on Intel chipsets) has
// that device's driver loaded in the same call, after it; an ACPI-made
// device (the WDAT watchdog) and a SAS HBA load in the first walk. The
// patterns are the Debian 6.1 modules' own.
func TestColdplugFollowsDevices(t *testing.T) {
	root, sys := t.TempDir(), t.TempDir()
	lib := "lib/modules/6.1/"
	for _, p := range []string{"lpc_ich.ko", "watchdog.ko", "iTCO_wdt.ko", "wdat_wdt.ko", "scsi_mod.ko", "raid_class.ko", "mpt3sas.ko"} {
		os.MkdirAll(filepath.Join(root, lib), 0o755)
		os.WriteFile(filepath.Join(root, lib, p), nil, 0o644)
	}
	os.MkdirAll(filepath.Join(root, filepath.Dir(MatchFile)), 0o755)
	os.WriteFile(filepath.Join(root, MatchFile), []byte(
		"pci:v00008086d00008C54sv*sd*bc*sc*i*\t"+lib+"lpc_ich.ko\n"+
			"platform:iTCO_wdt\t"+lib+"watchdog.ko "+lib+"iTCO_wdt.ko\n"+
			"platform:wdat_wdt\t"+lib+"watchdog.ko "+lib+"wdat_wdt.ko\n"+
			"pci:v00001000d00000097sv*sd*bc*sc*i*\t"+lib+"scsi_mod.ko "+lib+"raid_class.ko "+lib+"mpt3sas.ko\n"), 0o644)
	dev := func(bus, name, alias string) {
		d := filepath.Join(sys, "bus", bus, "devices", name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "modalias"), []byte(alias+"\n"), 0o644)
	}
	dev("pci", "0000:00:1f.0", "pci:v00008086d00008C54sv000015D9sd00000821bc06sc01i00")
	dev("pci", "0000:01:00.0", "pci:v00001000d00000097sv00001000sd00003090bc01sc07i00")
	dev("platform", "wdat_wdt", "platform:wdat_wdt")

	var loaded []string
	m := &Modules{Root: root, Sys: sys, Release: "6.1",
		Load: func(f *os.File, _ string) error {
			name := filepath.Base(f.Name())
			loaded = append(loaded, name)
			if name == "lpc_ich.ko" {
				dev("platform", "iTCO_wdt", "platform:iTCO_wdt")
			}
			return nil
		},
		Exists: func(error) bool { return false }}
	names, errs := m.Coldplug()
	want := []string{"lpc_ich", "scsi_mod", "raid_class", "mpt3sas", "watchdog", "wdat_wdt", "iTCO_wdt"}
	if len(errs) > 0 {
		t.Errorf("Coldplug errors: %v", errs)
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("Coldplug() (-want +got):\n%s", diff)
	}
	if names, _ := m.Coldplug(); len(names) != 0 {
		t.Errorf("second Coldplug loaded %v; nothing new appeared", names)
	}
	if len(loaded) != len(want) {
		t.Errorf("finit_module calls = %v, want each of %v once", loaded, want)
	}
}

// TestColdplugBound: a driver that makes a new device every time one of
// its kind loads does not hold the boot: Coldplug walks coldplugRounds
// times and returns, and the next call goes on.
func TestColdplugBound(t *testing.T) {
	root, sys := t.TempDir(), t.TempDir()
	var rules string
	for i := range 2 * coldplugRounds {
		p := fmt.Sprintf("lib/modules/6.1/m%d.ko", i)
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), nil, 0o644)
		rules += fmt.Sprintf("test:%d\t%s\n", i, p)
	}
	os.MkdirAll(filepath.Join(root, filepath.Dir(MatchFile)), 0o755)
	os.WriteFile(filepath.Join(root, MatchFile), []byte(rules), 0o644)
	dev := func(i int) {
		d := filepath.Join(sys, "bus/test/devices", fmt.Sprint(i))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "modalias"), []byte(fmt.Sprintf("test:%d\n", i)), 0o644)
	}
	dev(0)
	n := 0
	m := &Modules{Root: root, Sys: sys, Release: "6.1",
		Load:   func(*os.File, string) error { n++; dev(n); return nil },
		Exists: func(error) bool { return false }}
	if names, _ := m.Coldplug(); len(names) != coldplugRounds {
		t.Errorf("Coldplug() loaded %v, want %d modules (one a walk)", names, coldplugRounds)
	}
	if names, _ := m.Coldplug(); len(names) != coldplugRounds {
		t.Errorf("second Coldplug() loaded %v, want the next %d", names, coldplugRounds)
	}
}
