package vmtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warmboot/warmboot/images/disk"
)

// TestTrixie is how a restart is chosen, checked and counted (issue 24),
// on a stock Debian 13 system (images/debian/mkdebian.sh trixie: systemd
// 257, its 6.12 kernel, update-grub's grub.cfg) with a virtio NIC, booted
// through the "firmware" (QEMU starting the kernel as GRUB would), the
// package installed, node_exporter's textfile directory present:
//
//	a. warmswap -mode auto to the configs' default, whose initrd the
//	   package rebuilt: a kexec through warmboot; the device check
//	   before bless passes; the metrics count a kexec and its phases;
//	b. warmswap to the running entry: a soft reboot (same boot ID, same
//	   kernel, userspace restarted; a service's file in the fd store,
//	   FileDescriptorStorePreserve=yes, comes back);
//	c. a trial whose kernel cannot find its root: it panics, the
//	   firmware boots the fallback, bless counts the fallback;
//	d. a kernel parameter added (update-grub): a kexec again, into a
//	   boot where the NIC's driver does not come back: the device check
//	   fails, the boot is not blessed, the kernel is recorded
//	   kexec-unsafe, and the machine restarts through the firmware into
//	   the same entry, where the NIC is back and the boot is blessed;
//	e. a swap to that kernel now goes through the firmware (-dry-run
//	   says why), -mode kexec is refused with exit 1; warmboot list -json
//	   shows the record; -clear-unsafe forgets it.
//
// After each step the Prometheus textfile parses with Prometheus's own
// parser and says what happened. At the end, after poweroff, e2fsck
// finds the root clean.
func TestTrixie(t *testing.T) {
	parallel(t)
	// The image on Debian's kernel as the bootloader (README's form for
	// a driver the payload lacks); TestDebian re-enters the payload.
	o := &sysOptions{image: true, nic: "user,model=virtio-net-pci,restrict=on", files: map[string]disk.File{
		"/wbtest-fdstore":          {Src: "testdata/trixie/wbtest-fdstore"},
		"/wbtest-fdstore.service":  {Src: "testdata/trixie/wbtest-fdstore.service"},
		"/wbtest-breaknic.service": {Src: "testdata/trixie/wbtest-breaknic.service"},
	}}
	sys := installedOn(t, os.Getenv("WARMBOOT_TRIXIE"), false, o)
	d, uuid, rel := sys.d, sys.uuid, sys.oldRel
	simple := "gnulinux-simple-" + uuid
	if v := d.ok("systemctl --version | head -n 1"); !strings.HasPrefix(v, "systemd 25") && !strings.HasPrefix(v, "systemd 26") {
		t.Fatalf("not systemd 254 or later: %s", v)
	}
	d.ok("warmsign sign -key /root/host.sec -root / -all >/dev/null")
	d.ok("mkdir -p /var/lib/prometheus/node-exporter")
	d.ok("install -m755 /mnt/wbtest-fdstore /usr/local/bin/ && install -m644 /mnt/wbtest-fdstore.service /mnt/wbtest-breaknic.service /etc/systemd/system/ && systemctl daemon-reload")
	// The rules file as an operator writes one (the default wait, 30 s).
	d.ok("printf '# devices that come and go\\nignore net/wl*\\n' > /etc/warmboot/device-check")

	// a. The package's trigger rebuilt the initrd since this boot: what
	// runs is not the default's initrd, so it is a kexec.
	out := d.ok("warmswap -dry-run")
	for _, w := range []string{"initrd.img-" + rel + " changed since this boot", "check ok: mode: kexec: the target boots another kernel, initrd or command line", "check ok: devices: "} {
		if !strings.Contains(out, w) {
			t.Errorf("warmswap -dry-run does not say %q:\n%s", w, out)
		}
	}
	d.ok("echo written-before-a > /root/unsynced-a")
	d.send("warmswap")
	d.expect("handing over to systemctl kexec", "warmboot: starting")
	d.up(true)
	d.checkBoot("/root/unsynced-a", "written-before-a", simple, "warmswap")
	bless := d.ok("journalctl -b -u warmboot-bless -o cat")
	if !strings.Contains(bless, "device check: every device that worked before the kexec works") || !strings.Contains(bless, "is last-known-good") {
		t.Errorf("warmboot-bless after the kexec:\n%s", bless)
	}
	m := promFile(t, d)
	m.want(t, "a kexec", map[string]float64{`warmboot_restarts_total{path="kexec"}`: 1, `warmboot_restarts_total{path="soft"}`: 0, `warmboot_device_check_failures_total`: 0})
	for _, p := range []string{"checks", "stop_to_kernel", "bootloader", "kernel_to_bless", "total"} {
		if v, ok := m[`warmboot_last_swap_seconds{phase="`+p+`"}`]; !ok || v <= 0 {
			t.Errorf("after a kexec, the last swap's %s phase is %v (present %v)", p, v, ok)
		}
	}
	if _, ok := m[`warmboot_running_info{entry="`+simple+`",kernel="`+rel+`"}`]; !ok {
		t.Errorf("no warmboot_running_info for %s, %s: %v", simple, rel, m)
	}

	// b. The same entry again: a soft reboot.
	d.ok("systemctl enable --now wbtest-fdstore.service")
	bootID := strings.TrimSpace(d.ok("cat /proc/sys/kernel/random/boot_id"))
	journald := strings.TrimSpace(d.ok("systemctl show -P MainPID systemd-journald"))
	out = d.ok("warmswap -dry-run")
	if !strings.Contains(out, "check ok: mode: soft: the target boots the running kernel, initrds and command line") || strings.Contains(out, "check ok: devices") {
		t.Errorf("warmswap -dry-run to the running entry:\n%s", out)
	}
	d.send("warmswap")
	// The new userspace's login, then its prompt (the old shell's is
	// still on the console).
	d.expect("handing over to systemctl soft-reboot", "(automatic login)")
	d.up(true)
	if got := strings.TrimSpace(d.ok("cat /proc/sys/kernel/random/boot_id")); got != bootID {
		t.Errorf("boot ID %s after the soft reboot, was %s: the kernel restarted", got, bootID)
	}
	if got := strings.TrimSpace(d.ok("systemctl show -P MainPID systemd-journald")); got == journald {
		t.Errorf("journald is still PID %s: userspace did not restart", got)
	}
	if got := strings.TrimSpace(d.ok("systemctl show -P SoftRebootsCount")); got != "1" {
		t.Errorf("SoftRebootsCount = %q, want 1", got)
	}
	if put, got := d.ok("cat /run/wbtest-fdstore-put"), d.ok("cat /run/wbtest-fdstore-got"); !strings.HasPrefix(put, "kept-") || put != got {
		t.Errorf("the fd store gave back %q, want %q", got, put)
	}
	promFile(t, d).want(t, "a soft reboot", map[string]float64{`warmboot_restarts_total{path="kexec"}`: 1, `warmboot_restarts_total{path="soft"}`: 1,
		`warmboot_last_swap_seconds{phase="checks"}`: -1, `warmboot_last_swap_seconds{phase="total"}`: -1})

	// c. A trial that cannot find its root: it panics (the trial's
	// panic=N), the machine resets, and the firmware boots the fallback.
	bad := "menuentry \"wbtest: no root\" --id wbtest-bad {\n\tlinux /boot/vmlinuz-" + rel + " root=UUID=00000000-0000-4000-8000-000000000000 ro console=ttyS0\n\tinitrd /boot/initrd.img-" + rel + "\n}\n"
	d.ok("printf '%s' '" + bad + "' >> /etc/grub.d/40_custom && update-grub 2>/dev/null && warmsign sign -key /root/host.sec -root / -all >/dev/null")
	d.send("warmswap -entry wbtest-bad")
	d.expect(`warmswap: plan: trial: "wbtest-bad"`, "warmboot: starting")
	if err := d.vm.Wait(); err != nil {
		t.Fatalf("the trial that cannot find its root did not end in a reset (QEMU -no-reboot): %v", err)
	}
	d = sys.fw()
	d.up(false)
	if out := d.ok("journalctl -b -u warmboot-bless -o cat"); !strings.Contains(out, `the trial of "wbtest-bad"`) || !strings.Contains(out, "failed") {
		t.Errorf("bless after the fallback:\n%s", out)
	}
	promFile(t, d).want(t, "a fallback", map[string]float64{`warmboot_fallbacks_total`: 1, `warmboot_restarts_total{path="kexec"}`: 2})

	// d. A kernel parameter added: another command line, a kexec; the NIC
	// does not survive it.
	d.ok("mount -o ro /dev/vdb1 /mnt")
	d.ok("sed -i 's/^GRUB_CMDLINE_LINUX_DEFAULT=.*/GRUB_CMDLINE_LINUX_DEFAULT=\"quiet wbtest=1\"/' /etc/default/grub && update-grub 2>/dev/null && warmsign sign -key /root/host.sec -root / -all >/dev/null")
	d.ok("systemctl enable wbtest-breaknic.service")
	nics := d.ok("ls /sys/bus/pci/drivers/virtio-pci/ | grep -c '^0000:'")
	out = d.ok("warmswap -dry-run -unprotected")
	if !strings.Contains(out, "check ok: mode: kexec: the target boots another kernel, initrd or command line") {
		t.Errorf("warmswap -dry-run after the command line changed:\n%s", out)
	}
	d.send("warmswap -unprotected")
	d.expect("handing over to systemctl kexec", "warmboot: starting")
	if err := d.vm.Wait(); err != nil {
		t.Fatalf("the boot whose NIC did not come back did not restart through the firmware (QEMU -no-reboot): %v", err)
	}
	// The firmware boots the same entry (GRUB's next_entry; here QEMU
	// with that entry's command line).
	o.cmdline = " wbtest=1"
	d = sys.fw()
	d.up(false)
	if got := d.ok("ls /sys/bus/pci/drivers/virtio-pci/ | grep -c '^0000:'"); got != nics {
		t.Errorf("virtio-pci drives %s functions after the firmware restart, %s before", got, nics)
	}
	prev := d.ok("journalctl -b -1 -u warmboot-bless -o cat")
	for _, w := range []string{`device check failed after the kexec into "` + simple + `"`, "has no driver; virtio-pci drove it before", "restarting through the firmware into"} {
		if !strings.Contains(prev, w) {
			t.Errorf("warmboot-bless on the boot that lost the NIC does not say %q:\n%s", w, prev)
		}
	}
	// (Found by its kernel and command line: GRUB's simple entry, or its
	// advanced twin, which boots the same.)
	if out := d.ok("journalctl -b -u warmboot-bless -o cat"); !strings.Contains(out, "succeeded") || !strings.Contains(out, "is last-known-good") || strings.Contains(out, "failed:") {
		t.Errorf("the firmware boot of the same entry was not blessed as the trial that came up:\n%s", out)
	}
	promFile(t, d).want(t, "a device-check failure", map[string]float64{`warmboot_device_check_failures_total`: 1,
		`warmboot_restarts_total{path="firmware"}`: 1, `warmboot_restarts_total{path="kexec"}`: 3, `warmboot_restarts_total{path="soft"}`: 1, `warmboot_fallbacks_total`: 1})
	var list struct {
		KexecUnsafe struct {
			Kernels []struct {
				Release string   `json:"release"`
				Devices []string `json:"devices"`
			} `json:"kernels"`
		} `json:"kexec_unsafe"`
	}
	if err := json.Unmarshal([]byte(d.ok("warmboot list -json 2>/dev/null")), &list); err != nil {
		t.Fatalf("warmboot list -json: %v", err)
	}
	if k := list.KexecUnsafe.Kernels; len(k) != 1 || k[0].Release != rel || len(k[0].Devices) == 0 {
		t.Errorf("list -json kexec_unsafe = %+v; want %s", list.KexecUnsafe, rel)
	}

	// e. Later swaps to that kernel go through the firmware; -mode kexec
	// is refused, exit 1, nothing stopped.
	recovery := "gnulinux-" + rel + "-recovery-" + uuid
	out = d.ok("warmswap -dry-run -entry " + recovery)
	if !strings.Contains(out, "check ok: mode: firmware: kernel "+rel) || !strings.Contains(out, "through the firmware instead of kexec") {
		t.Errorf("warmswap -dry-run to the kexec-unsafe kernel:\n%s", out)
	}
	out, code := d.run("warmswap -mode kexec -entry " + recovery + " 2>&1")
	if code != 1 || !strings.Contains(out, "warmswap: refused: mode: -mode kexec refused: kernel "+rel) || !strings.Contains(out, "nothing was stopped") {
		t.Errorf("warmswap -mode kexec to the kexec-unsafe kernel: exit %d:\n%s", code, out)
	}
	d.ok("warmswap -clear-unsafe")
	if out := d.ok("warmswap -dry-run -entry " + recovery); !strings.Contains(out, "check ok: mode: kexec") {
		t.Errorf("after -clear-unsafe:\n%s", out)
	}
	d.send("systemctl poweroff")
	if err := d.vm.Wait(); err != nil {
		t.Errorf("poweroff: %v", err)
	}
	checkCleanQcow(t, sys)
}

// prom is a Prometheus textfile's samples, by name{labels} as the file
// writes them.
type prom map[string]float64

// promFile reads warmboot's textfile from node_exporter's directory and
// parses it with Prometheus's own parser.
func promFile(t *testing.T, d *debVM) prom {
	t.Helper()
	text := d.ok("cat /var/lib/prometheus/node-exporter/warmboot.prom")
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus's parser: %v:\n%s", err, text)
	}
	out := prom{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+`"`+l.GetValue()+`"`)
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			}
		}
	}
	return out
}

// want checks samples after what; -1 wants the sample present, above 0.
func (p prom) want(t *testing.T, what string, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		got, ok := p[k]
		switch {
		case !ok:
			t.Errorf("after %s, the textfile has no %s: %v", what, k, p)
		case v == -1 && got <= 0, v != -1 && got != v:
			t.Errorf("after %s, %s = %v, want %v", what, k, got, v)
		}
	}
}

// checkCleanQcow checks the system's root filesystem is clean.
func checkCleanQcow(t *testing.T, sys *debSystem) {
	t.Helper()
	raw := filepath.Join(sys.dir, "root.raw")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", sys.root, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	checkClean(t, raw+"?offset=1048576")
}
