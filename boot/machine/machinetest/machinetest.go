// Package machinetest is a recording fake of machine.Machine.
package machinetest

import (
	"os"
	"sync"
)

// Recorder records the calls made on it and fails them as told. Its
// Loaded state follows Unload; set IsLoaded for what a load did.
type Recorder struct {
	mu sync.Mutex
	// Calls are "kexec", "reboot", "unload" and (through Loads) the loads
	// with their command lines, in order.
	Calls []string
	// KexecErr and RebootErr are what those calls return.
	KexecErr, RebootErr error
	IsLoaded            bool
}

func (r *Recorder) record(c string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Calls = append(r.Calls, c)
}

// Kexec implements machine.Machine.
func (r *Recorder) Kexec() error { r.record("kexec"); return r.KexecErr }

// Reboot implements machine.Machine.
func (r *Recorder) Reboot() error { r.record("reboot"); return r.RebootErr }

// Unload implements machine.Machine.
func (r *Recorder) Unload() error {
	r.record("unload")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.IsLoaded = false
	return nil
}

// Loaded implements machine.Machine.
func (r *Recorder) Loaded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.IsLoaded
}

// Loads records kexec_file_load and kexec_load calls (kexec.Syscalls),
// failing them as FileLoadErr and LoadErr say for a command line; a
// successful load makes the Recorder Loaded.
type Loads struct {
	*Recorder
	FileLoadErr, LoadErr func(cmdline string) error
}

// FileLoad implements kexec.Syscalls.
func (l Loads) FileLoad(kernel, initrd *os.File, cmdline string) error {
	return l.load("kexec_file_load", l.FileLoadErr, cmdline)
}

// Load implements kexec.Syscalls.
func (l Loads) Load(kernel, initrd *os.File, cmdline string) error {
	return l.load("kexec_load", l.LoadErr, cmdline)
}

func (l Loads) load(call string, fail func(string) error, cmdline string) error {
	l.record(call + " " + cmdline)
	if fail != nil {
		if err := fail(cmdline); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.IsLoaded = true
	return nil
}
