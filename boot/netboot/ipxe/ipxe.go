// Package ipxe runs iPXE scripts (#!ipxe) the way iPXE runs them, as far
// as a script's job is to say which kernel to boot: it returns the
// kernel, initrds and command line the script would boot, and boots
// nothing itself.
//
// Read as iPXE's src/core/exec.c and src/image/script.c do: a line is
// split at whitespace (no quoting), a token beginning with "#" starts a
// comment, "||", "&&" and ";" join commands, ${setting} (with an
// optional scope, net0/mac, and type, ${net0/mac:hexhyp}) is expanded in
// each token after it is split, innermost first; ":label" lines are goto
// targets; a trailing backslash continues a line. A command that fails
// ends the script unless "||" handles it, and "exit" ends it.
//
// Commands: kernel (imgselect, imgload), initrd (imgfetch, module), chain
// (imgexec), imgargs, boot, imgfree, set, clear, echo, sleep, exit, goto,
// isset, iseq; dhcp, ifopen, ifconf and ifstat succeed (warmboot has
// already brought the network up); prompt fails at once, as if it timed
// out. Any other command is a warning naming its line, and fails, as an
// unknown command does in iPXE. Images are not fetched here: Probe checks
// each exists (so "kernel x || goto other" works) and reads chained
// scripts, and the bootloader fetches the rest when it stages, verified.
//
// Everything is bounded: script size, chain depth, lines run (goto
// loops), expansion length and depth, and time asleep.
//
// u-root's pkg/boot/netboot/ipxe reads kernel, initrd and boot only, and
// imports pkg/curl; the scripts operators write use set, chain, goto and
// ${net0/mac}.
package ipxe

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
)

// Limits on what one script, and the scripts it chains, may cost.
const (
	// MaxScript bounds one script's size.
	MaxScript = 256 << 10
	// MaxDepth bounds chain nesting.
	MaxDepth = 8
	// MaxSteps bounds the commands run across all scripts (goto loops).
	MaxSteps = 10000
	// MaxExpansion bounds a token once its settings are expanded.
	MaxExpansion = 4096
	// MaxCommand bounds a command once its tokens are expanded (a kernel
	// command line is at most a few KiB; iPXE's own limit is its
	// memory).
	MaxCommand = 16 << 10
	// MaxSettings bounds the bytes all settings hold together.
	MaxSettings = 256 << 10
	// MaxSleep bounds the time all sleeps together wait.
	MaxSleep = 30 * time.Second
)

// Probe is how a script reaches the network: Probe checks that u can be
// fetched and, when it is an iPXE script, returns its text (script
// true). It reads no more of anything else than it needs to tell.
type Probe func(ctx context.Context, u *url.URL) (text []byte, script bool, err error)

// Boot is what a script boots.
type Boot struct {
	Kernel  *url.URL
	Initrds []*url.URL
	Cmdline string
	// Source is the script and line of the command that booted.
	Source entry.Source
}

// Result is what running a script gave.
type Result struct {
	// Boot is nil when the scripts ended without booting.
	Boot *Boot
	// Echo is what the scripts printed with echo, in order.
	Echo []string
	// Warnings name the script and line of each problem.
	Warnings []entry.Warning
}

// Config is what a script runs with.
type Config struct {
	// Settings are the values ${name} expands to: "net0/mac", "mac",
	// "ip", "uuid", "hostname", ... Run copies them; set changes the copy.
	Settings map[string]string
	Probe    Probe
	// Sleep waits d (or until ctx is done); nil waits in real time.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Run runs the script text, fetched from u.
func Run(ctx context.Context, c Config, u *url.URL, text []byte) Result {
	r := &runner{ctx: ctx, c: c, settings: map[string]string{}, res: &Result{}}
	for k, v := range c.Settings {
		r.settings[k] = v
	}
	if r.c.Sleep == nil {
		r.c.Sleep = sleep
	}
	r.script(u, text, 0)
	return *r.res
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type image struct {
	name string
	u    *url.URL
	args []string
	// script is the text of an iPXE script image, nil for others.
	script []byte
}

type runner struct {
	ctx      context.Context
	c        Config
	settings map[string]string
	res      *Result
	images   []*image
	selected *image
	steps    int
	held     int // bytes the settings hold
	slept    time.Duration
	booted   bool
	// lines is the running script's, for goto; jump the line a goto
	// chose (-1: none).
	lines []line
	jump  int
}

// errExit ends the script it is raised in (exit; iPXE's
// SHELL_STOP_COMMAND_SEQUENCE).
var errExit = errors.New("exit")

// errFatal ends every script: a limit was reached, or the context ended.
type errFatal struct{ error }

type line struct {
	n    int
	text string
}

func (r *runner) warn(src entry.Source, format string, args ...any) {
	if len(r.res.Warnings) < 100 {
		r.res.Warnings = append(r.res.Warnings, entry.Warnf(src, format, args...))
	}
}

// script runs one script; its error is what chain returns.
func (r *runner) script(u *url.URL, text []byte, depth int) error {
	src := entry.Source{File: u.String()}
	if len(text) > MaxScript {
		r.warn(src, "script is larger than %d KiB; not run", MaxScript>>10)
		return errors.New("script too large")
	}
	lines := split(string(text))
	if len(lines) == 0 || !isMagic(lines[0].text) {
		r.warn(src, "not an iPXE script (it does not begin with #!ipxe)")
		return errors.New("not an iPXE script")
	}
	savedLines, savedJump := r.lines, r.jump
	r.lines = lines
	defer func() { r.lines, r.jump = savedLines, savedJump }()
	for i := 1; i < len(lines); i++ {
		src.Line = lines[i].n
		if strings.HasPrefix(strings.TrimSpace(lines[i].text), ":") {
			continue
		}
		r.jump = -1
		rc := r.line(u, src, lines[i].text, depth)
		if r.booted || errors.Is(rc, errExit) {
			return nil
		}
		if rc != nil {
			// A failed command ends the script, as in iPXE
			// (terminate_on_exit_or_failure); chain returns it.
			return rc
		}
		if r.jump >= 0 {
			i = r.jump
		}
	}
	return nil
}

func isMagic(l string) bool {
	l = strings.TrimRight(l, " \t\r")
	return l == "#!ipxe" || l == "#!gpxe" || strings.HasPrefix(l, "#!ipxe ") || strings.HasPrefix(l, "#!gpxe ")
}

// split cuts text into lines, joining those continued with a trailing
// backslash; each keeps the number of its first line.
func split(text string) []line {
	var out []line
	raw := strings.Split(text, "\n")
	for i := 0; i < len(raw); i++ {
		l := line{n: i + 1, text: strings.TrimSuffix(raw[i], "\r")}
		for strings.HasSuffix(l.text, "\\") && i+1 < len(raw) {
			i++
			l.text = strings.TrimSuffix(l.text, "\\") + strings.TrimSuffix(raw[i], "\r")
		}
		out = append(out, l)
	}
	return out
}

// label finds ":name" as iPXE's goto does: the first line that is the
// label, whitespace ignored.
func label(lines []line, name string) int {
	for i, l := range lines {
		t := strings.TrimSpace(l.text)
		if strings.HasPrefix(t, ":") && strings.TrimSpace(t[1:]) == name {
			return i
		}
	}
	return -1
}

// line runs one line's commands, joined by ||, && and ;, as exec.c's
// system does. It returns the status of the last command run and, for
// goto, the label.
func (r *runner) line(u *url.URL, src entry.Source, text string, depth int) error {
	tokens := strings.Fields(text)
	var rc error
	process := true
	for {
		n, next := terminator(tokens)
		if process {
			rc = nil // an empty command succeeds
			if n > 0 {
				rc = r.run(u, src, tokens[:n], depth)
				var fatal errFatal
				if errors.Is(rc, errExit) || errors.As(rc, &fatal) || r.booted {
					return rc
				}
			}
		}
		switch next {
		case "":
			return rc
		case "||":
			process = rc != nil
		case "&&":
			process = rc == nil
		default:
			process = true
		}
		tokens = tokens[n+1:]
	}
}

// run expands and runs one command.
func (r *runner) run(u *url.URL, src entry.Source, tokens []string, depth int) error {
	r.steps++
	if r.steps > MaxSteps {
		r.warn(src, "more than %d commands run (a goto loop?): stopped", MaxSteps)
		return errFatal{errors.New("too many commands")}
	}
	if err := r.ctx.Err(); err != nil {
		return errFatal{err}
	}
	argv := make([]string, len(tokens))
	total := 0
	for i, t := range tokens {
		v, err := r.expand(t)
		if err != nil {
			r.warn(src, "%v", err)
			return err
		}
		if total += len(v) + 1; total > MaxCommand {
			err := fmt.Errorf("%s: the command expands to more than %d KiB", tokens[0], MaxCommand>>10)
			r.warn(src, "%v", err)
			return err
		}
		argv[i] = v
	}
	if argv[0] == "goto" {
		// script.c's goto: the script goes on from the label once the
		// line is done; a label it does not have fails.
		if len(argv) != 2 {
			r.warn(src, "goto: want one label")
			return errors.New("goto")
		}
		j := label(r.lines, argv[1])
		if j < 0 {
			r.warn(src, "goto %s: the script has no label :%s", argv[1], argv[1])
			return errors.New("no such label")
		}
		r.jump = j
		return nil
	}
	return r.command(u, src, argv, depth)
}

// terminator finds the first "||", "&&" or ";" (exec.c's
// command_terminator); a token beginning "#" ends the line.
func terminator(tokens []string) (int, string) {
	for i, t := range tokens {
		switch {
		case strings.HasPrefix(t, "#"):
			return i, ""
		case t == "||", t == "&&", t == ";":
			return i, t
		}
	}
	return len(tokens), ""
}
