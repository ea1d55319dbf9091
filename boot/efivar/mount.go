package efivar

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// ErrNoUEFI is a machine that did not boot in UEFI mode: root has no
// sys/firmware/efi, so there are no variables to read.
var ErrNoUEFI = fmt.Errorf("no UEFI: the machine did not boot in UEFI mode: %w", fs.ErrNotExist)

// Mount returns the variables of the machine whose root is root ("/" on
// a machine), mounting efivarfs on root's sys/firmware/efi/efivars first
// when the machine booted in UEFI mode and it is not mounted yet: an
// initramfs mounts sysfs, but efivarfs only if its init does. A machine
// that did not boot in UEFI mode (legacy BIOS, or a kernel started
// without EFI runtime services) is ErrNoUEFI, which errors.Is
// fs.ErrNotExist. A directory that already holds variables (a mounted
// efivarfs, or a copy) is used as it is.
func Mount(root string) (Vars, error) {
	efi := filepath.Join(root, "sys/firmware/efi")
	dir := filepath.Join(efi, "efivars")
	v := Vars{Dir: dir}
	if _, err := os.Stat(efi); errors.Is(err, fs.ErrNotExist) {
		return v, ErrNoUEFI
	}
	if v.Available() == nil {
		return v, nil
	}
	if err := sys.Mount("efivarfs", dir, "efivarfs", sys.MS_NOSUID|sys.MS_NODEV|sys.MS_NOEXEC, ""); err != nil {
		return v, fmt.Errorf("mounting efivarfs on %s: %w", dir, err)
	}
	return v, nil
}
