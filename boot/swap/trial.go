package swap

import (
	"os"
	"strings"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/watchdog"
)

// Trial is what a swap records before anything is stopped, so that a
// target that does not come up brings the machine back by itself.
type Trial struct {
	Config trial.Config
	Target state.Ref
	// Fallback boots if the target fails: the running entry (from
	// booted.json), else last-known-good; nil when neither is known.
	Fallback *state.Ref
	// Trial says the target is tried (it is not last-known-good): the
	// watchdog and panic=N guard it until "warmboot bless".
	Trial bool
	// Watchdog describes this machine's watchdog ("" when it has none).
	Watchdog string
	// File is the state file (state.HostFile), relative to the root.
	File string
	// State is written to File before the system stops; StateErr
	// says why the file on disk could not be read (it is replaced).
	State    state.State
	StateErr error
}

// planTrial fills in p.Trial: through the bootloader (or a firmware
// reboot) the target becomes the bootloader's one-shot next entry, which
// the bootloader boots as a trial; -direct records the trial itself, and
// the target's command line gets panic=N.
func planTrial(env Env, req Request, p *Plan, blCmdline string, direct *entry.Entry) {
	if req.NoRecord {
		return
	}
	t := &Trial{File: state.HostFile(env.Root)}
	var ignored []string
	t.Config, ignored = trial.ConfigFrom(blCmdline)
	for _, w := range ignored {
		p.Warnings = append(p.Warnings, "bootloader command line: "+w)
	}
	st, err := state.Read(os.DirFS(env.Root), t.File)
	t.StateErr = err
	t.Fallback = st.LastGood
	if b, err := handoff.ReadBooted(env.Root); err == nil {
		t.Fallback = &state.Ref{ID: b.Entry, Source: b.Source}
	}
	id := p.Target.ID
	if req.Kernel != "" && p.Mode != Direct {
		id = "handoff" // the bootloader's name for a kernel handed over
	}
	t.Target = state.Ref{ID: id, Source: p.Target.Source}
	if direct != nil {
		b := trial.Begin(st, *direct, true, "warmswap -direct", t.Config, env.Now())
		if b.Trial {
			b.State.Trial.Fallback = t.Fallback
		}
		t.Trial, t.State = b.Trial, b.State
	} else {
		t.Trial = !st.LastGood.Is(id)
		st.Next = &state.Attempt{Entry: t.Target, At: env.Now().UTC(), By: "warmswap", Fallback: t.Fallback}
		t.State = st
	}
	if _, err := os.Stat(env.path(watchdog.Device)); err == nil {
		id, _ := os.ReadFile(env.path("sys/class/watchdog/watchdog0/identity"))
		t.Watchdog = strings.TrimSpace(watchdog.Device + " " + strings.TrimSpace(string(id)))
	}
	p.Trial = t
}
