package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/timeline"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// bootedCmd is "warmboot booted": it says how the running system was
// booted, from the record warmboot handed it (/run/warmboot/booted.json),
// so that the decision and the timeline are in the booted system's
// journal (warmboot-booted.service runs it).
func bootedCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("warmboot booted", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "/", "the running system's root")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return cli.ExitUsage
	}
	b, err := handoff.ReadBooted(*root)
	if err != nil {
		fmt.Fprintf(stderr, "warmboot: booted: %v\n", err)
		return cli.ExitError
	}
	printBooted(stdout, b)
	return cli.ExitOK
}

func printBooted(w io.Writer, b handoff.Booted) {
	say := func(format string, a ...any) { fmt.Fprintf(w, "warmboot: "+format+"\n", a...) }
	say("booted %q (%s) from %s, by %s", b.Label, b.Entry, b.Source, b.By)
	if b.Handoff != nil {
		h := b.Handoff
		say("asked for by %s at %s: %s (reason: %s)", h.From, h.Time.UTC().Format("2006-01-02T15:04:05Z"), h.Wants(), h.Reason)
	}
	if b.Trust != "" {
		say("verification: %s", b.Trust)
	}
	if len(b.Timeline) == 0 {
		return
	}
	var tl timeline.Timeline
	if err := json.Unmarshal(b.Timeline, &tl); err != nil {
		say("timeline: unreadable: %v", err)
		return
	}
	var parts []string
	total := 0.0
	for _, p := range tl.Phases {
		parts = append(parts, fmt.Sprintf("%s=%.2fs", p.Name, p.Millis/1000))
		total += p.Millis
	}
	// The record is written before the load and the kexec, so these are
	// the phases up to them.
	say("timeline: %s (%.2fs before the load and kexec)", strings.Join(parts, " "), total/1000)
}
