// Package swap plans a warm kernel swap for warmswap: it checks, before
// anything is stopped, everything that could make the swap fail, and
// stages in memory the exact bytes that will be kexec'd.
//
// Two ways to swap:
//
//   - through the bootloader (the default): the warmboot image installed
//     in Request.Bootloader (package installed: a payload, or vmlinuz and
//     an initramfs; an optional cmdline) is loaded with a handoff segment
//     appended to its initramfs saying what to boot (package handoff).
//     The re-entered bootloader applies its own policy, so a running
//     system cannot get around it.
//   - direct: the target is kexec'd at once, verified by warmswap against
//     the keys baked into that same bootloader image.
//
// Either way the target is verified here first, against the trust read
// out of the bootloader image (package installed), so that a target the
// bootloader would refuse stops the swap before any process is stopped.
// Through the bootloader, which reads and hashes the target itself, the
// check reads nothing the running system has already hashed unchanged
// (package sumcache): a swap then reads and hashes the target once.
// The plan is data (Plan); the side effects are in the caller, which
// loads the staged image, commits the plan's trial (Trial.Commit: the
// one-shot next entry for the bootloader, or -direct's boot committed by
// the bootloader's own commit step, package loader), shuts down (package
// shutdown) and kexecs.
package swap

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/coldpath"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/installed"
	"github.com/warmboot/warmboot/boot/inventory"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/nextboot"
	"github.com/warmboot/warmboot/boot/prepare"
	"github.com/warmboot/warmboot/boot/restart"
	"github.com/warmboot/warmboot/boot/running"
	"github.com/warmboot/warmboot/boot/safefs"
	"github.com/warmboot/warmboot/boot/shutdown"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/sumcache"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/boot/verify"
	"github.com/warmboot/warmboot/boot/watchdog"
)

// Defaults for Request's paths.
const (
	TeardownDir = "/etc/warmboot/teardown.d"
	// NeverKexec, when it exists, makes every swap a firmware reboot; its
	// content is the reason, printed.
	NeverKexec = "/etc/warmboot/never-kexec"
	// EventLogFile is where the running system keeps the TPM event log
	// warmboot handed it (an initramfs hook copies /.warmboot/eventlog
	// there before switch_root), to hand it back on the next swap.
	EventLogFile = "/run/warmboot/eventlog"
)

// Request is what the operator asked for.
type Request struct {
	// Entry is an entry id or label; "" with no Kernel means the default.
	Entry string
	// Kernel, Initrds and Cmdline name a kernel directly. CmdlineSet says
	// Cmdline was given (else the running kernel's is reused).
	Kernel     string
	Initrds    []string
	Cmdline    string
	CmdlineSet bool
	// Direct kexecs the target without the bootloader.
	Direct bool
	// NoRecord loads the bootloader with no handoff record: it then boots
	// as from the firmware (menu, countdown, default), only without POST.
	// For "warmswap -load", which prepares the next reboot long before it
	// happens, when the default may have changed.
	NoRecord bool
	// Bootloader is the directory holding the warmboot image
	// (installed.Dir when "").
	Bootloader string
	Teardown   string
	NeverKexec string
	Reason     string
	// Mode is how to restart (warmswap -mode; "" is auto).
	Mode restart.Mode
	// Later says the restart happens later (warmswap -load): never a
	// soft reboot, which restarts nothing that could be loaded.
	Later bool
	// Unprotected lets a trial go when nothing would bring the machine
	// back if it failed (the firmware's loader cannot be made to boot the
	// fallback): warmswap -unprotected.
	Unprotected bool
}

// Mode is how the machine will be restarted.
type Mode string

const (
	ViaBootloader Mode = "bootloader"
	Direct        Mode = "direct"
	// Reboot is a firmware reboot: asked for, or kexec is refused for
	// this machine or the target's kernel.
	Reboot Mode = "reboot"
	// Soft is systemd's soft-reboot: the target boots what runs, so only
	// userspace restarts; nothing is kexec'd.
	Soft Mode = "soft"
)

// Check is one preflight check that passed, for the plan.
type Check struct{ What, Result string }

// Plan is a prepared swap.
type Plan struct {
	Mode Mode
	// Why explains a Reboot or a Soft restart.
	Why string
	// Restart is how the machine restarts and why (package restart).
	Restart restart.Decision
	// Running is the running entry as known (booted.json, or its kernel),
	// nil when it is not; runningHow says how, runningErr why not.
	// targetBoots is the target's state.Boots ("" when its files could
	// not be read). decide finds them once; the trial uses them.
	Running     *state.Ref
	runningHow  running.How
	runningErr  error
	targetBoots string
	Target      entry.Entry
	// TargetCmdline is the command line the target will get.
	TargetCmdline string
	Checks        []Check
	Warnings      []string
	// Image is what will be kexec'd (the bootloader or the target),
	// sealed, with the handoff appended. nil for Reboot.
	Image *kexec.Image
	// Record is the handoff the bootloader gets (ViaBootloader).
	Record   *handoff.Record
	Trust    trust.Trust
	Teardown []string
	// Kernel is the running kernel's kexec policy, as the checks read it;
	// loading the image uses it to explain a refusal.
	Kernel kexec.KernelState
	// Trial is what the swap records so that a target that fails brings
	// the machine back; nil for -load without a target.
	Trial *Trial
	// Firmware is what a cold boot of this machine starts (a reset goes
	// there).
	Firmware coldpath.Path
	// Menu is the running system's boot entries, as the bootloader
	// would rank them.
	Menu choose.Menu
	// Next is, for the bootloader loaded alone (Request.NoRecord), the
	// entry it boots as from the firmware and why: the configs' default
	// as its state changes it (package nextboot). Target is that entry.
	// nil otherwise.
	Next *nextboot.Next
}

// Env is the running system, as paths (tests point them at a temporary
// directory).
type Env struct {
	Root string // "/"
	// Euid is the effective user id.
	Euid int
	// Now and Rand for the handoff record.
	Now  func() time.Time
	Rand io.Reader
	// Hostname and Release name the system in the record.
	Hostname, Release string
	// Sums are the digests this system has taken of kernels and initrds
	// (package sumcache), for checks the bootloader repeats; nil takes
	// them all again.
	Sums *sumcache.Cache
	// Arm arms the watchdog for -direct's trial; nil arms the one under
	// Root (package watchdog).
	Arm func(time.Duration) (watchdog.Armed, error)
	// SoftReboot says systemd 254 or later is PID 1 (systemctl
	// soft-reboot).
	SoftReboot bool
	// Inventory takes the devices' inventory for the device check after
	// a kexec; nil takes Root's (package inventory).
	Inventory func() inventory.Inventory
}

func (e Env) path(p string) string { return filepath.Join(e.Root, p) }

// Error is a refused swap: nothing was stopped.
type Error struct {
	Check string
	Err   error
}

func (e *Error) Error() string { return e.Check + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Preflight runs every check and stages the image, before anything is
// stopped. It changes nothing on the machine: the caller loads
// Plan.Image, commits the trial (Trial.Commit) and shuts down.
func Preflight(env Env, req Request) (*Plan, error) {
	var locked *Trial
	p, err := preflight(env, req, &locked)
	if err != nil {
		locked.release()
	}
	return p, err
}

// Release lets go of the boot state the plan locked (state.Lock) from its
// read to the write before the kexec (Trial.Commit lets go itself): for a
// plan that is not carried out (-dry-run, a refusal after it).
func (p *Plan) Release() {
	if p != nil {
		p.Trial.release()
	}
}

func preflight(env Env, req Request, locked **Trial) (*Plan, error) {
	if req.Bootloader == "" {
		req.Bootloader = installed.Dir
	}
	if req.Teardown == "" {
		req.Teardown = TeardownDir
	}
	if req.NeverKexec == "" {
		req.NeverKexec = NeverKexec
	}
	p := &Plan{Mode: ViaBootloader}
	if req.Direct {
		if req.NoRecord {
			return nil, &Error{Check: "request", Err: errors.New("NoRecord loads the bootloader for a later reboot; -direct has no bootloader")}
		}
		p.Mode = Direct
	}
	check := func(what, result string) { p.Checks = append(p.Checks, Check{what, result}) }
	fail := func(what string, err error) (*Plan, error) { return nil, &Error{Check: what, Err: err} }

	if env.Euid != 0 {
		return fail("privileges", ErrNotRoot)
	}
	check("privileges", "root")
	never := ""
	if why, err := os.ReadFile(env.path(req.NeverKexec)); err == nil {
		never = fmt.Sprintf("%s says this machine must never kexec", req.NeverKexec)
		if reason := strings.TrimSpace(string(why)); reason != "" {
			never += " (" + reason + ")"
		}
	}
	p.Kernel = kexec.ReadKernelState(env.Root)

	// The bootloader image: needed for its trust even with -direct.
	bl, err := installed.Find(env.Root, req.Bootloader)
	if err != nil {
		return fail("bootloader", err)
	}
	contents, img, err := bl.Read(env.Root)
	if err != nil {
		return fail("bootloader", err)
	}
	p.Trust = contents.Trust
	// The image reads the state every swap writes (re-entered, or after a
	// firmware reboot or a reset: -direct's trial, the one-shot entry) and
	// the handoff, and writes the booted.json bless reads.
	if err := contents.Records.Check(img); err != nil {
		return fail("bootloader", err)
	}
	check("bootloader", fmt.Sprintf("%s (%s)", bl, p.Trust))

	// The target.
	runCmdline, _ := os.ReadFile(env.path("proc/cmdline"))
	p.Menu, err = running.HostMenu(env.Root)
	if err == nil {
		switch {
		case req.Kernel != "":
			p.Target, err = handedKernel(env, req, string(runCmdline))
		case req.NoRecord:
			// Nothing asks the bootloader for an entry: it boots what
			// its state makes of the configs' default, and that entry
			// is the one checked.
			if p.Target, err = findEntry(p.Menu, ""); err == nil {
				n, serr := nextboot.Host(env.Root, p.Menu, env.Sums, env.Now())
				if serr != nil {
					p.Warnings = append(p.Warnings, "boot state: "+serr.Error())
				}
				p.Next, p.Target = &n, p.Menu.Entries[n.Entry]
			}
		default:
			p.Target, err = findEntry(p.Menu, req.Entry)
		}
	}
	if err != nil {
		return fail("target", err)
	}
	p.TargetCmdline = p.Target.Cmdline
	check("target", fmt.Sprintf("%q: kernel %s, initrds %v", p.Target.Label, p.Target.At(p.Target.Kernel), p.Target.Initrds))

	// Verification by the bootloader's own pipeline and words: on the
	// bytes that will be booted, staged (direct, and -kernel, whose
	// bytes are handed over); else on the files the bootloader will read
	// and check again, without staging them, and with the digests this
	// system has already taken of them (env.Sums): the swap's one read
	// and hash is then the bootloader's.
	pipe := &prepare.Pipeline{Trust: p.Trust}
	var (
		tc *prepare.Checked
		v  prepare.Verified
	)
	if p.Mode == Direct || req.Kernel != "" {
		if tc, err = pipe.Check(p.Target, p.TargetCmdline, false); err == nil {
			v = tc.Verified
		}
	} else {
		v, err = pipe.Verify(p.Target, p.TargetCmdline, false, env.Sums)
	}
	var refused *prepare.Refused
	switch {
	case errors.As(err, &refused):
		return fail("verification", fmt.Errorf("%q would be refused by the bootloader (policy enforce): %w", p.Target.Label, refused.Err))
	case err != nil:
		return fail("target", err)
	}
	closeStaged := func() {
		if tc != nil {
			tc.Image.Close()
		}
	}
	for _, n := range v.Notes() {
		if n.Warning {
			p.Warnings = append(p.Warnings, n.Msg)
		} else {
			check("verification", n.Msg)
		}
	}
	if p.Trust.Policy == trust.Off {
		check("verification", "policy off: the bootloader boots unsigned kernels")
	}

	// How: soft-reboot, kexec or the firmware (package restart).
	var kernel [32]byte
	if p.Restart, kernel, err = decide(env, req, p, never); err != nil {
		closeStaged()
		return fail("mode", err)
	}
	switch p.Restart.Mode {
	case restart.Soft:
		// Nothing is kexec'd and nothing is tried: the kernel stays.
		closeStaged()
		p.Mode, p.Why = Soft, p.Restart.Why
		return p, nil
	case restart.Firmware:
		p.Mode, p.Why = Reboot, p.Restart.Why
	default:
		if p.Kernel.LoadDisabled {
			closeStaged()
			return fail("kexec", ErrKexecOff)
		}
		check("kexec", "kernel.kexec_load_disabled=0")
		if p.Kernel.Lockdown != "" && p.Kernel.Lockdown != "none" {
			check("lockdown", p.Kernel.Lockdown+": the kernel will check the signature of the image it loads (tried below)")
		}
	}

	if p.Teardown, err = shutdown.Teardown(env.path(req.Teardown)); err != nil {
		closeStaged()
		return fail("teardown", err)
	}
	if len(p.Teardown) > 0 {
		check("teardown", strings.Join(p.Teardown, " "))
	}

	booted, err := handoff.ReadBooted(env.Root)
	if err != nil {
		booted = handoff.Booted{}
	}
	p.Firmware = coldpath.Detect(env.Root, &booted)
	check("firmware", "a cold boot (a reset, a power cycle) starts "+p.Firmware.String())
	planTrial(env, req, p, bl.Cmdline)
	*locked = p.Trial
	if t := p.Trial; t != nil && t.lockErr != nil {
		closeStaged()
		return fail("boot state", fmt.Errorf("%w: try again once it is done", t.lockErr))
	}
	if t := p.Trial; t != nil && t.Guarded && t.Unprotected != nil {
		if !req.Unprotected {
			closeStaged()
			return fail("protection", fmt.Errorf("%w: if %q fails, the reset it takes goes through %s, and nothing there brings the machine back to %s: %v (warmswap -unprotected swaps anyway)", ErrUnprotected, t.Target.ID, p.Firmware, t.Fallback.FallbackName(), t.Unprotected))
		}
		p.Warnings = append(p.Warnings, fmt.Sprintf("-unprotected: if %q fails, nothing brings the machine back to %s by itself: %v", t.Target.ID, t.Fallback.FallbackName(), t.Unprotected))
	}
	switch p.Mode {
	case Reboot:
		closeStaged()
		return p, nil
	case Direct:
		// The boot is decided by the bootloader's rules: its command
		// line, and the record the target is handed.
		d := p.Trial.direct
		tc.Image.Cmdline = d.boot.Cmdline(tc.Image.Cmdline)
		p.TargetCmdline = tc.Image.Cmdline
		d.boot.Kernel = tc.Image.KernelSHA256
		// The target is told who asked for it and what the devices were.
		asked := &handoff.Record{Version: handoff.Version, Entry: p.Target.ID, Reason: req.Reason, Time: env.Now().UTC(),
			From: strings.TrimSpace(env.Hostname + " " + env.Release), Check: devices(env, kernel, p)}
		booted := func() handoff.Booted { return d.boot.Booted(asked, nil) }
		if _, err := pipe.Finish(tc, nil, booted); err != nil {
			return fail("staging", err)
		}
		p.Image = tc.Image
		return p, nil
	}

	// Through the bootloader: the handoff says what to boot.
	r := handoff.Record{Reason: req.Reason, Time: env.Now().UTC(), From: strings.TrimSpace(env.Hostname + " " + env.Release)}
	seed := make([]byte, 32)
	if _, err := io.ReadFull(env.Rand, seed); err == nil {
		r.Seed = hex.EncodeToString(seed)
	}
	files := map[string][]byte{}
	switch {
	case req.NoRecord:
	case req.Kernel != "":
		r.Kernel = &handoff.Kernel{Path: p.Target.Kernel, Initrds: p.Target.Initrds, Cmdline: p.TargetCmdline}
		if err := handKernel(p.Target, tc.Image, files); err != nil {
			closeStaged()
			return fail("staging", err)
		}
	default:
		r.Entry = p.Target.ID
		r.Found = found(env.Root, p)
		if r.Found != nil {
			check("fast path", fmt.Sprintf("the bootloader mounts %d filesystems by UUID (%s) and boots %q from them if its files are still the ones checked here", len(r.Found.Volumes), strings.Join(r.Found.Volumes, ", "), p.Target.ID))
		}
	}
	closeStaged()
	if log, err := os.ReadFile(env.path(EventLogFile)); err == nil {
		files[handoff.EventLog] = log
		check("event log", fmt.Sprintf("%s (%d bytes) handed back, so the bootloader's log still replays", EventLogFile, len(log)))
	}
	if !req.NoRecord {
		r.Check = devices(env, kernel, p)
		data, err := r.Marshal()
		if err == nil && len(data) > handoff.MaxRecord {
			p.Warnings = append(p.Warnings, fmt.Sprintf("no device check after this kexec: the inventory of this machine's devices makes the handoff larger than %d bytes", handoff.MaxRecord))
			r.Check = nil
			data, err = r.Marshal()
		}
		if err == nil && len(data) > handoff.MaxRecord {
			// So many filesystems that where the entry is does not fit:
			// the bootloader looks on every disk.
			r.Found = nil
			data, err = r.Marshal()
		}
		if err != nil {
			return fail("staging", err)
		}
		files[handoff.RecordFile] = data
		p.Record = &r
	}
	// The bootloader is told what the firmware starts, for the booted
	// system's record: started without it, it takes itself for the
	// firmware's choice.
	chain := string(p.Firmware.Loader)
	if chain == "" {
		chain = "unknown"
	}
	cmdline := strings.TrimSpace(bl.Cmdline + " " + consoles(string(runCmdline)) + " " + FirmwareParam + "=" + chain)
	ble := entry.Entry{ID: "warmboot", Label: "warmboot", Kernel: bl.Kernel, Root: env.Root, Source: entry.Source{File: req.Bootloader}}
	if bl.Initrd != "" {
		ble.Initrds = []string{bl.Initrd}
	}
	// The bootloader is the operator's own installed image: staged and
	// sealed with the handoff, not verified (it verifies).
	// Staged from the bytes read for its trust above: the image is read
	// once.
	pb, err := (&prepare.Pipeline{Read: map[string][]byte{img: contents.File}}).Prepare(ble, cmdline, false, files, nil)
	if err != nil {
		return fail("bootloader", err)
	}
	p.Image = pb.Image
	return p, nil
}

// devices is the inventory for the device check after the kexec of the
// kernel whose digest is kernel (package inventory), said in the plan.
func devices(env Env, kernel [32]byte, p *Plan) *handoff.DeviceCheck {
	take := env.Inventory
	if take == nil {
		take = func() inventory.Inventory { return inventory.Take(env.Root) }
	}
	inv := inventory.Worked(take())
	check("devices", fmt.Sprintf("%d PCI functions with a driver, %d links with carrier, %d disks, %d input devices: checked again after the kexec, before the boot is blessed", len(inv.PCI), len(inv.Net), len(inv.Block), len(inv.Input)), p)
	return &handoff.DeviceCheck{Inventory: inv, Kernel: hex.EncodeToString(kernel[:])}
}

// decide is how the machine restarts (package restart): the target's
// and the running entry's contents (state's Boots), whether systemd can
// soft-reboot, never-kexec, and the kexec-unsafe record for the target's
// kernel. It fills in p.Running and returns the decision and the
// target's kernel digest.
func decide(env Env, req Request, p *Plan, never string) (restart.Decision, [32]byte, error) {
	f := restart.Facts{Asked: req.Mode, SoftReboot: env.SoftReboot, NeverKexec: never}
	if f.Asked == "" {
		f.Asked = restart.Auto
	}
	if (req.NoRecord || req.Later) && f.Asked == restart.Soft {
		return restart.Decision{}, [32]byte{}, errors.New("-load loads a kernel for a later reboot: -mode soft restarts nothing it could load")
	}
	k, ins, err := kexec.Digests(p.Target, env.Sums)
	if err == nil {
		f.Target = state.EntryBoots(p.Target, k, ins, p.TargetCmdline)
		p.targetBoots = f.Target
		u, uerr := restart.ReadUnsafe(env.Root)
		if uerr != nil {
			p.Warnings = append(p.Warnings, uerr.Error())
		}
		f.Unsafe = u.Why(hex.EncodeToString(k[:]))
	}
	r, how, err := running.Identify(env.Root, p.Menu, env.Sums)
	p.runningHow, p.runningErr = how, err
	if err == nil {
		p.Running = &r
		f.Running = r.Boots
		// Known by its kernel only (no booted.json), the running entry's
		// contents are its files' now: a file changed since this boot
		// (an initrd rebuilt) is not what runs.
		if how.By != running.ByBooted {
			switch changed := changedSinceBoot(env, p.Target); {
			case !how.Cmdline:
				// Found by its kernel alone: no entry has the running
				// command line (a parameter changed since this boot).
				f.Running = ""
			case changed != "":
				f.Running = ""
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s changed since this boot: the target is not taken for what runs", changed))
			}
		}
	}
	if req.NoRecord || req.Later {
		// -load: a later reboot, whatever the target boots.
		f.Running = ""
	}
	if c, ok := inventory.ReadChecked(env.Root); ok && !c.OK {
		f.DevicesLost = fmt.Sprintf("this boot's device check failed (%s; %s)", strings.Join(c.Lost, "; "), inventory.CheckedFile)
	}
	d, err := restart.Decide(f)
	if err != nil {
		return d, k, err
	}
	check("mode", string(d.Mode)+": "+d.Why, p)
	return d, k, nil
}

func check(what, result string, p *Plan) { p.Checks = append(p.Checks, Check{what, result}) }

// changedSinceBoot names the first of e's files modified since this
// boot began, "" for none (or when that cannot be told).
func changedSinceBoot(env Env, e entry.Entry) string {
	up, err := os.ReadFile(env.path("proc/uptime"))
	if err != nil {
		return ""
	}
	var secs float64
	if _, err := fmt.Sscanf(string(up), "%f", &secs); err != nil {
		return ""
	}
	booted := env.Now().Add(-time.Duration(secs * float64(time.Second)))
	for _, f := range append([]string{e.Kernel}, e.Initrds...) {
		st, err := os.Stat(filepath.Join(e.Root, f))
		if err == nil && st.ModTime().After(booted) {
			return e.At(f)
		}
	}
	return ""
}

// consoles returns the console= parameters of a command line: the
// re-entered bootloader talks where the running system does.
func consoles(cmdline string) string {
	var out []string
	for _, f := range strings.Fields(cmdline) {
		if strings.HasPrefix(f, "console=") || strings.HasPrefix(f, "earlycon") {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// filesystems lists the mounted block-device filesystems, one mount
// point each (the shortest), longest first for path lookups.
func filesystems(env Env) ([]discover.BlockMount, error) {
	out, err := discover.BlockMounts(env.Root)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].Dir) > len(out[j].Dir) })
	return out, nil
}

// FirmwareParam is the bootloader command line parameter that says what
// the firmware starts (coldpath.Loader), for the record of the system it
// boots (handoff.Booted.Firmware).
const FirmwareParam = "warmboot.firmware"

// findEntry finds an entry of m by id or label ("" the default).
func findEntry(m choose.Menu, id string) (entry.Entry, error) {
	if len(m.Entries) == 0 {
		return entry.Entry{}, fmt.Errorf("%w: no boot entries on the mounted filesystems (looked for %s)", ErrNoEntry, strings.Join(discover.Looked(), ", "))
	}
	i := m.Default
	if id != "" {
		var err error
		if i, err = m.Select(id); err != nil {
			return entry.Entry{}, err
		}
	}
	return m.Entries[i], nil
}

// handedKernel makes an entry of -kernel/-initrd/-cmdline, with paths
// relative to the filesystem holding the kernel (as manifests name them).
func handedKernel(env Env, req Request, running string) (entry.Entry, error) {
	fss, err := filesystems(env)
	if err != nil {
		return entry.Entry{}, err
	}
	abs := func(p string) string {
		if !filepath.IsAbs(p) {
			if wd, err := os.Getwd(); err == nil {
				p = filepath.Join(wd, p)
			}
		}
		return filepath.Clean(p)
	}
	k := abs(req.Kernel)
	var fsRoot, dev string
	for _, f := range fss {
		if f.Dir == "/" || k == f.Dir || strings.HasPrefix(k, f.Dir+"/") {
			fsRoot, dev = f.Dir, f.Device
			break
		}
	}
	if fsRoot == "" {
		return entry.Entry{}, fmt.Errorf("%s is on no mounted block-device filesystem", k)
	}
	rel := func(p string) (string, error) {
		if fsRoot == "/" {
			return p, nil
		}
		if !strings.HasPrefix(p, fsRoot+"/") {
			return "", fmt.Errorf("%s is not on the filesystem of the kernel (%s): the manifest that signs them both is found on one filesystem", p, fsRoot)
		}
		return strings.TrimPrefix(p, fsRoot), nil
	}
	kernel, err := rel(k)
	if err != nil {
		return entry.Entry{}, err
	}
	var initrds []string
	for _, i := range req.Initrds {
		r, err := rel(abs(i))
		if err != nil {
			return entry.Entry{}, err
		}
		initrds = append(initrds, r)
	}
	cmdline := req.Cmdline
	if !req.CmdlineSet {
		cmdline = reuse(running)
	}
	e := entry.NewExplicit("kernel", "kernel "+k, env.path(fsRoot), entry.Source{Device: dev, File: "(warmswap -kernel)"}, kernel, initrds, cmdline)
	// A unified kernel image boots its own command line unless
	// -cmdline says otherwise.
	return bls.Explicit(e, req.CmdlineSet)
}

// reuse is the running kernel's command line without what a boot loader
// adds for one boot.
func reuse(cmdline string) string {
	var out []string
	for _, f := range strings.Fields(cmdline) {
		if strings.HasPrefix(f, "BOOT_IMAGE=") || strings.HasPrefix(f, "initrd=") || strings.HasPrefix(f, "warmboot.") {
			continue
		}
		out = append(out, f)
	}
	return strings.Join(out, " ")
}

// handKernel puts a -kernel target's staged bytes and its filesystem's
// manifests into the handoff files, under handoff.KernelRoot.
func handKernel(e entry.Entry, im *kexec.Image, files map[string][]byte) error {
	kb := make([]byte, im.KernelSize)
	if _, err := im.Kernel.ReadAt(kb, 0); err != nil {
		return fmt.Errorf("reading the staged kernel: %w", err)
	}
	files[handoff.KernelRoot+e.Kernel] = kb
	for i, part := range im.InitrdParts {
		b := make([]byte, part.Size)
		if _, err := im.Initrd.ReadAt(b, part.Offset); err != nil {
			return fmt.Errorf("reading the staged initrd: %w", err)
		}
		files[handoff.KernelRoot+e.Initrds[i]] = b
	}
	fsys := safefs.Dir(e.Root)
	for _, d := range verify.Dirs {
		names, _ := fs.Glob(fsys, path.Join(d, "*.manifest*"))
		for _, n := range names {
			b, err := fs.ReadFile(fsys, n)
			if err != nil {
				return err
			}
			files[handoff.KernelRoot+"/"+n] = b
		}
	}
	return nil
}
