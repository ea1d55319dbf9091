package loader

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/watchdog"
)

// commitTest is a Committer over one directory, "vda1", that records
// every step it takes, in order.
type commitTest struct {
	c     Committer
	store Store
	dir   string
	out   *bytes.Buffer
	steps []string
	// stateErr, filesErr fail writing the state, the config filesystem.
	stateErr, filesErr error
}

func newCommitTest(t *testing.T, counted bool) (*commitTest, entry.Entry) {
	t.Helper()
	ct := &commitTest{dir: t.TempDir(), out: &bytes.Buffer{}}
	name := "loader/entries/a.conf"
	if counted {
		name = "loader/entries/a+3.conf"
	}
	os.MkdirAll(filepath.Join(ct.dir, "loader/entries"), 0o755)
	os.WriteFile(filepath.Join(ct.dir, name), []byte("title A\nlinux /vmlinuz\n"), 0o644)
	os.MkdirAll(filepath.Join(ct.dir, "grub"), 0o755)
	env, _ := grubenv.Set(grubenv.New(), "next_entry", "a")
	os.WriteFile(filepath.Join(ct.dir, "grub/grubenv"), env, 0o644)
	e := entry.Entry{ID: "a", Label: "A", Format: entry.BLS, Kernel: "/vmlinuz", TriesLeft: -1,
		Source: entry.Source{Device: "vda1", File: "/" + name, Line: 1}}
	if counted {
		e.TriesLeft = 3
	}
	ct.c = Committer{Config: trial.Config{Deadline: time.Minute, Panic: 5}, By: "warmboot", Log: clog.New(ct.out, "warmboot"),
		Now: func() time.Time { return time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC) },
		Files: func(dev string, f func(*os.Root) error) error {
			ct.steps = append(ct.steps, "files "+dev)
			if ct.filesErr != nil {
				return ct.filesErr
			}
			return discover.InRoot(ct.dir, f)
		},
		Arm: func(d time.Duration) (watchdog.Armed, error) {
			ct.steps = append(ct.steps, "arm "+d.String())
			return watchdog.Armed{Timeout: d}, nil
		}}
	ct.store = Store{File: "/warmboot/state", Where: "vda1:/warmboot/state", Write: func(f func(*os.Root) error) error {
		ct.steps = append(ct.steps, "state")
		if ct.stateErr != nil {
			return ct.stateErr
		}
		return discover.InRoot(ct.dir, f)
	}}
	return ct, e
}

func (ct *commitTest) state(t *testing.T) state.State {
	t.Helper()
	s, err := state.Read(os.DirFS(ct.dir), "/warmboot/state")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var envWrite = []entry.EnvWrite{{File: entry.Source{Device: "vda1", File: "/grub/grubenv"}, Name: "next_entry", Unset: false}}

// Deciding touches nothing; committing records first, counts, saves
// grubenv, and arms last.
func TestCommitOrder(t *testing.T) {
	ct, e := newCommitTest(t, true)
	b := ct.c.Decide(&ct.store, e, "", true, "root=/dev/vda2")
	if len(ct.steps) != 0 {
		t.Fatalf("Decide took steps %q; want none", ct.steps)
	}
	if !b.Trial() || b.Params != "panic=5 watchdog.open_timeout=60" || b.Cmdline("root=/dev/vda2") != "root=/dev/vda2 panic=5 watchdog.open_timeout=60" {
		t.Fatalf("Decide = trial %v, params %q", b.Trial(), b.Params)
	}
	b.EnvWrites = envWrite
	done := ct.c.Commit(&ct.store, b)
	if diff := gocmp.Diff([]string{"state", "files vda1", "files vda1", "arm 1m0s"}, ct.steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if done != (Committed{Recorded: true, Counted: true, Armed: true}) {
		t.Errorf("Commit = %+v", done)
	}
	if s := ct.state(t); s.Trial == nil || s.Trial.Entry.ID != "a" || s.Trial.By != "warmboot" {
		t.Errorf("state = %+v; want the trial of a", s)
	}
	if _, err := os.Stat(filepath.Join(ct.dir, "loader/entries/a+2-1.conf")); err != nil {
		t.Errorf("not counted: %v", err)
	}
	env, _ := os.ReadFile(filepath.Join(ct.dir, "grub/grubenv"))
	if !bytes.Contains(env, []byte("\nnext_entry=\n")) {
		t.Errorf("grubenv: next_entry not emptied:\n%s", env)
	}
}

// A trial whose record cannot be written is not armed: a reset would
// boot it again with nothing on disk to say it failed.
func TestCommitNothingArmedUnrecorded(t *testing.T) {
	ct, e := newCommitTest(t, false)
	ct.stateErr = errors.New("vda1: not written by warmboot: it is xfs")
	done := ct.c.Commit(&ct.store, ct.c.Decide(&ct.store, e, "", true, ""))
	if done.Armed || done.Recorded {
		t.Errorf("Commit = %+v; want nothing recorded or armed", done)
	}
	if diff := gocmp.Diff([]string{"state"}, ct.steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if !strings.Contains(ct.out.String(), `warmboot: warning: trial: cannot record the trial of "A" in vda1:/warmboot/state: vda1: not written by warmboot: it is xfs; booting it without the watchdog`) {
		t.Errorf("said:\n%s", ct.out)
	}

	// A counted entry that is no trial is armed for its counter: when
	// the counter cannot be renamed, nothing counts the attempt, so
	// nothing is armed either.
	ct, e = newCommitTest(t, true)
	ct.filesErr = errors.New("md0: not written by warmboot")
	b := ct.c.Decide(&ct.store, e, "", false, "")
	if b.Trial() || b.Params == "" {
		t.Fatalf("a counted entry not asked for: trial %v, params %q; want no trial, armed params", b.Trial(), b.Params)
	}
	done = ct.c.Commit(&ct.store, b)
	if done.Armed || done.Counted {
		t.Errorf("Commit = %+v; want nothing counted or armed", done)
	}
	if !strings.Contains(ct.out.String(), "boot counting: no watchdog armed: the attempt is not counted") {
		t.Errorf("said:\n%s", ct.out)
	}
}

// Last-known-good, not asked for, not counted: no trial, nothing written
// and nothing armed.
func TestCommitNoTrial(t *testing.T) {
	ct, e := newCommitTest(t, false)
	ct.store.State = state.State{LastGood: &state.Ref{ID: "a"}}
	b := ct.c.Decide(&ct.store, e, "", true, "quiet")
	if b.Trial() || b.Params != "" {
		t.Fatalf("Decide = trial %v, params %q; want neither", b.Trial(), b.Params)
	}
	if done := ct.c.Commit(&ct.store, b); done.Armed || len(ct.steps) != 0 {
		t.Errorf("Commit = %+v, steps %q; want nothing", done, ct.steps)
	}
}

// A fallback given to the Committer (warmswap -direct: the running
// entry) replaces last-known-good in the trial it records.
func TestCommitFallback(t *testing.T) {
	ct, e := newCommitTest(t, false)
	ct.store.State = state.State{LastGood: &state.Ref{ID: "old"}}
	ct.c.By, ct.c.Fallback = "warmswap -direct", &state.Ref{ID: "running"}
	ct.c.Commit(&ct.store, ct.c.Decide(&ct.store, e, "", true, ""))
	if s := ct.state(t); s.Trial == nil || s.Trial.Fallback.ID != "running" || s.Trial.By != "warmswap -direct" {
		t.Errorf("state = %+v; want the trial falling back to the running entry", s.Trial)
	}
}

// With MustRecord (warmswap -direct, which can still refuse), a trial
// that cannot be recorded is not committed at all: nothing counted,
// saved or armed.
func TestCommitMustRecord(t *testing.T) {
	ct, e := newCommitTest(t, true)
	ct.c.MustRecord = true
	ct.stateErr = errors.New("read-only file system")
	b := ct.c.Decide(&ct.store, e, "", true, "")
	b.EnvWrites = envWrite
	if done := ct.c.Commit(&ct.store, b); done != (Committed{}) {
		t.Errorf("Commit = %+v; want nothing done", done)
	}
	if diff := gocmp.Diff([]string{"state"}, ct.steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(ct.dir, "loader/entries/a+3.conf")); err != nil {
		t.Errorf("the counter moved: %v", err)
	}
}
