package prepare

import (
	"fmt"
	"io"

	"github.com/warmboot/warmboot/boot/authenticode"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/safefs"
	"github.com/warmboot/warmboot/boot/uki"
	"github.com/warmboot/warmboot/boot/verify"
)

// authenticodeTrust is the image's trust as package authenticode takes
// it, nil when it has no certificates (nothing to check with).
func (p *Pipeline) authenticodeTrust() *authenticode.Trust {
	if len(p.Trust.Certs) == 0 {
		return nil
	}
	return &authenticode.Trust{Certs: p.Trust.Certs, Deny: p.Trust.Deny}
}

// checkAuthenticode checks the Authenticode signatures of a staged UKI
// and its add-ons, on the memfds' bytes.
func (p *Pipeline) checkAuthenticode(im *kexec.Image) *verify.Authenticode {
	t := p.authenticodeTrust()
	if t == nil || im.UKI == nil {
		return nil
	}
	files := []signedFile{{im.Entry.Kernel, im.UKI.File, im.UKI.Size}}
	for _, a := range im.UKI.Addons {
		files = append(files, signedFile{a.Path, a.File, a.Size})
	}
	return checkFiles(im.Entry, files, *t)
}

type signedFile struct {
	path string
	r    io.ReaderAt
	size int64
}

func checkFiles(e entry.Entry, files []signedFile, t authenticode.Trust) *verify.Authenticode {
	var out verify.Authenticode
	for i, f := range files {
		pe, err := uki.ParsePE(f.r, f.size)
		var res authenticode.Result
		if err == nil {
			res, err = authenticode.Verify(f.r, pe, t)
		}
		if err != nil {
			return &verify.Authenticode{Err: fmt.Errorf("%s: %w", e.At(f.path), err)}
		}
		if i == 0 {
			out.Result = res
		}
	}
	return &out
}

// diskAuthenticode checks the files of e as they are on disk (warmswap's
// check; the bootloader checks the bytes it reads).
func (p *Pipeline) diskAuthenticode(e entry.Entry) (*verify.Authenticode, string) {
	t := p.authenticodeTrust()
	if e.UKI == nil {
		return nil, ""
	}
	cmdline := e.Cmdline
	if t == nil {
		return nil, cmdline
	}
	var files []signedFile
	for _, path := range append([]string{e.Kernel}, e.UKI.Addons...) {
		f, err := safefs.OpenFile(e.Root, path)
		if err != nil {
			return &verify.Authenticode{Err: fmt.Errorf("%s: %w", e.At(path), err)}, cmdline
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return &verify.Authenticode{Err: fmt.Errorf("%s: %w", e.At(path), err)}, cmdline
		}
		files = append(files, signedFile{path, f, st.Size()})
	}
	return checkFiles(e, files, *t), cmdline
}
