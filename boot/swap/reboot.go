package swap

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Files of the reboot path, relative to the root.
const (
	// Armed is written by "warmswap -load" once it has loaded warmboot
	// for the next reboot, and removed by "warmswap -unload". It lives
	// in /run, so it goes with the boot that loaded the image.
	Armed = "run/warmboot/armed"
	// RebootDropIn makes systemd-reboot.service run "warmswap reboot",
	// which turns a reboot into a kexec when warmboot is armed: systemd
	// before 255 reboots through the firmware even with an image loaded
	// (its SuccessAction= has no kexec there either).
	RebootDropIn = "usr/lib/systemd/system/systemd-reboot.service.d/warmboot.conf"
	// ShutdownHook is the system-shutdown executable that runs the
	// teardown and honours never-kexec at the last moment.
	ShutdownHook = "usr/lib/systemd/system-shutdown/warmboot-teardown"
	// KexecToolsDefaults is Debian's kexec-tools configuration: with
	// LOAD_KEXEC=true its kexec-load service loads /vmlinuz at every
	// reboot, after warmswap's checks. The files in KexecToolsSnippets
	// are sourced after it, in run-parts order; the warmboot package
	// puts LOAD_KEXEC=false in KexecToolsSnippets/warmboot.
	KexecToolsDefaults = "etc/default/kexec"
	KexecToolsSnippets = "etc/default/kexec.d"
)

// RebootFacts are what decide the next reboot's path.
type RebootFacts struct {
	// Loaded: a kexec image is loaded (machine.Machine.Loaded).
	Loaded bool
	// Armed: warmswap -load loaded it (Armed exists); ArmedBy is its text.
	Armed   bool
	ArmedBy string
	// NeverKexec: the never-kexec file exists.
	NeverKexec bool
	// Systemd: systemd is PID 1; DropIn and Hook: warmboot's drop-in and
	// shutdown hook are installed.
	Systemd, DropIn, Hook bool
	// KexecTools: Debian's kexec-tools loads a kernel at every reboot
	// (LOAD_KEXEC=true as /etc/default/kexec and its kexec.d leave it);
	// KexecToolsBy is the file that set it last.
	KexecTools   bool
	KexecToolsBy string
}

// ReadRebootFacts reads the facts under root; the caller knows whether
// systemd is PID 1 and whether an image is loaded.
func ReadRebootFacts(root string, systemd, loaded bool) RebootFacts {
	at := func(p string) string { return filepath.Join(root, p) }
	exists := func(p string) bool { _, err := os.Stat(at(p)); return err == nil }
	f := RebootFacts{Loaded: loaded, Systemd: systemd, NeverKexec: exists(NeverKexec), DropIn: exists(RebootDropIn), Hook: exists(ShutdownHook)}
	if b, err := os.ReadFile(at(Armed)); err == nil {
		f.Armed, f.ArmedBy = true, strings.TrimSpace(string(b))
	}
	f.KexecTools, f.KexecToolsBy = loadKexec(root)
	return f
}

// loadKexec says whether Debian's kexec-tools loads a kernel at reboot,
// as its kexec-load script decides: LOAD_KEXEC as /etc/default/kexec and
// then each file of /etc/default/kexec.d that run-parts lists (names of
// letters, digits, '_' and '-', in order) leave it. The files are shell;
// what is read here errs on the side of a warning: an assignment warmboot
// cannot be sure runs (after && or ||, inside an if) counts when it sets
// true, not when it sets false. by is the file that set it last.
func loadKexec(root string) (load bool, by string) {
	files := []string{KexecToolsDefaults}
	if ents, err := os.ReadDir(filepath.Join(root, KexecToolsSnippets)); err == nil {
		for _, e := range ents { // ReadDir sorts by name, as run-parts does in the C locale
			if runPartsName(e.Name()) && !e.IsDir() {
				files = append(files, path.Join(KexecToolsSnippets, e.Name()))
			}
		}
	}
	maybe, maybeBy := false, ""
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue
		}
		depth := 0 // if ... fi
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if i := strings.Index(l, "#"); i == 0 || i > 0 && (l[i-1] == ' ' || l[i-1] == '\t') {
				l = strings.TrimSpace(l[:i])
			}
			cond := depth > 0 || strings.Contains(l, "&&") || strings.Contains(l, "||")
			for _, st := range strings.FieldsFunc(l, func(r rune) bool { return r == ';' || r == '&' || r == '|' }) {
				st = strings.TrimSpace(st)
				for _, kw := range []string{"then ", "else ", "do ", "export ", "readonly "} {
					st = strings.TrimSpace(strings.TrimPrefix(st, kw))
				}
				switch f := strings.Fields(st); {
				case len(f) > 0 && f[0] == "if":
					depth++
				case len(f) > 0 && f[0] == "fi":
					depth--
				}
				v, ok := strings.CutPrefix(st, "LOAD_KEXEC=")
				if !ok {
					continue
				}
				v = strings.TrimSpace(v)
				if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
					v = v[1 : len(v)-1]
				}
				on := v == "true"
				switch {
				case !cond:
					load, by, maybe = on, "/"+name, false
				case on:
					maybe, maybeBy = true, "/"+name
				}
			}
		}
	}
	if maybe && !load {
		return true, maybeBy
	}
	return load, by
}

// runPartsName is a file name run-parts --list lists (its default
// --lsbsysinit off: letters, digits, underscores and hyphens only).
func runPartsName(n string) bool {
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return n != ""
}

// RebootPath is which way the next reboot goes, and why.
type RebootPath struct {
	// Kexec: "reboot" re-enters warmboot by kexec.
	Kexec bool
	Why   string
	// Warning, when not "", is something else that will act at the
	// reboot, behind warmboot's back.
	Warning string
}

// NextReboot decides the path of the next reboot from f; "warmswap reboot"
// (the drop-in) acts on it, and -dry-run, -load and -unload say it.
func NextReboot(f RebootFacts) RebootPath {
	p := nextReboot(f)
	if f.KexecTools {
		p.Warning = fmt.Sprintf("%s sets LOAD_KEXEC=true: kexec-tools loads /vmlinuz at every reboot, after warmboot's checks, and systemd 255 or later then reboots by kexec into it, with no verification and no trial (set LOAD_KEXEC=false, as the warmboot package's /%s/warmboot does; warmboot-load.service does the loading)", f.KexecToolsBy, KexecToolsSnippets)
	}
	return p
}

func nextReboot(f RebootFacts) RebootPath {
	switch {
	case !f.Loaded:
		return RebootPath{Why: "through the firmware: no kexec image is loaded (opt in: systemctl enable --now warmboot-load.service)"}
	case f.NeverKexec && f.Hook:
		return RebootPath{Why: fmt.Sprintf("through the firmware: %s exists; the shutdown hook unloads the loaded image at the last moment (warmswap -unload does it now)", NeverKexec)}
	case f.NeverKexec:
		return RebootPath{Why: fmt.Sprintf("through the firmware, but %s exists while an image is loaded and the shutdown hook (/%s) is not installed: \"systemctl kexec\" would still kexec; run warmswap -unload", NeverKexec, ShutdownHook)}
	case !f.Armed:
		return RebootPath{Why: "a kexec image not loaded by warmswap -load is loaded: \"systemctl kexec\" boots it; \"reboot\" leaves it to systemd (before systemd 255: through the firmware)"}
	case f.Systemd && !f.DropIn:
		return RebootPath{Why: fmt.Sprintf("warmboot is loaded (%s), but /%s is not installed: \"systemctl kexec\" re-enters warmboot, \"reboot\" goes through the firmware before systemd 255", f.ArmedBy, RebootDropIn)}
	default:
		return RebootPath{Kexec: true, Why: fmt.Sprintf("through warmboot (kexec, no firmware): %s", f.ArmedBy)}
	}
}

// RebootRequired are Debian's "a reboot is required" flag files
// (update-notifier-common, unattended-upgrades, kured's sentinel), which
// a soft reboot, keeping /run, would leave set.
var RebootRequired = []string{"run/reboot-required", "run/reboot-required.pkgs"}

// SystemdVersion reads systemd's version from "systemctl show -P
// Version" (PID 1's: "257.9-1~deb13u1") or "systemctl --version"'s first
// line ("systemd 257 (257.9-1~deb13u1)"); 0 when it says none.
func SystemdVersion(out string) int {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	line = strings.TrimPrefix(line, "systemd ")
	end := strings.IndexFunc(line, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		line = line[:end]
	}
	n, err := strconv.Atoi(line)
	if err != nil {
		return 0
	}
	return n
}
