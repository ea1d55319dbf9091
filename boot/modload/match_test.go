package modload

import (
	"errors"
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
