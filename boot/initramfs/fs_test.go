package initramfs

import (
	"testing"
	"testing/fstest"
)

func TestFiles(t *testing.T) {
	f := Files{"etc/warmboot/trust/policy": []byte("policy enforce\n"), "etc/warmboot/trust/keys/a.pub": []byte("k"), "init": []byte("x")}
	if err := fstest.TestFS(f, "etc/warmboot/trust/policy", "etc/warmboot/trust/keys/a.pub", "init"); err != nil {
		t.Error(err)
	}
}
