package testtool

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Serve serves files (path → content) over HTTP until the test ends, a
// missing path 404, and returns the server's URL.
func Serve(t testing.TB, files map[string]string) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(b))
	}))
	t.Cleanup(s.Close)
	return s.URL
}
