package loader

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/console"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/measure"
	"github.com/warmboot/warmboot/boot/modload"
	"github.com/warmboot/warmboot/boot/netboot"
	"github.com/warmboot/warmboot/boot/netboot/fetch"
	"github.com/warmboot/warmboot/boot/timeline"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/boot/watchdog"
)

// Open is the bootloader on this machine: its consoles, disks, trust and
// TPM. It loads the modules, reads the trust and the handoff. The consoles
// are returned for main's shell.
func Open(cfg Config, stdout io.Writer) (*Loader, *console.Set) {
	cons := console.Open("/", stdout)
	log := clog.New(cons, "warmboot")
	l := &Loader{cfg: cfg, out: cons, log: log, keys: cons.Keys, tl: timeline.New(), mounts: mounted{}}
	l.say("starting")
	mods := l.loadModules()
	l.disks = RealDisks(log, mods.coldplug, mods.need)
	l.commit = Committer{Config: cfg.Trial, By: "warmboot", Now: time.Now, Files: l.write, Writable: l.writable, Chain: cfg.Firmware, Log: log,
		Arm: func(d time.Duration) (watchdog.Armed, error) { return watchdog.Arm("/", d) }}
	l.disarm = func() error { return watchdog.Disarm("/") }
	l.setupTrust()
	l.setupNetwork()
	l.readHandoff()
	return l, cons
}

// modules loads drivers for the hardware found and groups on demand.
type modules struct {
	l      *Loader
	mods   *modload.Modules
	needed map[string]bool
}

func (l *Loader) loadModules() *modules {
	end := l.tl.Begin("modules")
	defer end()
	m := &modules{l: l, needed: map[string]bool{}}
	var err error
	if m.mods, err = modload.System(); err != nil {
		l.say("loading modules: %v", err)
		return m
	}
	r, err := m.mods.LoadList(modload.ListFile)
	if err != nil {
		l.say("loading modules: %v", err)
	}
	for _, err := range r.Errors {
		l.warn("%v", err)
	}
	if len(r.Absent) > 0 {
		l.log.Debug("modules not for this machine (their init said ENODEV)", "modules", strings.Join(r.Absent, ", "))
	}
	hw, errs := m.mods.Coldplug()
	for _, err := range errs {
		l.warn("%v", err)
	}
	switch {
	case len(hw) > 0:
		l.say("loaded %d kernel modules (for the hardware found: %s)", r.Loaded+len(hw), strings.Join(hw, ", "))
	case r.Loaded+r.Present > 0:
		l.say("loaded %d kernel modules", r.Loaded)
	}
	return m
}

// coldplug loads the drivers of devices that appeared since the last call
// (the disks behind a controller just loaded, USB devices on a hub).
func (m *modules) coldplug() {
	if m.mods == nil {
		return
	}
	names, errs := m.mods.Coldplug()
	for _, err := range errs {
		m.l.warn("%v", err)
	}
	if len(names) > 0 {
		m.l.say("loaded %s for the devices found", strings.Join(names, ", "))
	}
}

// need loads an on-demand module group (a filesystem's driver, md, dm)
// the first time something needs it.
func (m *modules) need(group string) {
	if m.mods == nil || m.needed[group] {
		return
	}
	m.needed[group] = true
	names, errs := m.mods.LoadGroup(group)
	for _, err := range errs {
		m.l.warn("%v", err)
	}
	if len(names) > 0 {
		m.l.say("loaded %s for %s", strings.Join(names, ", "), group)
	}
}

// setupTrust reads the image's trust, the kernel's kexec policy, and
// opens the TPM: the pipeline every entry goes through.
func (l *Loader) setupTrust() {
	p := &l.pipe
	p.Log, p.Timeline = l.log, l.tl
	p.Trust, p.TrustErr = trust.Load(os.DirFS("/"), trust.Dir)
	if p.TrustErr != nil {
		l.say("trust: %v", p.TrustErr)
		l.say("trust: refusing every entry until the image is rebuilt")
	} else {
		l.say("%s", p.Trust)
	}
	if err := kexec.MountSecurityFS("/"); err != nil {
		l.log.Warn("mounting securityfs", "err", err)
	}
	k := kexec.ReadKernelState("/")
	if k.Lockdown != "" && k.Lockdown != "none" {
		l.say("kernel lockdown (%s): the kernel kexecs only kernels it can verify the signature of", k.Lockdown)
	}
	p.Loader = kexec.Loader{Sys: kexec.Real{}, Log: l.log, Kernel: k}
	// The TPM device stays open until kexec.
	m, _, err := measure.Open("/")
	switch {
	case errors.Is(err, measure.ErrNoTPM):
		l.say("no TPM: not measuring")
	case err != nil:
		l.say("TPM: %v; not measuring", err)
	default:
		p.Measurer = m
		l.say("TPM: measuring into PCRs %d and %d (banks %v)", measure.PCRCmdline, measure.PCRFiles, m.Banks())
		// Re-entered from a running system (no TPM reset since): continue
		// the log it handed over, so the log handed on still replays.
		if prev, err := os.ReadFile(handoff.EventLog); err == nil {
			if err := m.Continue(prev); err != nil {
				l.say("TPM: ignoring the event log handed over (%v); the log handed on covers only this boot", err)
			} else {
				l.say("TPM: continuing the event log handed over")
			}
		}
	}
}

// readHandoff reads the request a running system left for the
// bootloader it re-enters (warmswap). A bad one is ignored, with a
// message: a handoff can only choose an entry, never make a boot fail.
func (l *Loader) readHandoff() {
	r, err := handoff.ReadRecord(os.DirFS("/"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		l.say("ignoring the handoff: %v", err)
		return
	}
	l.handoff = &r
	l.say("handoff from %q at %s (%s): boot %s", r.From, r.Time.UTC().Format(time.RFC3339), r.Reason, r.Wants())
	if seed := r.SeedBytes(); seed != nil {
		// Mixed into the pool, not credited: the running system's word
		// is not entropy we can vouch for.
		if err := os.WriteFile("/dev/urandom", seed, 0); err != nil {
			l.log.Warn("writing the handoff seed", "err", err)
		}
	}
}

// setupNetwork makes the fetcher network entries are staged and checked
// with (HTTPS against the image's certificate authorities) and the
// network discovery beside the disks'.
func (l *Loader) setupNetwork() {
	if l.cfg.Net == NetOff {
		l.say("network: off (warmboot.net=off)")
		return
	}
	f := &fetch.Client{NotBefore: netboot.Released, UserAgent: "warmboot"}
	pool, subjects, err := netboot.LoadCAs(os.DirFS("/"))
	switch {
	case err != nil:
		l.say("network: HTTPS refused: the image's certificate authorities are broken: %v", err)
	case pool != nil:
		f.RootCAs = pool
		l.say("network: HTTPS servers checked against %s", strings.Join(subjects, "; "))
	}
	wait := l.cfg.NetWait
	if wait <= 0 {
		wait = DefaultNetWait
	}
	l.pipe.Fetch = f
	l.network = RealNetwork(f, wait, l.tl)
}
