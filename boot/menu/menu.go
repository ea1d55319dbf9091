// Package menu shows the boot menu and reads the user's choice: numbered
// entries, a countdown to the default that any key stops, Enter for the
// default, a number then Enter for another entry, and "e" to edit the
// chosen entry's command line.
//
// The menu reads bytes from a channel and writes to an io.Writer, so the
// caller can merge every console into it and tests can drive it directly.
package menu

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/choose"
)

// Choice is what the user picked.
type Choice struct {
	Index   int
	Cmdline string
	Edited  bool
	// Timeout is true when the countdown ran out with no key pressed.
	Timeout bool
}

// Options tune the menu.
type Options struct {
	// Timeout before the default boots; negative waits for a key.
	Timeout time.Duration
	// Tick is the countdown step (one second; shorter in tests).
	Tick time.Duration
	// NoEdit, when set, disables "e" and says why (the verification
	// policy signs the command line).
	NoEdit string
}

const (
	keyEnter     = '\r'
	keyNewline   = '\n'
	keyBackspace = 0x7f
	keyCtrlH     = 0x08
	keyCtrlU     = 0x15
	keyCtrlC     = 0x03
	keyEsc       = 0x1b
)

// Render writes the numbered entry list.
func Render(w io.Writer, m choose.Menu, o Options) {
	fmt.Fprintf(w, "\nwarmboot: %d boot entries\n", len(m.Entries))
	for i, e := range m.Entries {
		mark := " "
		if i == m.Default {
			mark = "*"
		}
		fmt.Fprintf(w, " %s %2d) %s  [%s %s]\n", mark, i+1, e.Label, e.Format, e.Source)
	}
	edit := "e: edit the command line"
	if o.NoEdit != "" {
		edit = "(editing disabled: " + o.NoEdit + ")"
	}
	fmt.Fprintf(w, "Enter: boot the default (*)  1-%d then Enter: choose  %s\n", len(m.Entries), edit)
}

// Run shows m on w and returns the user's choice. keys delivers key
// presses from every console; when it is closed (no console can be read),
// the default boots when the countdown ends, or at once if the timeout
// is negative.
func Run(ctx context.Context, w io.Writer, keys <-chan byte, m choose.Menu, o Options) (Choice, error) {
	if len(m.Entries) == 0 {
		return Choice{}, fmt.Errorf("no entries to choose from")
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	Render(w, m, o)
	def := Choice{Index: m.Default, Cmdline: m.Entries[m.Default].Cmdline, Timeout: true}
	label := m.Entries[m.Default].Label

	// Countdown.
	if o.Timeout >= 0 {
		left := o.Timeout
		for {
			fmt.Fprintf(w, "\rBooting %q in %ds... (any key stops the countdown) ", label, int((left+o.Tick-1)/o.Tick))
			if left <= 0 {
				fmt.Fprintln(w)
				return def, nil
			}
			step := min(o.Tick, left)
			select {
			case <-ctx.Done():
				return Choice{}, ctx.Err()
			case <-time.After(step):
				left -= step
				continue
			case k, ok := <-keys:
				if !ok {
					keys = nil // no input: let the countdown run out
					continue
				}
				fmt.Fprintln(w, "\nCountdown stopped.")
				return interact(ctx, w, keys, m, o, []byte{k})
			}
		}
	}
	if keys == nil {
		return def, nil
	}
	fmt.Fprintf(w, "Waiting for a choice (default %q)\n", label)
	return interact(ctx, w, keys, m, o, nil)
}

// interact handles keys after the countdown stopped; pending are keys
// already read.
func interact(ctx context.Context, w io.Writer, keys <-chan byte, m choose.Menu, o Options, pending []byte) (Choice, error) {
	var typed []byte
	next := func() (byte, error) {
		if len(pending) > 0 {
			k := pending[0]
			pending = pending[1:]
			return k, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case k, ok := <-keys:
			if !ok {
				return 0, io.EOF
			}
			return k, nil
		}
	}
	selected := func() (int, bool) {
		if len(typed) == 0 {
			return m.Default, true
		}
		n, err := strconv.Atoi(string(typed))
		if err != nil || n < 1 || n > len(m.Entries) {
			fmt.Fprintf(w, "\nNo entry %s: choose 1-%d\n> ", typed, len(m.Entries))
			typed = typed[:0]
			return 0, false
		}
		return n - 1, true
	}
	fmt.Fprint(w, "> ")
	for {
		k, err := next()
		if err == io.EOF {
			// Input went away: boot what is selected so far.
			if i, ok := selected(); ok {
				return Choice{Index: i, Cmdline: m.Entries[i].Cmdline}, nil
			}
			return Choice{Index: m.Default, Cmdline: m.Entries[m.Default].Cmdline}, nil
		}
		if err != nil {
			return Choice{}, err
		}
		switch {
		case k >= '0' && k <= '9':
			typed = append(typed, k)
			fmt.Fprintf(w, "%c", k)
		case k == keyBackspace || k == keyCtrlH:
			if len(typed) > 0 {
				typed = typed[:len(typed)-1]
				fmt.Fprint(w, "\b \b")
			}
		case k == keyEnter || k == keyNewline:
			if i, ok := selected(); ok {
				fmt.Fprintf(w, "\nBooting %q\n", m.Entries[i].Label)
				return Choice{Index: i, Cmdline: m.Entries[i].Cmdline}, nil
			}
		case k == 'e':
			i, ok := selected()
			if !ok {
				continue
			}
			if o.NoEdit != "" {
				typed = typed[:0]
				fmt.Fprintf(w, "\nEditing is disabled: %s.\n> ", o.NoEdit)
				continue
			}
			c, done, err := edit(w, next, m.Entries[i].Label, m.Entries[i].Cmdline)
			if err != nil && err != io.EOF {
				return Choice{}, err
			}
			if done {
				return Choice{Index: i, Cmdline: c, Edited: c != m.Entries[i].Cmdline}, nil
			}
			typed = typed[:0]
			fmt.Fprint(w, "Edit cancelled.\n> ")
		}
	}
}

// edit reads a new command line, starting from cur. done is false when
// the user cancelled with Esc or Ctrl-C.
func edit(w io.Writer, next func() (byte, error), label, cur string) (cmdline string, done bool, err error) {
	fmt.Fprintf(w, "\nEdit the command line of %q (Enter boots it, Ctrl-U clears, Esc cancels):\n", label)
	buf := []byte(cur)
	fmt.Fprintf(w, "%s", buf)
	for {
		k, err := next()
		if err != nil {
			return string(buf), err == io.EOF, err
		}
		switch {
		case k == keyEnter || k == keyNewline:
			fmt.Fprintln(w)
			return strings.TrimSpace(string(buf)), true, nil
		case k == keyEsc || k == keyCtrlC:
			fmt.Fprintln(w)
			return cur, false, nil
		case k == keyBackspace || k == keyCtrlH:
			if len(buf) > 0 {
				buf = buf[:len(buf)-1]
				fmt.Fprint(w, "\b \b")
			}
		case k == keyCtrlU:
			fmt.Fprint(w, strings.Repeat("\b \b", len(buf)))
			buf = buf[:0]
		case k >= 0x20 && k < 0x7f:
			buf = append(buf, k)
			fmt.Fprintf(w, "%c", k)
		}
	}
}
