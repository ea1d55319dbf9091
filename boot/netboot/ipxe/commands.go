package ipxe

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
)

// noops succeed: warmboot has brought the network up before any script
// runs, so asking for it again is done.
var noops = map[string]bool{"dhcp": true, "ifopen": true, "ifconf": true, "ifstat": true}

// command runs one expanded command.
func (r *runner) command(u *url.URL, src entry.Source, argv []string, depth int) error {
	fail := func(format string, args ...any) error {
		err := fmt.Errorf(format, args...)
		r.warn(src, "%s: %v", argv[0], err)
		return err
	}
	switch argv[0] {
	case "kernel", "imgselect", "imgload", "initrd", "imgfetch", "module", "chain", "imgexec":
		return r.image(u, src, argv, depth)
	case "imgargs":
		if len(argv) < 2 {
			return fail("want an image name")
		}
		im := r.find(argv[1])
		if im == nil {
			return fail("no image %q", argv[1])
		}
		im.args = append([]string(nil), argv[2:]...)
		return nil
	case "boot":
		im := r.selected
		if len(argv) > 1 {
			if im = r.find(argv[1]); im == nil {
				return fail("no image %q", argv[1])
			}
		}
		if im == nil {
			return fail("no kernel selected (kernel URL first)")
		}
		if im.script != nil {
			return r.chain(src, im, depth)
		}
		r.boot(src, im)
		return nil
	case "imgfree":
		if len(argv) > 1 {
			kept := r.images[:0]
			for _, im := range r.images {
				if im.name != argv[1] {
					kept = append(kept, im)
				}
			}
			r.images = kept
			if r.selected != nil && r.selected.name == argv[1] {
				r.selected = nil
			}
		} else {
			r.images, r.selected = nil, nil
		}
		return nil
	case "set":
		if len(argv) < 2 {
			return fail("want a setting name")
		}
		v := strings.Join(argv[2:], " ")
		old, had := r.settings[argv[1]]
		if !had && len(r.settings) >= 1024 {
			return fail("too many settings")
		}
		if r.held-len(old)+len(v) > MaxSettings {
			return fail("the settings would hold more than %d KiB", MaxSettings>>10)
		}
		r.held += len(v) - len(old)
		r.settings[argv[1]] = v
		return nil
	case "clear":
		if len(argv) != 2 {
			return fail("want a setting name")
		}
		r.held -= len(r.settings[argv[1]])
		delete(r.settings, argv[1])
		return nil
	case "echo":
		args := argv[1:]
		if len(args) > 0 && args[0] == "-n" {
			args = args[1:]
		}
		if len(r.res.Echo) < 100 {
			line := strings.Join(args, " ")
			if len(line) > 256 {
				line = line[:256] + "..."
			}
			r.res.Echo = append(r.res.Echo, line)
		}
		return nil
	case "sleep":
		if len(argv) != 2 {
			return fail("want a number of seconds")
		}
		n, err := strconv.ParseUint(argv[1], 0, 32)
		if err != nil {
			return fail("%q is not a number of seconds", argv[1])
		}
		d := time.Duration(n) * time.Second
		if r.slept+d > MaxSleep {
			r.warn(src, "sleep %s: the scripts have slept %s; waiting no longer than %s in all", argv[1], r.slept, MaxSleep)
			d = MaxSleep - r.slept
		}
		r.slept += d
		if err := r.c.Sleep(r.ctx, d); err != nil {
			return errFatal{err}
		}
		return nil
	case "exit":
		if len(argv) > 2 {
			return fail("want at most one status")
		}
		if len(argv) == 2 {
			if _, err := strconv.ParseUint(argv[1], 0, 32); err != nil {
				return fail("%q is not a status", argv[1])
			}
		}
		return errExit
	case "isset":
		if len(argv) != 2 {
			return errors.New("isset: want one value")
		}
		if argv[1] == "" {
			return errors.New("not set")
		}
		return nil
	case "iseq":
		if len(argv) != 3 {
			return errors.New("iseq: want two values")
		}
		if argv[1] != argv[2] {
			return errors.New("not equal")
		}
		return nil
	case "prompt":
		// No one is at an iPXE prompt here: it times out at once.
		return errors.New("prompt: no key pressed")
	}
	if noops[argv[0]] {
		return nil
	}
	r.warn(src, "%s: warmboot does not run this iPXE command; the script stops here unless a || handles it", argv[0])
	return fmt.Errorf("%s: not supported", argv[0])
}

// image runs kernel, initrd and chain and their aliases.
func (r *runner) image(base *url.URL, src entry.Source, argv []string, depth int) error {
	cmd := argv[0]
	fail := func(format string, args ...any) error {
		err := fmt.Errorf(format, args...)
		r.warn(src, "%s: %v", cmd, err)
		return err
	}
	args := argv[1:]
	var name string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		opt := args[0]
		args = args[1:]
		switch {
		case opt == "--":
			goto done
		case opt == "-n" || opt == "--name" || opt == "-t" || opt == "--timeout":
			if len(args) == 0 {
				return fail("%s wants a value", opt)
			}
			if opt == "-n" || opt == "--name" {
				name = args[0]
			}
			args = args[1:]
		case strings.HasPrefix(opt, "--name="):
			name = strings.TrimPrefix(opt, "--name=")
		case strings.HasPrefix(opt, "--timeout="):
		case opt == "-a" || opt == "--autofree" || opt == "-r" || opt == "--replace":
		default:
			return fail("unknown option %s", opt)
		}
	}
done:
	if len(args) == 0 {
		return fail("want a URL")
	}
	ref, err := url.Parse(args[0])
	if err != nil {
		return fail("%v", err)
	}
	u := base.ResolveReference(ref)
	switch u.Scheme {
	case "http", "https", "tftp":
	default:
		return fail("%s: warmboot fetches http, https and tftp URLs only", u.Redacted())
	}
	text, script, err := r.c.Probe(r.ctx, u)
	if err != nil {
		if r.ctx.Err() != nil {
			return errFatal{r.ctx.Err()}
		}
		return fail("%s: %v", u.Redacted(), err)
	}
	if name == "" {
		name = path.Base(u.Path)
	}
	im := &image{name: name, u: u, args: append([]string(nil), args[1:]...)}
	if len(r.images) >= 64 {
		return fail("more than 64 images")
	}
	// A name already taken replaces that image (iPXE's register_image).
	for i, old := range r.images {
		if old.name == name {
			r.images = append(r.images[:i], r.images[i+1:]...)
			break
		}
	}
	r.images = append(r.images, im)
	switch cmd {
	case "initrd", "imgfetch", "module":
		if len(im.args) > 0 {
			// iPXE puts the file at that path in an initrd.magic cpio
			// (for EFI); warmboot passes the file as an initrd as it is.
			r.warn(src, "%s: the arguments %q are ignored: warmboot passes %s as an initrd as it is, not at a path inside one", cmd, strings.Join(im.args, " "), u.Redacted())
			im.args = nil
		}
	case "kernel", "imgselect", "imgload":
		if script {
			// iPXE would select the script; boot would run it.
			im.script = text
		}
		r.selected = im
	case "chain", "imgexec":
		if !script {
			r.boot(src, im)
			return nil
		}
		im.script = text
		return r.chain(src, im, depth)
	}
	return nil
}

// chain runs a script image.
func (r *runner) chain(src entry.Source, im *image, depth int) error {
	if depth+1 > MaxDepth {
		r.warn(src, "%s: chained more than %d scripts deep; stopped", im.u.Redacted(), MaxDepth)
		return errFatal{errors.New("chain too deep")}
	}
	// The script is not an initrd of what it boots.
	for i, o := range r.images {
		if o == im {
			r.images = append(r.images[:i], r.images[i+1:]...)
			break
		}
	}
	if r.selected == im {
		r.selected = nil
	}
	return r.script(im.u, im.script, depth+1)
}

func (r *runner) find(name string) *image {
	for _, im := range r.images {
		if im.name == name {
			return im
		}
	}
	return nil
}

// boot records the selected kernel with every other image as an initrd,
// in the order they were fetched (iPXE's bzImage loader).
func (r *runner) boot(src entry.Source, k *image) {
	b := &Boot{Kernel: k.u, Cmdline: strings.Join(k.args, " "), Source: src}
	for _, im := range r.images {
		if im != k {
			b.Initrds = append(b.Initrds, im.u)
		}
	}
	r.res.Boot = b
	r.booted = true
}
