// Package netfs is a directory on a server as an fs.FS: what lets the
// parsers and the verifier, written for disks, read a network's configs
// and manifests. It fetches through an interface (package fetch's Client
// is one), so its importers do not link the network stack themselves.
package netfs

import (
	"context"
	"io"
	"io/fs"
	"net/url"
	"path"
	"time"
)

// Fetcher fetches a URL, at most limit bytes, and tells a missing file
// from other failures.
type Fetcher interface {
	Open(ctx context.Context, u *url.URL, limit int64) (io.ReadCloser, int64, error)
	NotFound(err error) bool
}

// FS reads Base's files: Open fetches Base with the name appended, at
// most Limit bytes. A file the server says it does not have is
// fs.ErrNotExist; the directory cannot be listed.
type FS struct {
	Ctx   context.Context
	Fetch Fetcher
	Base  *url.URL
	Limit int64
}

// Root is the root of u's server, an FS reading at most limit bytes.
func Root(ctx context.Context, f Fetcher, u *url.URL, limit int64) *FS {
	return &FS{Ctx: ctx, Fetch: f, Base: &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: "/"}, Limit: limit}
}

// URL is name's URL.
func (fsys *FS) URL(name string) *url.URL {
	return fsys.Base.ResolveReference(&url.URL{Path: name})
}

// Open implements fs.FS.
func (fsys *FS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	u := fsys.URL(name)
	ctx := fsys.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	r, size, err := fsys.Fetch.Open(ctx, u, fsys.Limit)
	if err != nil {
		if fsys.Fetch.NotFound(err) {
			err = fs.ErrNotExist
		}
		return nil, &fs.PathError{Op: "fetch", Path: u.Redacted(), Err: err}
	}
	return &file{ReadCloser: r, name: path.Base(name), size: size}, nil
}

type file struct {
	io.ReadCloser
	name string
	size int64
}

func (f *file) Stat() (fs.FileInfo, error) { return info{f}, nil }

type info struct{ f *file }

func (i info) Name() string       { return i.f.name }
func (i info) Size() int64        { return i.f.size }
func (i info) Mode() fs.FileMode  { return 0o444 }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return false }
func (i info) Sys() any           { return nil }
