package vmtest

import (
	"io"
	"math/rand/v2"
	"os"
	"testing"
)

// head returns the first n bytes of a file.
func head(t *testing.T, name string, n int64) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pseudoRandom returns n deterministic bytes of binary garbage.
func pseudoRandom(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}
