// Package uki reads unified kernel images (UKIs) and their add-ons: PE32+
// EFI applications that carry a Linux kernel (.linux), its initrd
// (.initrd, .ucode), command line (.cmdline), os-release (.osrel) and
// more as sections, as systemd's ukify and sd-stub define them
// (https://uapi-group.org/specifications/specs/unified_kernel_image/).
//
// warmboot never runs the stub: it takes the sections out of the file it
// verified and kexecs the kernel with the initrd and command line the stub
// would have given it. That makes the parser the one place where a hostile
// file meets the loader, so it is strict, and it is our own rather than
// debug/pe: debug/pe reads the COFF symbol and string tables (allocations
// sized by header fields), accepts overlapping sections and sections whose
// VirtualSize exceeds their raw data, hands out section data padded to the
// file alignment, and does not locate the certificate table or the
// CheckSum field an Authenticode digest must skip. Here a file is refused,
// with what is wrong, unless it is a PE32+ EFI application for x86-64
// whose sections lie inside the file, after the headers, without
// overlapping each other or the certificate table, each cut to its
// VirtualSize; the headers are read from the first MaxHeaders bytes and
// nothing is allocated from a size the file claims beyond the limits
// given to Section.Read.
//
// Multi-profile UKIs (systemd 257): the sections before the first
// .profile section are the base; each .profile starts a profile whose
// sections replace the base's of the same name. A UKI without .profile
// has one profile, the base.
package uki
