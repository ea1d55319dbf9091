package bless

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/inventory"
	"github.com/warmboot/warmboot/boot/metrics"
	"github.com/warmboot/warmboot/boot/restart"
	"github.com/warmboot/warmboot/boot/state"
)

var nic = inventory.Link{Name: "enp0s3", MAC: "52:54:00:12:34:56", Driver: "virtio_net", Carrier: true}

// kexecd is a system a warm swap kexec'd into entry "new": its booted
// record carries the devices before the kexec (a NIC with carrier), the
// boot state holds the trial with "old" as its fallback, and warmswap
// counted the restart it started.
func kexecd(t *testing.T) (root string, began time.Time) {
	root = t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/self/mountinfo", "22 1 8:1 / / rw,relatime - ext4 /dev/vda1 rw\n90 22 0:5 / /proc rw - proc proc rw\n")
	write("proc/sys/kernel/osrelease", "6.12.57+deb13-amd64\n")
	write("proc/uptime", "20.00 30.00\n")
	began = time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	b := handoff.Booted{Entry: "new", Boots: strings.Repeat("n", 64), Kernel: strings.Repeat("ab", 32), By: "warmboot",
		Handoff: &handoff.Record{Version: 1, Entry: "new", Time: began.Add(2 * time.Second),
			Check: &handoff.DeviceCheck{Inventory: inventory.Inventory{Version: 1, Net: []inventory.Link{nic}}, Kernel: strings.Repeat("ab", 32)}},
		Timeline: []byte(`{"phases":[{"name":"discover","ms":500},{"name":"load","ms":1500}]}`)}
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	write("run/warmboot/booted.json", string(data))
	old := &state.Ref{ID: "old", Boots: strings.Repeat("o", 64)}
	trial := &state.Attempt{Entry: state.Ref{ID: "new", Boots: b.Boots}, At: began.Add(5 * time.Second), By: "warmboot", Fallback: old}
	r, _ := os.OpenRoot(root)
	defer r.Close()
	if err := state.Save(r, strings.TrimPrefix(state.HostFile(root), "/"), state.State{LastGood: old, Trial: trial, LastAttempt: trial}); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.Update(root, func(c *metrics.Counts) { c.Started("kexec", began, began.Add(3*time.Second)) }); err != nil {
		t.Fatal(err)
	}
	return root, began
}

func readState(t *testing.T, root string) state.State {
	t.Helper()
	st, err := state.Read(os.DirFS(root), strings.TrimPrefix(state.HostFile(root), "/"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The NIC did not come back after the kexec: the boot is not blessed
// (the trial stays, last-known-good is still "old"), the kernel is
// recorded kexec-unsafe with the device, the failure is counted once,
// and a second bless says the same without counting again.
func TestBlessDeviceLost(t *testing.T) {
	root, began := kexecd(t)
	now := began.Add(40 * time.Second)
	takes := 0
	o := Options{Now: func() time.Time { return now }, Devices: Devices{
		Take:  func() inventory.Inventory { takes++; return inventory.Inventory{Version: 1} },
		Sleep: func(d time.Duration) { now = now.Add(d) },
	}}
	var said bytes.Buffer
	err := Bless(root, clog.New(&said, "bless"), o)
	var lost *DeviceLostError
	if !errors.As(err, &lost) || lost.Recorded != nil || len(lost.Lost) != 1 || !strings.Contains(lost.Lost[0], "net/enp0s3: link enp0s3 (52:54:00:12:34:56) is gone") {
		t.Fatalf("Bless = %v; want the NIC lost", err)
	}
	for _, w := range []string{`after the kexec into "new"`, "not blessed", restart.UnsafeFile, "warmswap -mode firmware -unprotected -entry new"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if takes != 31 {
		t.Errorf("took the inventory %d times; want once a second for the default 30s wait, then once more", takes)
	}
	if st := readState(t, root); st.LastGood == nil || st.LastGood.ID != "old" || st.Trial == nil {
		t.Errorf("state after a device loss = %+v; want the trial still open, old last-known-good", st)
	}
	u, err := restart.ReadUnsafe(root)
	if err != nil {
		t.Fatal(err)
	}
	if w := u.Why(strings.Repeat("ab", 32)); !strings.Contains(w, "6.12.57+deb13-amd64") || !strings.Contains(w, "net/enp0s3") {
		t.Errorf("unsafe record = %+v (%q)", u, w)
	}
	c, _ := metrics.Load(root)
	if c.DeviceChecks != 1 {
		t.Errorf("device check failures = %d; want 1", c.DeviceChecks)
	}
	err = Bless(root, clog.New(&said, "bless"), o)
	if !errors.As(err, &lost) || takes != 32 {
		t.Errorf("second Bless = %v after %d takes; want the same loss, looked at once more", err, takes)
	}
	if c, _ := metrics.Load(root); c.DeviceChecks != 1 {
		t.Errorf("device check failures = %d after a second bless; want 1", c.DeviceChecks)
	}
	// The operator brings the NIC back by hand: bless looks again, at
	// once, and blesses; the kernel stays recorded (its kexec lost it).
	o.Devices.Take = func() inventory.Inventory {
		takes++
		return inventory.Inventory{Version: 1, Net: []inventory.Link{nic}}
	}
	if err := Bless(root, clog.New(&said, "bless"), o); err != nil {
		t.Fatalf("Bless with the NIC back = %v", err)
	}
	if st := readState(t, root); st.LastGood == nil || st.LastGood.ID != "new" {
		t.Errorf("state = %+v; want new blessed", st)
	}
	if u, _ := restart.ReadUnsafe(root); len(u.Kernels) != 1 {
		t.Errorf("the record after the NIC came back by hand: %+v", u)
	}
}

// The NIC came back (its carrier after 3 s): blessed; the metrics count
// the trial and say the last swap's phases.
func TestBlessDevicesBack(t *testing.T) {
	root, began := kexecd(t)
	now := began.Add(40 * time.Second)
	takes := 0
	o := Options{Now: func() time.Time { return now }, Devices: Devices{
		Take: func() inventory.Inventory {
			takes++
			l := nic
			l.Carrier = takes > 3
			return inventory.Inventory{Version: 1, Net: []inventory.Link{l}}
		},
		Sleep: func(d time.Duration) { now = now.Add(d) },
	}}
	var said bytes.Buffer
	if err := Bless(root, clog.New(&said, "bless"), o); err != nil {
		t.Fatalf("Bless = %v; said %s", err, said.String())
	}
	if !strings.Contains(said.String(), "device check: every device that worked before the kexec works") {
		t.Errorf("Bless said %s", said.String())
	}
	if st := readState(t, root); st.LastGood == nil || st.LastGood.ID != "new" || st.Trial != nil {
		t.Errorf("state = %+v; want new blessed", st)
	}
	c, _ := metrics.Load(root)
	if c.Trials != 1 || c.Fallbacks != 0 || c.DeviceChecks != 0 || c.Pending != nil || c.Entry != "new" || c.Kernel != "6.12.57+deb13-amd64" {
		t.Errorf("counts = %+v", c)
	}
	// Stopping at began+3s, the kernel up at now-20s, blessed at now
	// (began+43s): checks 3s, stop_to_kernel 20s, kernel_to_bless 20s.
	want := map[string]float64{"checks": 3, "stop_to_kernel": 20, "kernel_to_bless": 20, "total": 40, "bootloader": 2}
	for k, v := range want {
		if c.LastSwap[k] != v {
			t.Errorf("last swap %s = %v; want %v (all: %v)", k, c.LastSwap[k], v, c.LastSwap)
		}
	}
	if _, err := os.Stat(filepath.Join(root, restart.UnsafeFile)); err == nil {
		t.Errorf("a kernel whose devices came back was recorded unsafe")
	}
}

// check off: no device check; a boot with no inventory handed over (a
// firmware boot) is blessed without one.
func TestBlessDeviceCheckOff(t *testing.T) {
	root, began := kexecd(t)
	os.MkdirAll(filepath.Join(root, "etc/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, inventory.RulesFile), []byte("check off\n"), 0o644)
	o := Options{Now: func() time.Time { return began.Add(time.Minute) }, Devices: Devices{
		Take: func() inventory.Inventory { t.Fatal("inventory taken with check off"); return inventory.Inventory{} },
	}}
	var said bytes.Buffer
	if err := Bless(root, clog.New(&said, "bless"), o); err != nil || !strings.Contains(said.String(), "device check: off") {
		t.Errorf("Bless = %v; said %s", err, said.String())
	}
}

// The trial failed and the firmware's loader booted the fallback: bless
// records the failure and counts a fallback (and the trial), once.
func TestBlessCountsFallback(t *testing.T) {
	root, began := kexecd(t)
	b := handoff.Booted{Entry: "old", Boots: strings.Repeat("o", 64), By: "warmboot"}
	data, _ := b.Marshal()
	os.WriteFile(filepath.Join(root, "run/warmboot/booted.json"), data, 0o644)
	o := Options{Now: func() time.Time { return began.Add(time.Minute) }}
	var said bytes.Buffer
	for range 2 {
		if err := Bless(root, clog.New(&said, "bless"), o); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(said.String(), "failed") {
		t.Errorf("bless said %s; want the trial's failure", said.String())
	}
	if c, _ := metrics.Load(root); c.Fallbacks != 1 || c.Trials != 1 || c.Entry != "old" {
		t.Errorf("counts = %+v; want one trial, one fallback", c)
	}
}
