// Package machine is the last step of every command as a value: what
// should happen to the machine next (kexec the loaded image, reboot
// through the firmware, hand over to systemctl, start a shell, exit), and
// the one small interface that does it.
//
// The boot loop and warmswap decide an Action and return it; only their
// main calls Do, so everything up to the point of no return runs in
// process under test with machinetest.Recorder.
package machine

import "fmt"

// Machine changes the machine. Real is the running one.
type Machine interface {
	// Kexec jumps into the loaded kexec image; it returns only on failure.
	Kexec() error
	// Reboot restarts through the firmware; it returns only on failure.
	Reboot() error
	// Unload drops a loaded kexec image.
	Unload() error
	// Loaded says whether a kexec image is loaded.
	Loaded() bool
}

// Kind is what an Action does.
type Kind int

const (
	// Exit ends the command with Action.Code.
	Exit Kind = iota
	// Kexec boots the loaded image.
	Kexec
	// Reboot restarts through the firmware.
	Reboot
	// Shell starts the rescue shell (the bootloader found nothing it
	// could boot); the bootloader looks again when it exits.
	Shell
	// Systemctl hands over to "systemctl Verb" (systemd stops the
	// services and does the kexec or reboot).
	Systemctl
)

func (k Kind) String() string {
	return [...]string{"exit", "kexec", "reboot", "shell", "systemctl"}[k]
}

// Action is the decided last step.
type Action struct {
	Kind Kind
	// Code is the exit status for Exit.
	Code int
	// Verb is systemctl's verb ("kexec", "reboot") for Systemctl; Force
	// adds --force (systemd's manager does the verb at once, as
	// systemd-kexec.service asks it).
	Verb  string
	Force bool
	// RebootOnFailure: a failed Kexec goes through the firmware, because
	// everything is already stopped and a machine left so is stranded.
	RebootOnFailure bool
}

func (a Action) String() string {
	switch a.Kind {
	case Exit:
		return fmt.Sprintf("exit %d", a.Code)
	case Systemctl:
		if a.Force {
			return "systemctl --force " + a.Verb
		}
		return "systemctl " + a.Verb
	case Kexec:
		if a.RebootOnFailure {
			return "kexec, else reboot"
		}
	}
	return a.Kind.String()
}

// ExitWith is Action{Kind: Exit, Code: code}.
func ExitWith(code int) Action { return Action{Kind: Exit, Code: code} }
