package efivar

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Device path node types and subtypes this package reads (UEFI 2.10,
// 10.3 Device Path Nodes).
const (
	TypeMedia          = 0x04
	SubTypeHardDrive   = 0x01
	SubTypeFilePath    = 0x04
	TypeEnd            = 0x7f
	SubTypeEndEntire   = 0xff
	SubTypeEndInstance = 0x01
)

// Node is one device path node: its type, subtype and the bytes after
// its 4-byte header, kept as they were so that nodes this package does
// not know (PCI, SATA, NVMe, firmware volumes) marshal back unchanged.
type Node struct {
	Type, SubType uint8
	Data          []byte
}

// DevicePath is an EFI_DEVICE_PATH_PROTOCOL list, End nodes included.
type DevicePath []Node

// ParseDevicePath parses b, which must be whole nodes.
func ParseDevicePath(b []byte) (DevicePath, error) {
	var dp DevicePath
	for off := 0; off < len(b); {
		if len(b)-off < 4 {
			return nil, fmt.Errorf("device path: %d bytes left at offset %d, less than a node header: %w", len(b)-off, off, ErrMalformed)
		}
		n := int(binary.LittleEndian.Uint16(b[off+2:]))
		if n < 4 || n > len(b)-off {
			return nil, fmt.Errorf("device path: node %#x/%#x at offset %d has length %d, outside [4, %d]: %w", b[off], b[off+1], off, n, len(b)-off, ErrMalformed)
		}
		dp = append(dp, Node{Type: b[off], SubType: b[off+1], Data: b[off+4 : off+n : off+n]})
		off += n
	}
	return dp, nil
}

// Marshal encodes dp. It fails if a node is longer than 65535 bytes.
func (dp DevicePath) Marshal() ([]byte, error) {
	var b []byte
	for _, n := range dp {
		if len(n.Data) > 0xffff-4 {
			return nil, fmt.Errorf("device path node %#x/%#x of %d bytes: longer than 65535", n.Type, n.SubType, 4+len(n.Data))
		}
		b = append(b, n.Type, n.SubType)
		b = binary.LittleEndian.AppendUint16(b, uint16(4+len(n.Data)))
		b = append(b, n.Data...)
	}
	return b, nil
}

// File is the path of the file that dp names, from the File Path nodes
// of its first instance (consecutive nodes are one path, split), or ""
// if there is none: firmware's own entries for a disk or a network card
// name no file and boot \EFI\BOOT\BOOTX64.EFI or PXE.
func (dp DevicePath) File() string {
	var parts []string
	for _, n := range dp {
		if n.Type == TypeEnd {
			break
		}
		if p, ok := n.FilePath(); ok {
			parts = append(parts, p)
		} else if len(parts) > 0 {
			break
		}
	}
	return strings.Join(parts, "")
}

// HardDrive is a Hard Drive media device path node: a partition by
// number, extent and signature.
type HardDrive struct {
	Partition     uint32 // 1-based
	Start, Size   uint64 // in logical blocks
	Signature     [16]byte
	Format        uint8 // 1 MBR, 2 GPT
	SignatureType uint8 // 0 none, 1 MBR disk signature (4 bytes), 2 GUID
}

// Partition formats and signature types of a HardDrive.
const (
	FormatMBR        = 1
	FormatGPT        = 2
	SignatureNone    = 0
	SignatureMBR     = 1
	SignatureGUID    = 2
	hardDriveDataLen = 38
)

// GPTPartition is the Hard Drive node for GPT partition number part.
func GPTPartition(part uint32, start, size uint64, guid GUID) HardDrive {
	return HardDrive{Partition: part, Start: start, Size: size, Signature: guid, Format: FormatGPT, SignatureType: SignatureGUID}
}

// Node encodes h.
func (h HardDrive) Node() Node {
	d := make([]byte, 0, hardDriveDataLen)
	d = binary.LittleEndian.AppendUint32(d, h.Partition)
	d = binary.LittleEndian.AppendUint64(d, h.Start)
	d = binary.LittleEndian.AppendUint64(d, h.Size)
	d = append(d, h.Signature[:]...)
	d = append(d, h.Format, h.SignatureType)
	return Node{Type: TypeMedia, SubType: SubTypeHardDrive, Data: d}
}

// HardDrive decodes n if it is a Hard Drive node.
func (n Node) HardDrive() (HardDrive, bool) {
	if n.Type != TypeMedia || n.SubType != SubTypeHardDrive || len(n.Data) != hardDriveDataLen {
		return HardDrive{}, false
	}
	h := HardDrive{
		Partition:     binary.LittleEndian.Uint32(n.Data[0:]),
		Start:         binary.LittleEndian.Uint64(n.Data[4:]),
		Size:          binary.LittleEndian.Uint64(n.Data[12:]),
		Format:        n.Data[36],
		SignatureType: n.Data[37],
	}
	copy(h.Signature[:], n.Data[20:36])
	return h, true
}

// FileNode is a File Path media node for path, which uses backslashes
// (\EFI\debian\shimx64.efi).
func FileNode(path string) (Node, error) {
	d, err := EncodeUTF16(path)
	if err != nil {
		return Node{}, fmt.Errorf("file path node: %w", err)
	}
	return Node{Type: TypeMedia, SubType: SubTypeFilePath, Data: d}, nil
}

// FilePath decodes n if it is a File Path node.
func (n Node) FilePath() (string, bool) {
	if n.Type != TypeMedia || n.SubType != SubTypeFilePath || len(n.Data)%2 != 0 {
		return "", false
	}
	u, _ := utf16z(n.Data)
	return string(utf16.Decode(u)), true
}

// EndNode ends a device path.
func EndNode() Node { return Node{Type: TypeEnd, SubType: SubTypeEndEntire, Data: []byte{}} }
