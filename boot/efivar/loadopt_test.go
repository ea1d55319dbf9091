package efivar

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ovmfOption reads a Boot#### of testdata/ovmf, a QEMU/OVMF machine's
// efivarfs, without its 4 bytes of attributes.
func ovmfOption(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/ovmf", name+"-"+Global.String()))
	if err != nil {
		t.Fatal(err)
	}
	return b[4:]
}

func TestParseLoadOptionOVMF(t *testing.T) {
	// Boot0008: an entry made with efibootmgr on an MBR disk, with
	// optional data.
	o, err := ParseLoadOption(ovmfOption(t, "Boot0008"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Attributes != LoadOptionActive || o.Description != "lshell" || string(o.OptionalData) != "SHELL=shell" {
		t.Errorf("Boot0008 = %#x %q %q, want 0x1 \"lshell\" \"SHELL=shell\"", o.Attributes, o.Description, o.OptionalData)
	}
	if len(o.FilePath) != 3 {
		t.Fatalf("Boot0008 has %d nodes, want 3 (HD, File, End)", len(o.FilePath))
	}
	hd, ok := o.FilePath[0].HardDrive()
	want := HardDrive{Partition: 1, Start: 0x3f, Size: 0xfbfc1, Signature: [16]byte{0xfa, 0xfd, 0x1a, 0xbe}, Format: FormatMBR, SignatureType: SignatureMBR}
	if !ok || hd != want {
		t.Errorf("Boot0008 node 0 = %+v, %v, want %+v", hd, ok, want)
	}
	if f := o.File(); f != `\efi\boot\bootx64.efi` {
		t.Errorf("Boot0008 File() = %q, want \\efi\\boot\\bootx64.efi", f)
	}
	if o.FilePath[2].Type != TypeEnd || o.FilePath[2].SubType != SubTypeEndEntire {
		t.Errorf("Boot0008 node 2 = %#x/%#x, want End", o.FilePath[2].Type, o.FilePath[2].SubType)
	}

	// OVMF's own entries: a disk (PciRoot/Pci/Sata, no file: the firmware
	// boots \EFI\BOOT\BOOTX64.EFI) and UiApp (a firmware volume file).
	for name, desc := range map[string]string{"Boot0004": "UEFI QEMU HARDDISK QM00001 ", "Boot0000": "UiApp"} {
		o, err := ParseLoadOption(ovmfOption(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if o.Description != desc || o.File() != "" {
			t.Errorf("%s = %q, File() %q, want %q, \"\"", name, o.Description, o.File(), desc)
		}
	}
}

// Every real load option marshals back to its bytes.
func TestLoadOptionRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/ovmf/Boot0*")
	if len(files) == 0 {
		t.Fatal("no testdata/ovmf/Boot0*")
	}
	for _, f := range files {
		name := strings.SplitN(filepath.Base(f), "-", 2)[0]
		b := ovmfOption(t, name)
		o, err := ParseLoadOption(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, err := o.Marshal()
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: Marshal(Parse) = % x, %v, want % x", name, got, err, b)
		}
	}
}

// What efibootmgr -c -d /dev/sda -p 1 -L debian -l '\EFI\debian\shimx64.efi'
// writes for a GPT ESP at LBA 2048 of 1048576 blocks, written out by hand
// from UEFI 2.10 3.1.3 (EFI_LOAD_OPTION), 10.3.5.1 (Hard Drive) and
// 10.3.5.4 (File Path): efibootmgr's default device path is the short
// form that starts at the Hard Drive node.
const efibootmgrDebian = "" +
	"01000000" + // Attributes: LOAD_OPTION_ACTIVE
	"6200" + // FilePathListLength: 42 + 52 + 4 = 98
	"640065006200690061006e000000" + // Description: "debian" NUL, UTF-16LE
	"04012a00" + // Hard Drive: type 4, subtype 1, length 42
	"01000000" + // PartitionNumber 1
	"0008000000000000" + // PartitionStart 2048
	"0000100000000000" + // PartitionSize 1048576
	"3b1c2d5f9e8a604fb1c2d3e4f5a6b7c8" + // Signature: 5f2d1c3b-8a9e-4f60-b1c2-d3e4f5a6b7c8, mixed-endian
	"02" + // MBRType: GPT
	"02" + // SignatureType: GUID
	"04043400" + // File Path: type 4, subtype 4, length 52
	"5c00" + "450046004900" + "5c00" + "640065006200690061006e00" + "5c00" + // \ EFI \ debian \
	"7300680069006d00780036003400" + "2e00650066006900" + "0000" + // shimx64 .efi NUL
	"7fff0400" // End Entire Device Path

func TestMarshalEfibootmgr(t *testing.T) {
	want, err := hex.DecodeString(efibootmgrDebian)
	if err != nil {
		t.Fatal(err)
	}
	file, err := FileNode(`\EFI\debian\shimx64.efi`)
	if err != nil {
		t.Fatal(err)
	}
	o := LoadOption{
		Attributes:  LoadOptionActive,
		Description: "debian",
		FilePath:    DevicePath{GPTPartition(1, 2048, 1048576, MustParseGUID("5f2d1c3b-8a9e-4f60-b1c2-d3e4f5a6b7c8")).Node(), file, EndNode()},
	}
	got, err := o.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Marshal =\n% x\nwant\n% x", got, want)
	}
	back, err := ParseLoadOption(want)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o, back, cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })); diff != "" {
		t.Errorf("ParseLoadOption (-want +got):\n%s", diff)
	}
	if back.File() != `\EFI\debian\shimx64.efi` {
		t.Errorf("File() = %q", back.File())
	}
}

func TestParseLoadOptionErrors(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":             nil,
		"header only":       {1, 0, 0, 0, 4, 0},
		"no NUL":            {1, 0, 0, 0, 0, 0, 'a', 0},
		"list past the end": {1, 0, 0, 0, 8, 0, 0, 0, 0x7f, 0xff, 4, 0},
		"node length 0":     {1, 0, 0, 0, 4, 0, 0, 0, 0x7f, 0xff, 0, 0},
		"node length 3":     {1, 0, 0, 0, 4, 0, 0, 0, 0x7f, 0xff, 3, 0},
		"node past list":    {1, 0, 0, 0, 4, 0, 0, 0, 0x7f, 0xff, 8, 0, 0, 0, 0, 0},
		"half a header":     {1, 0, 0, 0, 2, 0, 0, 0, 0x7f, 0xff},
	} {
		if o, err := ParseLoadOption(b); err == nil {
			t.Errorf("ParseLoadOption(%s) = %+v, want an error", name, o)
		}
	}
}

func TestDevicePathFile(t *testing.T) {
	a, _ := FileNode(`\EFI\`)
	b, _ := FileNode(`warmboot\warmboot.efi`)
	c, _ := FileNode(`\other.efi`)
	pci := Node{Type: 1, SubType: 1, Data: []byte{0, 2}}
	for _, tc := range []struct {
		dp   DevicePath
		want string
	}{
		{DevicePath{a, b, EndNode()}, `\EFI\warmboot\warmboot.efi`},
		{DevicePath{pci, b, pci, c, EndNode()}, `warmboot\warmboot.efi`},
		{DevicePath{pci, EndNode(), c}, ""},
		{nil, ""},
	} {
		if got := tc.dp.File(); got != tc.want {
			t.Errorf("%v.File() = %q, want %q", tc.dp, got, tc.want)
		}
	}
}

func FuzzParseLoadOption(f *testing.F) {
	files, _ := filepath.Glob("testdata/ovmf/Boot0*")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[4:])
	}
	f.Add([]byte{1, 0, 0, 0, 4, 0, 0, 0, 0x7f, 0xff, 4, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzz {
			return
		}
		o, err := ParseLoadOption(b)
		if err != nil {
			return
		}
		_ = o.File()
		for _, n := range o.FilePath {
			n.HardDrive()
			n.FilePath()
		}
		out, err := o.Marshal()
		if err != nil {
			t.Fatalf("Marshal(ParseLoadOption(% x)) = %v", b, err)
		}
		// The description may decode lossily (unpaired surrogates
		// become U+FFFD); what marshals must parse back and marshal to
		// the same bytes.
		o2, err := ParseLoadOption(out)
		if err != nil {
			t.Fatalf("ParseLoadOption(Marshal) = %v", err)
		}
		out2, err := o2.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("Marshal not stable:\n% x\n% x", out, out2)
		}
		// Where the description re-encodes to its own bytes, the whole
		// option must.
		if enc, _ := EncodeUTF16(o.Description); len(b) >= 6+len(enc) && bytes.Equal(b[6:6+len(enc)], enc) && !bytes.Equal(out, b) {
			t.Fatalf("round trip changed the bytes:\n% x\n% x", b, out)
		}
	})
}

func FuzzParseDevicePath(f *testing.F) {
	f.Add([]byte{0x7f, 0xff, 4, 0})
	b, _ := os.ReadFile("testdata/ovmf/Boot0009-" + Global.String())
	if len(b) > 40 {
		f.Add(b[30:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzz {
			return
		}
		dp, err := ParseDevicePath(b)
		if err != nil {
			return
		}
		_ = dp.File()
		out, err := dp.Marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("Marshal(ParseDevicePath(% x)) = % x, %v", b, out, err)
		}
	})
}
