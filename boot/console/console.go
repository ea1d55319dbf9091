// Package console reaches every active kernel console: output is teed to all
// of them, key presses are read from all of them in raw mode, and a shell
// gets the primary one.
package console

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// Set is every active kernel console (/sys/class/tty/console/active:
// "tty0 ttyS0" for console=tty0 console=ttyS0), so the menu shows on the
// screen and the serial line alike and a key on either chooses.
type Set struct {
	files    []*os.File
	fallback io.Writer
	mu       sync.Mutex
}

// Open opens the active consoles under root ("/" on a machine):
// sys/class/tty/console/active names them, dev/ holds them. With none,
// output goes to fallback.
func Open(root string, fallback io.Writer) *Set {
	c := &Set{fallback: fallback}
	data, _ := os.ReadFile(filepath.Join(root, "sys/class/tty/console/active"))
	for _, name := range strings.Fields(string(data)) {
		if strings.ContainsAny(name, "/.") {
			continue
		}
		f, err := os.OpenFile(filepath.Join(root, "dev", name), os.O_RDWR, 0)
		if err == nil {
			c.files = append(c.files, f)
		}
	}
	return c
}

// Write writes p to every console.
func (c *Set) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.files) == 0 {
		return c.fallback.Write(p)
	}
	for _, f := range c.files {
		f.Write(p)
	}
	return len(p), nil
}

// Primary is the console a shell runs on: the last one named on the
// kernel command line, which is /dev/console's.
func (c *Set) Primary() *os.File {
	if f, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		return f
	}
	if len(c.files) > 0 {
		return c.files[len(c.files)-1]
	}
	return os.Stdin
}

// Keys reads key presses from every console in raw mode. stop ends the
// readers and restores the terminals, so a shell started later gets the
// input.
func (c *Set) Keys() (keys <-chan byte, stop func()) {
	ch := make(chan byte, 64)
	if len(c.files) == 0 {
		close(ch)
		return ch, func() {}
	}
	var wg sync.WaitGroup
	quit := make(chan struct{})
	var restores []func()
	for _, f := range c.files {
		restore, ok := sys.RawTerminal(f)
		if !ok {
			continue
		}
		restores = append(restores, restore)
		wg.Add(1)
		go func(f *os.File) {
			defer wg.Done()
			buf := make([]byte, 16)
			for {
				n, err := sys.ReadTimeout(f, buf, 100*time.Millisecond)
				for _, k := range buf[:n] {
					select {
					case ch <- k:
					case <-quit:
						return
					}
				}
				select {
				case <-quit:
					return
				default:
				}
				if err != nil {
					return
				}
			}
		}(f)
	}
	if len(restores) == 0 {
		close(ch)
		return ch, func() {}
	}
	return ch, func() {
		close(quit)
		wg.Wait()
		for _, r := range restores {
			r()
		}
	}
}

// Close closes the console files.
func (c *Set) Close() {
	for _, f := range c.files {
		f.Close()
	}
}
