package verify

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/trust"
)

// A network entry (entry.Net) is checked against one manifest, fetched
// beside its kernel: for http://server/boot/vmlinuz, the manifest
// http://server/boot/vmlinuz.manifest and its signature
// vmlinuz.manifest.sig. A server cannot be listed, so the manifest is
// found by name; "warmsign sign -net -root DIR" writes it there, DIR
// being the directory the server serves. The manifest names the kernel
// and initrds by their URLs' paths (/boot/vmlinuz), so the same signed
// files boot from any server or mirror that serves them at those paths;
// what it signs is their digests and the command line, as for a local
// entry.

// NetManifest is the manifest's path on the kernel's server for a
// network entry whose kernel is at the URL kernel, relative to the
// server's root ("boot/vmlinuz.manifest"), and the manifest's URL.
func NetManifest(kernel string) (name string, where string, err error) {
	u, err := url.Parse(kernel)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("kernel %q is not a URL", kernel)
	}
	m := *u
	m.Path += ".manifest"
	m.RawPath, m.RawQuery, m.Fragment = "", "", ""
	return strings.TrimPrefix(m.Path, "/"), m.Redacted(), nil
}

// checkNet checks a network entry; fsys is the root of its kernel's
// server.
func checkNet(fsys fs.FS, t trust.Trust, e entry.Entry, cmdline string, d Digests, checkCmdline bool) (Result, error) {
	name, where, err := NetManifest(e.Kernel)
	if err != nil {
		return Result{}, err
	}
	c := loadOne(fsys, name, where, t)
	if errors.Is(c.Err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("%w: kernel %s (looked for %s; sign it with warmsign sign -net -root DIR, DIR the directory the server serves)",
			ErrNoManifest, e.Kernel, where)
	}
	s := Set{Looked: []string{where}, Candidates: []Candidate{c}}
	return s.Check(e, cmdline, d, checkCmdline)
}
