package restart

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/state"
)

// UnsafeFile records the kernels after whose kexec a device did not come
// back on this machine (the device check before "warmboot bless"): later
// swaps to them go through the firmware until the operator clears it
// ("warmswap -clear-unsafe", or removing the file). It is the running
// system's, not the boot partition's: only the running system kexecs.
const UnsafeFile = "/var/lib/warmboot/kexec-unsafe.json"

// UnsafeVersion is the record's version.
const UnsafeVersion = 1

// Bounds on what is read and kept.
const (
	maxUnsafeFile    = 1 << 20
	maxUnsafeKernels = 64
	maxUnsafeDevices = 32
)

// Unsafe is the record: typed and versioned, as every record that
// crosses boots.
type Unsafe struct {
	Version int            `json:"version"`
	Kernels []UnsafeKernel `json:"kernels"`
	// Unreadable, when set, is why the file could not be read: then no
	// kernel is known to be safe (Why says so for every kernel).
	Unreadable string `json:"-"`
}

// UnsafeKernel is a kernel after whose kexec devices were lost. A kernel
// is known by its file's digest: a rebuilt kernel (a fixed driver) is
// another kernel.
type UnsafeKernel struct {
	// Kernel is the SHA-256 of the kernel file, in hex.
	Kernel string `json:"kernel"`
	// Release is what it said it was (uname -r), for people.
	Release string `json:"release,omitempty"`
	// Entry is the entry that booted it.
	Entry string `json:"entry,omitempty"`
	// Devices are the devices lost, as the check said them
	// ("net/enp1s0: link enp1s0 (52:54:…) is gone; it had carrier before").
	Devices []string  `json:"devices"`
	At      time.Time `json:"at"`
}

func (k UnsafeKernel) short() string {
	d := k.Kernel
	if len(d) > 12 {
		d = d[:12] + "…"
	}
	if k.Release != "" {
		return fmt.Sprintf("kernel %s (sha256 %s)", k.Release, d)
	}
	return "kernel sha256 " + d
}

// ReadUnsafe reads root's record; none is an empty record.
func ReadUnsafe(root string) (Unsafe, error) {
	p := filepath.Join(root, UnsafeFile)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Unsafe{Version: UnsafeVersion}, nil
	}
	if err != nil {
		return Unsafe{Version: UnsafeVersion}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxUnsafeFile+1))
	if err != nil {
		return Unsafe{Version: UnsafeVersion}, err
	}
	if len(b) > maxUnsafeFile {
		err := fmt.Errorf("%s: larger than %d bytes: not a record warmswap wrote (fix or remove it: warmswap -clear-unsafe)", p, maxUnsafeFile)
		return Unsafe{Version: UnsafeVersion, Unreadable: err.Error()}, err
	}
	u, err := ParseUnsafe(b)
	var bad *BadEntries
	switch {
	case errors.As(err, &bad):
		return u, fmt.Errorf("%s: %w (the other kernels recorded hold)", p, err)
	case err != nil:
		err = fmt.Errorf("%s: %w (fix or remove it: warmswap -clear-unsafe)", p, err)
		return Unsafe{Version: UnsafeVersion, Unreadable: err.Error()}, err
	}
	return u, nil
}

// BadEntries are entries of a record ParseUnsafe left out.
type BadEntries struct{ Why []string }

func (e *BadEntries) Error() string { return "left out: " + strings.Join(e.Why, "; ") }

// ParseUnsafe reads a record of version UnsafeVersion.
func ParseUnsafe(b []byte) (Unsafe, error) {
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Unsafe{}, fmt.Errorf("not a kexec-unsafe record: %v", err)
	}
	if v.Version != UnsafeVersion {
		return Unsafe{}, fmt.Errorf("kexec-unsafe record version %d (this reads version %d)", v.Version, UnsafeVersion)
	}
	var u Unsafe
	if err := json.Unmarshal(b, &u); err != nil {
		return Unsafe{}, fmt.Errorf("not a kexec-unsafe record: %v", err)
	}
	// An entry is left out on its own (an operator's typo does not
	// lose the others); digests are taken in either case.
	var bad BadEntries
	kept := u.Kernels[:0]
	for _, k := range u.Kernels {
		k.Kernel = strings.ToLower(k.Kernel)
		if !isDigest(k.Kernel) {
			bad.Why = append(bad.Why, fmt.Sprintf("kernel digest %q is not 64 hex digits", k.Kernel))
			continue
		}
		kept = append(kept, k)
	}
	u.Kernels = kept
	if len(bad.Why) > 0 {
		return u, &bad
	}
	return u, nil
}

func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// Find is the record of kernel (a digest in hex), nil when it has none.
func (u Unsafe) Find(kernel string) *UnsafeKernel {
	for i := range u.Kernels {
		if u.Kernels[i].Kernel == kernel {
			return &u.Kernels[i]
		}
	}
	return nil
}

// Why says why kexec into kernel is unsafe here, "" when nothing says
// it is.
func (u Unsafe) Why(kernel string) string {
	if u.Unreadable != "" {
		return "the record of kernels not safe to kexec here is unreadable (" + u.Unreadable + ")"
	}
	k := u.Find(kernel)
	if k == nil {
		return ""
	}
	return fmt.Sprintf("%s lost %s after a kexec on %s (recorded in %s; \"warmswap -clear-unsafe\" clears it)",
		k.short(), strings.Join(k.Devices, "; "), k.At.UTC().Format("2006-01-02 15:04 UTC"), UnsafeFile)
}

// Add records k, merged with what was recorded of the same kernel. The
// record keeps the newest kernels when it is full.
func (u *Unsafe) Add(k UnsafeKernel) {
	u.Version = UnsafeVersion
	if old := u.Find(k.Kernel); old != nil {
		for _, d := range k.Devices {
			if !slices.Contains(old.Devices, d) {
				old.Devices = append(old.Devices, d)
			}
		}
		if len(old.Devices) > maxUnsafeDevices {
			old.Devices = old.Devices[len(old.Devices)-maxUnsafeDevices:]
		}
		old.At, old.Release, old.Entry = k.At, k.Release, k.Entry
		return
	}
	if len(k.Devices) > maxUnsafeDevices {
		k.Devices = k.Devices[:maxUnsafeDevices]
	}
	u.Kernels = append(u.Kernels, k)
	if len(u.Kernels) > maxUnsafeKernels {
		u.Kernels = u.Kernels[len(u.Kernels)-maxUnsafeKernels:]
	}
}

// WriteUnsafe replaces root's record atomically (state.Write). An
// unreadable record (u.Unreadable) is kept aside, as FILE.unreadable,
// for the operator.
func WriteUnsafe(root string, u Unsafe) error {
	u.Version = UnsafeVersion
	if u.Unreadable != "" {
		p := filepath.Join(root, UnsafeFile)
		if err := os.Rename(p, p+".unreadable"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return state.WriteJSON(filepath.Join(root, UnsafeFile), u)
}

// ClearUnsafe removes root's record: every kernel is kexec'd again.
func ClearUnsafe(root string) error {
	err := os.Remove(filepath.Join(root, UnsafeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
