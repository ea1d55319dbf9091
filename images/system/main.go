//go:build linux

// Command system is the init of the small Linux system the warm-swap VM
// tests (and the swap benchmark) run, standing in for a server's OS.
//
// In its initramfs (stage 1, /init, with /etc/wbsys-initramfs present) it
// loads the disk and ext4 modules, mounts root= read-write, copies what
// warmboot handed over (/.warmboot) to /run/warmboot on the new root, as
// an initramfs hook would, and switches root to /sbin/init.
//
// On the root filesystem (stage 2, PID 1) it counts boots in
// /var/lib/wbsys/boots, prints
//
//	WARMBOOT-SYSTEM-UP boot=N entry=ID by=WHO mem_available_kb=M run_files=F
//
// and runs the commands typed on the console, one per line: "write PATH
// TEXT" (no sync), "daemon PATH" (a background process that logs to PATH
// and, on SIGTERM, logs that it stopped cleanly), "stubborn" (a process
// that ignores SIGTERM), "alive" (are they still running), "set PATH
// VALUE" (write a /proc or /sys file), "cat PATH", "rm PATH", "mount DEV
// DIR TYPE", "statewrite N PATH" (N boot state files, last-known-good w1 …
// wN), or any program with arguments (double quotes group words).
// Each command ends with a line "WBSYS-DONE <status>".
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/modload"
	"github.com/warmboot/warmboot/boot/state"
)

var out io.Writer = os.Stdout

func say(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }

func main() {
	if len(os.Args) > 2 && os.Args[1] == "daemon" {
		daemon(os.Args[2])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
		for {
			time.Sleep(time.Hour)
		}
	}
	if c, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		out = c
	}
	if _, err := os.Stat("/etc/wbsys-initramfs"); err == nil {
		if err := stage1(); err != nil {
			say("wbsys: stage 1: %v", err)
			time.Sleep(time.Hour)
		}
		return
	}
	stage2()
}

func mountAPI(prefix string) {
	for _, m := range []struct{ src, dir, typ string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		os.MkdirAll(prefix+m.dir, 0o755)
		syscall.Mount(m.src, prefix+m.dir, m.typ, 0, "")
	}
}

func stage1() error {
	mountAPI("")
	if c, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		out = c
	}
	if r, err := modload.LoadSystem(); err != nil || len(r.Errors) > 0 {
		say("wbsys: modules: %v %v", err, r.Errors)
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	root := ""
	for _, f := range strings.Fields(string(cmdline)) {
		if v, ok := strings.CutPrefix(f, "root="); ok {
			root = v
		}
	}
	if root == "" {
		return fmt.Errorf("no root= on the command line")
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(root); err == nil {
			break
		}
		if i == 100 {
			return fmt.Errorf("%s did not appear", root)
		}
		time.Sleep(100 * time.Millisecond)
	}
	os.MkdirAll("/newroot", 0o755)
	if err := syscall.Mount(root, "/newroot", "ext4", 0, ""); err != nil {
		return fmt.Errorf("mounting %s: %w", root, err)
	}
	if err := syscall.Mount("tmpfs", "/newroot/run", "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mounting /run: %w", err)
	}
	// What warmboot handed over survives switch_root under /run/warmboot.
	if ents, err := os.ReadDir(handoff.Dir); err == nil {
		os.MkdirAll("/newroot/run/warmboot", 0o755)
		for _, e := range ents {
			if data, err := os.ReadFile(filepath.Join(handoff.Dir, e.Name())); err == nil {
				os.WriteFile(filepath.Join("/newroot/run/warmboot", e.Name()), data, 0o644)
			}
		}
	}
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		if err := syscall.Mount(d, "/newroot"+d, "", syscall.MS_MOVE, ""); err != nil {
			return fmt.Errorf("moving %s: %w", d, err)
		}
	}
	if err := os.Chdir("/newroot"); err != nil {
		return err
	}
	if err := syscall.Mount(".", "/", "", syscall.MS_MOVE, ""); err != nil {
		return fmt.Errorf("switching root: %w", err)
	}
	if err := syscall.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	os.Chdir("/")
	return syscall.Exec("/sbin/init", []string{"/sbin/init"}, os.Environ())
}

func stage2() {
	boots := 0
	const counter = "/var/lib/wbsys/boots"
	if b, err := os.ReadFile(counter); err == nil {
		boots, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	boots++
	os.MkdirAll(filepath.Dir(counter), 0o755)
	if f, err := os.Create(counter); err == nil {
		fmt.Fprintf(f, "%d\n", boots)
		f.Sync()
		f.Close()
	}
	entry, by := "none", "none"
	if data, err := os.ReadFile("/run/warmboot/booted.json"); err == nil {
		if b, err := handoff.ParseBooted(data); err == nil {
			entry, by = b.Entry, strings.ReplaceAll(b.By, " ", "_")
		}
	}
	say("WARMBOOT-SYSTEM-UP boot=%d entry=%s by=%s mem_available_kb=%d run_files=%d", boots, entry, by, memAvailable(), countFiles("/run"))
	shell()
}

func memAvailable() int {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "MemAvailable:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return -1
}

func countFiles(dir string) int {
	n := 0
	filepath.Walk(dir, func(string, os.FileInfo, error) error { n++; return nil })
	return n
}

var children = map[string]*os.Process{}

func shell() {
	in := bufio.NewReader(os.Stdin)
	if c, ok := out.(*os.File); ok {
		in = bufio.NewReader(c)
	}
	for {
		fmt.Fprint(out, "wbsys$ ")
		line, err := in.ReadString('\n')
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		f := split(line)
		if len(f) == 0 {
			continue
		}
		status := command(f)
		say("WBSYS-DONE %s", status)
	}
}

func command(f []string) string {
	switch f[0] {
	case "write":
		if len(f) < 3 {
			return "usage"
		}
		if err := os.WriteFile(f[1], []byte(strings.Join(f[2:], " ")+"\n"), 0o644); err != nil {
			return err.Error()
		}
		return "ok"
	case "set":
		if len(f) != 3 {
			return "usage"
		}
		if err := os.WriteFile(f[1], []byte(f[2]), 0); err != nil {
			return err.Error()
		}
		return "ok"
	case "daemon", "stubborn":
		cmd := exec.Command("/sbin/init", f...)
		if err := cmd.Start(); err != nil {
			return err.Error()
		}
		children[f[0]] = cmd.Process
		go cmd.Wait()
		return fmt.Sprintf("ok pid=%d", cmd.Process.Pid)
	case "rm":
		if len(f) != 2 {
			return "usage"
		}
		if err := os.Remove(f[1]); err != nil {
			return err.Error()
		}
		return "ok"
	case "mount":
		if len(f) != 4 {
			return "usage"
		}
		if err := os.MkdirAll(f[2], 0o755); err != nil {
			return err.Error()
		}
		if err := syscall.Mount(f[1], f[2], f[3], 0, ""); err != nil {
			return err.Error()
		}
		return "ok"
	case "cat":
		if len(f) != 2 {
			return "usage"
		}
		data, err := os.ReadFile(f[1])
		if err != nil {
			return err.Error()
		}
		return "content=" + strings.TrimSpace(string(data))
	case "statewrite":
		// statewrite N PATH: N state files, one after the other, by the
		// bootloader's own atomic replace (the crash-point test logs the
		// disk's writes meanwhile).
		n, err := strconv.Atoi(f[1%len(f)])
		if len(f) != 3 || err != nil {
			return "usage"
		}
		r, err := os.OpenRoot("/")
		if err != nil {
			return err.Error()
		}
		defer r.Close()
		for i := 1; i <= n; i++ {
			if err := state.Save(r, f[2], state.State{LastGood: &state.Ref{ID: fmt.Sprintf("w%d", i)}}); err != nil {
				return err.Error()
			}
		}
		return "ok"
	case "alive":
		var s []string
		for name, p := range children {
			s = append(s, fmt.Sprintf("%s=%v", name, p.Signal(syscall.Signal(0)) == nil))
		}
		return strings.Join(s, " ")
	}
	cmd := exec.Command(f[0], f[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, out, out
	err := cmd.Run()
	if cmd.ProcessState == nil {
		return err.Error()
	}
	return fmt.Sprintf("exit=%d", cmd.ProcessState.ExitCode())
}

// split splits a command line into words; double quotes group words.
func split(line string) []string {
	var out []string
	var w strings.Builder
	in, started := false, false
	for _, r := range line {
		switch {
		case r == '"':
			in, started = !in, true
		case (r == ' ' || r == '\t' || r == '\n' || r == '\r') && !in:
			if started {
				out = append(out, w.String())
				w.Reset()
				started = false
			}
		default:
			w.WriteRune(r)
			started = true
		}
	}
	if started {
		out = append(out, w.String())
	}
	return out
}

// daemon stands in for a service with unsynced state: it logs, and on
// SIGTERM logs that it stopped and exits. Nothing is fsynced: the
// shutdown's sync must get it to the disk.
func daemon(path string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		os.Exit(1)
	}
	fmt.Fprintf(f, "daemon %d: started\n", os.Getpid())
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	<-term
	fmt.Fprintf(f, "daemon %d: stopped on SIGTERM\n", os.Getpid())
	f.Close()
	os.Exit(0)
}
