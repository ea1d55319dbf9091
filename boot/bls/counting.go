package bls

import (
	"fmt"
	"strconv"
	"strings"
)

// Counter is the Boot Loader Specification's boot counter, carried in an
// entry's file name: "NAME+LEFT-DONE.conf" ("NAME+LEFT.conf" before the
// first attempt, DONE then 0). systemd-boot and systemd-bless-boot, and
// kernel-install's /etc/kernel/tries, all read and write these names.
type Counter struct {
	Left, Done int
}

// ParseCounter splits a file name ("fedora-6.1+2-1.conf") into its base
// ("fedora-6.1"), its counter and the suffix (".conf", or ".efi" for a
// Type #2 entry). ok is false when the name carries no counter: then base
// is the name without its suffix.
// LEFT and DONE are decimal digits only, as systemd-boot parses them.
func ParseCounter(file string) (base string, c Counter, ok bool) {
	stem := strings.TrimSuffix(file, suffix(file))
	i := strings.LastIndexByte(stem, '+')
	if i < 0 {
		return stem, Counter{}, false
	}
	left, done, hasDone := strings.Cut(stem[i+1:], "-")
	l, okL := digits(left)
	d, okD := 0, true
	if hasDone {
		d, okD = digits(done)
	}
	if !okL || !okD {
		return stem, Counter{}, false
	}
	return stem[:i], Counter{Left: l, Done: d}, true
}

// maxCount is the largest LEFT or DONE a name carries: nine digits,
// so a count never overflows and always parses back.
const maxCount = 999999999

func digits(s string) (int, bool) {
	if s == "" || len(s) > len(strconv.Itoa(maxCount)) || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func (c Counter) name(base, suffix string) string {
	return fmt.Sprintf("%s+%d-%d%s", base, c.Left, c.Done, suffix)
}

// suffix is what follows the counter: ".conf" for an entry file, ".efi"
// for a unified kernel image.
func suffix(file string) string {
	// systemd-boot matches ".efi" in any case (FAT is case-insensitive).
	for _, s := range []string{".conf", ".efi"} {
		if n := len(file) - len(s); n >= 0 && strings.EqualFold(file[n:], s) {
			return file[n:]
		}
	}
	return ""
}

// Attempted is the name file gets when the boot loader tries it, as
// systemd-boot renames it: LEFT one less (never below 0), DONE one more
// (never past maxCount, as systemd-boot stops at its integer's limit).
// ok is false for a file without a counter (it is not counted).
func Attempted(file string) (next string, ok bool) {
	base, c, ok := ParseCounter(file)
	if !ok {
		return file, false
	}
	if c.Left > 0 {
		c.Left--
	}
	if c.Done < maxCount {
		c.Done++
	}
	return c.name(base, suffix(file)), true
}

// Blessed is the name systemd-bless-boot gives a file whose boot
// succeeded ("good"): the counter removed.
func Blessed(file string) string {
	base, _, ok := ParseCounter(file)
	if !ok {
		return file
	}
	return base + suffix(file)
}

// Bad is the name systemd-bless-boot gives a file marked "bad": no tries
// left, DONE kept, so it ranks last.
func Bad(file string) string {
	base, c, ok := ParseCounter(file)
	if !ok {
		c = Counter{}
	}
	c.Left = 0
	return c.name(base, suffix(file))
}
