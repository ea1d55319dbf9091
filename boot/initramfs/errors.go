package initramfs

import "errors"

// ErrFormat is an image that is not what the kernel would unpack.
var ErrFormat = errors.New("not an initramfs")
