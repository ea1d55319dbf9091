// Package clog is warmboot's one voice on the console: a slog.Handler that
// prints each record as one line, "warmboot: message key=value ...", the
// way the bootloader and warmswap have always talked to an operator, and
// never "time=... level=... msg=..." between those lines.
//
// Warnings print as "prefix: warning: message", errors as "prefix: error:
// message"; debug records are dropped unless the handler was made with
// WithLevel(slog.LevelDebug). Values that hold blanks or quotes are quoted
// (strconv.Quote), so a line stays one line and can be split again.
//
// Libraries take a *slog.Logger and call Or on it: a nil logger discards,
// so a library is silent unless its caller gives it a voice. Commands make
// one logger (New) over every console and hand it down.
package clog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Handler prints records as "prefix: message key=value".
type Handler struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	level  slog.Leveler
	attrs  string // preformatted " key=value" of WithAttrs
	group  string // "a.b." of WithGroup
}

// Option tunes New and NewHandler.
type Option func(*Handler)

// WithLevel sets the lowest level printed (default slog.LevelInfo).
func WithLevel(l slog.Leveler) Option { return func(h *Handler) { h.level = l } }

// NewHandler returns a handler writing to w with prefix ("warmboot").
func NewHandler(w io.Writer, prefix string, opts ...Option) *Handler {
	h := &Handler{mu: &sync.Mutex{}, w: w, prefix: prefix, level: slog.LevelInfo}
	for _, o := range opts {
		o(h)
	}
	return h
}

// New returns a logger printing to w with prefix.
func New(w io.Writer, prefix string, opts ...Option) *slog.Logger {
	return slog.New(NewHandler(w, prefix, opts...))
}

// Or returns l, or a logger that discards when l is nil.
func Or(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	b.WriteString(": ")
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	}
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range as {
		appendAttr(&b, h.group, a)
	}
	h2 := *h
	h2.attrs += b.String()
	return &h2
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group += name + "."
	return &h2
}

func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			appendAttr(b, g, ga)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(group)
	b.WriteString(a.Key)
	b.WriteByte('=')
	b.WriteString(quote(value(a.Value)))
}

func value(v slog.Value) string {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindDuration:
		return v.Duration().String()
	case slog.KindTime:
		return v.Time().UTC().Format(time.RFC3339)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error()
		}
		return fmt.Sprint(v.Any())
	}
	return v.String()
}

// quote quotes s when it would not read back as one word.
func quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if unicode.IsSpace(r) || r == '"' || r == '=' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// Infof logs a printf-formatted message at Info on l (nil discards):
// for the sentences an operator reads, whose values are part of the text.
func Infof(l *slog.Logger, format string, args ...any) { Or(l).Info(fmt.Sprintf(format, args...)) }

// Warnf logs a printf-formatted warning on l (nil discards).
func Warnf(l *slog.Logger, format string, args ...any) { Or(l).Warn(fmt.Sprintf(format, args...)) }

// Note is what a library has to say to the operator about a decision it
// made (a key that signed an entry, a trial that failed), as a value: the
// library decides, its caller says it (Say) or turns it into a plan.
type Note struct {
	Warning bool
	Msg     string
}

// Notef is an informational Note.
func Notef(format string, args ...any) Note { return Note{Msg: fmt.Sprintf(format, args...)} }

// Warningf is a Note that warns.
func Warningf(format string, args ...any) Note {
	return Note{Warning: true, Msg: fmt.Sprintf(format, args...)}
}

// Say logs each note on l (nil discards): a warning at Warn, the rest at
// Info.
func Say(l *slog.Logger, notes ...Note) {
	for _, n := range notes {
		if n.Warning {
			Warnf(l, "%s", n.Msg)
		} else {
			Infof(l, "%s", n.Msg)
		}
	}
}
