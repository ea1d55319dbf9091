package handoff

import (
	"bytes"
	"io"
	"testing"

	"github.com/cavaliergopher/cpio"
)

func TestSegment(t *testing.T) {
	files := map[string][]byte{EventLog: []byte("log"), "/.warmboot/x/y": []byte("yy")}
	a, err := Segment(files)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Segment(files)
	if !bytes.Equal(a, b) || len(a)%4 != 0 {
		t.Fatalf("Segment is not deterministic or not 4-aligned (%d bytes)", len(a))
	}
	r := cpio.NewReader(bytes.NewReader(a))
	var names []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == ".warmboot/eventlog" {
			data, _ := io.ReadAll(r)
			if string(data) != "log" {
				t.Errorf("eventlog = %q", data)
			}
		}
	}
	want := []string{".warmboot", ".warmboot/eventlog", ".warmboot/x", ".warmboot/x/y"}
	if len(names) != len(want) {
		t.Fatalf("names = %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("names = %q, want %q", names, want)
		}
	}
	if _, err := Segment(map[string][]byte{"rel/path": nil}); err == nil {
		t.Error("Segment accepted a relative path")
	}
}
