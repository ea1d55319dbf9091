package menu

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/entry"
)

func testMenu() choose.Menu {
	return choose.Menu{Default: 1, Entries: []entry.Entry{
		{ID: "a", Label: "A", Cmdline: "ca", Format: entry.BLS},
		{ID: "b", Label: "B", Cmdline: "cb", Format: entry.BLS},
		{ID: "c", Label: "C", Cmdline: "cc", Format: entry.GRUB},
	}}
}

// feed returns a channel delivering s, then closed if closeAfter.
func feed(s string, closeAfter bool) <-chan byte {
	ch := make(chan byte, len(s))
	for i := 0; i < len(s); i++ {
		ch <- s[i]
	}
	if closeAfter {
		close(ch)
	}
	return ch
}

func TestRun(t *testing.T) {
	for _, tt := range []struct {
		name    string
		keys    <-chan byte
		timeout time.Duration
		noEdit  string
		want    Choice
		output  string
	}{
		{"countdown runs out", make(chan byte), 3 * time.Millisecond, "", Choice{Index: 1, Cmdline: "cb", Timeout: true}, `Booting "B" in 0s`},
		{"zero timeout boots at once", make(chan byte), 0, "", Choice{Index: 1, Cmdline: "cb", Timeout: true}, `Booting "B" in 0s`},
		{"no console input", feed("", true), time.Millisecond, "", Choice{Index: 1, Cmdline: "cb", Timeout: true}, ""},
		{"enter boots default", feed("\r", false), time.Hour, "", Choice{Index: 1, Cmdline: "cb"}, "Countdown stopped."},
		{"number then enter", feed("3\r", false), time.Hour, "", Choice{Index: 2, Cmdline: "cc"}, `Booting "C"`},
		{"bad number then good", feed("9\r1\n", false), time.Hour, "", Choice{Index: 0, Cmdline: "ca"}, "No entry 9: choose 1-3"},
		{"backspace", feed("23\x7f\r", false), time.Hour, "", Choice{Index: 1, Cmdline: "cb"}, ""},
		{"edit default", feed("e x=1\r", false), time.Hour, "", Choice{Index: 1, Cmdline: "cb x=1", Edited: true}, `Edit the command line of "B"`},
		{"edit other, clear", feed("1e\x15new\r", false), time.Hour, "", Choice{Index: 0, Cmdline: "new", Edited: true}, ""},
		{"edit unchanged", feed("e\r", false), time.Hour, "", Choice{Index: 1, Cmdline: "cb"}, ""},
		{"edit cancelled", feed("e zz\x1b3\r", false), time.Hour, "", Choice{Index: 2, Cmdline: "cc"}, "Edit cancelled."},
		{"wait forever, key", feed("1\r", false), -1, "", Choice{Index: 0, Cmdline: "ca"}, "Waiting for a choice"},
		{"editing disabled", feed("e x\x7f3\r", false), time.Hour, "policy enforce signs it", Choice{Index: 2, Cmdline: "cc"}, "Editing is disabled: policy enforce signs it."},
		{"input ends while typing", feed("3", true), time.Hour, "", Choice{Index: 2, Cmdline: "cc"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := Run(ctx, &out, tt.keys, testMenu(), Options{Timeout: tt.timeout, Tick: time.Millisecond, NoEdit: tt.noEdit})
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			if got != tt.want {
				t.Errorf("Run = %+v, want %+v", got, tt.want)
			}
			if !strings.Contains(out.String(), tt.output) {
				t.Errorf("output %q does not contain %q", out.String(), tt.output)
			}
		})
	}
}

func TestRender(t *testing.T) {
	var out bytes.Buffer
	m := testMenu()
	m.Entries[0].Source = entry.Source{Device: "vda2", File: "/loader/entries/a.conf", Line: 1}
	Render(&out, m, Options{})
	for _, want := range []string{"    1) A  [bls vda2:/loader/entries/a.conf:1]", " *  2) B", "1-3 then Enter"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Render output %q lacks %q", out.String(), want)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, &bytes.Buffer{}, make(chan byte), testMenu(), Options{Timeout: time.Hour}); err == nil {
		t.Error("Run on a cancelled context succeeded")
	}
}
