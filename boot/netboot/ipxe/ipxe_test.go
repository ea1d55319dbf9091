package ipxe

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// server is a fake network: URL -> body; a body starting #!ipxe is a
// script.
type server map[string]string

func (s server) probe(ctx context.Context, u *url.URL) ([]byte, bool, error) {
	b, ok := s[u.String()]
	if !ok {
		return nil, false, errors.New("404 Not Found")
	}
	if isMagic(strings.SplitN(b, "\n", 2)[0]) {
		return []byte(b), true, nil
	}
	return nil, false, nil
}

type got struct {
	Kernel   string
	Initrds  []string
	Cmdline  string
	At       string
	Echo     []string
	Warnings []string
}

func run(t *testing.T, srv server, settings map[string]string, start string) (got, time.Duration) {
	t.Helper()
	u, err := url.Parse(start)
	if err != nil {
		t.Fatal(err)
	}
	var slept time.Duration
	c := Config{
		Settings: settings,
		Probe:    srv.probe,
		Sleep:    func(_ context.Context, d time.Duration) error { slept += d; return nil },
	}
	r := Run(context.Background(), c, u, []byte(srv[start]))
	var g got
	if r.Boot != nil {
		g.Kernel = r.Boot.Kernel.String()
		for _, i := range r.Boot.Initrds {
			g.Initrds = append(g.Initrds, i.String())
		}
		g.Cmdline = r.Boot.Cmdline
		g.At = r.Boot.Source.String()
	}
	g.Echo = r.Echo
	for _, w := range r.Warnings {
		g.Warnings = append(g.Warnings, w.String())
	}
	return g, slept
}

const base = "http://10.0.2.2/boot/"

var files = server{
	base + "vmlinuz":          "kernel",
	base + "initrd.img":       "initrd",
	base + "ucode.img":        "ucode",
	"tftp://10.0.2.2/vmlinuz": "kernel",
}

func with(s server, more server) server {
	out := server{}
	for k, v := range s {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

var settings = map[string]string{
	"net0/mac": "52:54:00:12:34:56",
	"net0/ip":  "10.0.2.15",
	"uuid":     "8e6e4e8a-9c3b-4d8f-9a2e-1d2c3b4a5f60",
	"hostname": "node7",
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		more   server
		want   got
	}{{
		name: "kernel initrd boot, relative to the script",
		script: `#!ipxe
kernel vmlinuz console=ttyS0 root=/dev/vda1
initrd ucode.img
initrd /boot/initrd.img
boot
echo not reached`,
		want: got{Kernel: base + "vmlinuz", Initrds: []string{base + "ucode.img", base + "initrd.img"},
			Cmdline: "console=ttyS0 root=/dev/vda1", At: base + "boot.ipxe:5"},
	}, {
		name: "settings, imgargs, options, continued lines, comments",
		script: `#!ipxe
# a comment
set args console=ttyS0 \
  quiet
kernel --name k --timeout 5000 ${base}vmlinuz ignored   # replaced by imgargs
imgargs k ${args} host=${hostname} ip=${ip} mac=${net0/mac:hexhyp} raw=${mac:hexraw} uuid=${uuid}
initrd -n initrd.magic initrd.img
boot k`,
		want: got{Kernel: base + "vmlinuz", Initrds: []string{base + "initrd.img"},
			Cmdline: "console=ttyS0 quiet host=node7 ip=10.0.2.15 mac=52-54-00-12-34-56 raw=525400123456 uuid=8e6e4e8a-9c3b-4d8f-9a2e-1d2c3b4a5f60",
			At:      base + "boot.ipxe:8"},
	}, {
		name: "chain by MAC, then a kernel chained directly",
		script: `#!ipxe
echo hello from ${hostname}
chain --autofree hosts/${net0/mac:hexhyp}.ipxe || chain hosts/default.ipxe`,
		more: server{base + "hosts/52-54-00-12-34-56.ipxe": "#!ipxe\ninitrd ../initrd.img\nchain ../vmlinuz console=ttyS0\n"},
		want: got{Kernel: base + "vmlinuz", Initrds: []string{base + "initrd.img"}, Cmdline: "console=ttyS0",
			At: base + "hosts/52-54-00-12-34-56.ipxe:3", Echo: []string{"hello from node7"}},
	}, {
		name: "a failed fetch handled by || goto",
		script: `#!ipxe
kernel vmlinuz-new || goto old
boot
:old
kernel tftp://10.0.2.2/vmlinuz
boot`,
		want: got{Kernel: "tftp://10.0.2.2/vmlinuz", At: base + "boot.ipxe:6",
			Warnings: []string{base + "boot.ipxe:2: kernel: " + base + "vmlinuz-new: 404 Not Found"}},
	}, {
		name: "isset, iseq, && and ||",
		script: `#!ipxe
isset ${nothing} && goto wrong || echo unset
iseq ${hostname} node7 && goto right || goto wrong
:wrong
exit 1
:right
set k vmlinuz
kernel ${k} && boot`,
		want: got{Kernel: base + "vmlinuz", At: base + "boot.ipxe:8", Echo: []string{"unset"}},
	}, {
		name: "an unknown command stops the script",
		script: `#!ipxe
kernel vmlinuz
menu Pick one
boot`,
		want: got{Warnings: []string{base + "boot.ipxe:3: menu: warmboot does not run this iPXE command; the script stops here unless a || handles it"}},
	}, {
		name: "an unknown command handled by ||",
		script: `#!ipxe
kernel vmlinuz
imgtrust --permanent || echo no imgtrust
dhcp && boot`,
		want: got{Kernel: base + "vmlinuz", At: base + "boot.ipxe:4", Echo: []string{"no imgtrust"},
			Warnings: []string{base + "boot.ipxe:3: imgtrust: warmboot does not run this iPXE command; the script stops here unless a || handles it"}},
	}, {
		name:   "exit ends the script without booting",
		script: "#!ipxe\nexit\nkernel vmlinuz\nboot\n",
		want:   got{},
	}, {
		name:   "a script that is not one",
		script: "kernel vmlinuz\nboot\n",
		want:   got{Warnings: []string{base + "boot.ipxe: not an iPXE script (it does not begin with #!ipxe)"}},
	}, {
		name:   "boot with nothing selected",
		script: "#!ipxe\nboot\n",
		want:   got{Warnings: []string{base + "boot.ipxe:2: boot: no kernel selected (kernel URL first)"}},
	}, {
		name:   "a goto to nowhere",
		script: "#!ipxe\ngoto nowhere\n",
		want:   got{Warnings: []string{base + "boot.ipxe:2: goto nowhere: the script has no label :nowhere"}},
	}, {
		name:   "a scheme warmboot does not fetch",
		script: "#!ipxe\nchain file:///etc/passwd || chain ftp://x/y || kernel vmlinuz\nboot",
		want: got{Kernel: base + "vmlinuz", At: base + "boot.ipxe:3", Warnings: []string{
			base + "boot.ipxe:2: chain: file:///etc/passwd: warmboot fetches http, https and tftp URLs only",
			base + "boot.ipxe:2: chain: ftp://x/y: warmboot fetches http, https and tftp URLs only"}},
	}, {
		name:   "a kernel that is a script runs when booted",
		script: "#!ipxe\nkernel next.ipxe\nboot\n",
		more:   server{base + "next.ipxe": "#!ipxe\nkernel vmlinuz a=1\nboot\n"},
		want:   got{Kernel: base + "vmlinuz", Cmdline: "a=1", At: base + "next.ipxe:3"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := with(files, tc.more)
			srv[base+"boot.ipxe"] = tc.script
			srv[base+"base"] = ""
			s := map[string]string{"base": base}
			for k, v := range settings {
				s[k] = v
			}
			g, _ := run(t, srv, s, base+"boot.ipxe")
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("Run (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHostile: scripts that loop, chain themselves, expand forever or
// sleep forever end with a warning, at once.
func TestHostile(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         string
	}{
		{"goto loop", "#!ipxe\n:a\necho x\ngoto a\n", "more than 10000 commands run"},
		{"chain itself", "#!ipxe\nchain boot.ipxe\n", "chained more than 8 scripts deep"},
		{"self-naming setting (from a hostile DHCP server)", "#!ipxe\necho ${hostname}\n", "does a setting name itself?"},
		{"doubling setting", "#!ipxe\nset a xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n:l\nset a ${a}${a}\ngoto l\n", "expanded to more than 4096 bytes"},
		{"sleep forever", "#!ipxe\n:l\nsleep 4294967295\ngoto l\n", "waiting no longer than 30s"},
		{"huge script", "#!ipxe\n" + strings.Repeat("echo x\n", MaxScript/7), "larger than 256 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := with(files, server{base + "boot.ipxe": tc.script})
			start := time.Now()
			g, slept := run(t, srv, map[string]string{"hostname": "${hostname}${hostname}"}, base+"boot.ipxe")
			if g.Kernel != "" {
				t.Errorf("booted %s", g.Kernel)
			}
			if slept > MaxSleep {
				t.Errorf("slept %s, more than %s", slept, MaxSleep)
			}
			if !strings.Contains(strings.Join(g.Warnings, "\n"), tc.want) {
				t.Errorf("warnings %q, want one with %q", g.Warnings, tc.want)
			}
			if len(g.Warnings) > 100 || len(g.Echo) > 100 {
				t.Errorf("%d warnings, %d echoes: unbounded", len(g.Warnings), len(g.Echo))
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Logf("took %s", d) // reported, not asserted
			}
		})
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	u, _ := url.Parse(base + "boot.ipxe")
	r := Run(ctx, Config{Probe: files.probe}, u, []byte("#!ipxe\nsleep 5\nkernel vmlinuz\nboot\n"))
	if r.Boot != nil {
		t.Errorf("booted after the context ended: %+v", r.Boot)
	}
}

// TestOperatorScript runs testdata's script, the shape operators write:
// no per-host script, so the default.
func TestOperatorScript(t *testing.T) {
	b, err := os.ReadFile("testdata/netbootxyz-like.ipxe")
	if err != nil {
		t.Fatal(err)
	}
	start := "http://10.0.2.2/boot/menu.ipxe"
	srv := with(files, server{start: string(b)})
	g, _ := run(t, srv, settings, start)
	want := got{Kernel: base + "vmlinuz", Initrds: []string{base + "initrd.img"},
		Cmdline: "initrd=initrd.img console=ttyS0,115200 ip=dhcp BOOTIF=01-52-54-00-12-34-56", At: start + ":11",
		Echo:     []string{"Booting node7 (52:54:00:12:34:56) from http://10.0.2.2/boot"},
		Warnings: []string{start + ":7: chain: " + base + "hosts/52-54-00-12-34-56.ipxe: 404 Not Found"}}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("Run (-want +got):\n%s", diff)
	}
}
