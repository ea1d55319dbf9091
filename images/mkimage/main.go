// Command mkimage builds the warmboot initramfs (and, for comparison, an
// image of u-root's own boot command) with mkuimage.
//
// Synopsis:
//
//	mkimage -kernel-dir DIR [-o out/warmboot.cpio] [-flavor warmboot|uroot-boot] [-modules LIST]
//	        [-trust-keys FILE,...] [-policy enforce|warn|off] [-edits refuse|unsigned]
//	        [-uki either|manifest|authenticode|both]
//
// Description:
//
// mkimage resolves the kernel modules the image needs from the extracted
// Debian kernel package in DIR, dependencies first, in three sets: -modules
// are loaded at start (ext4, vfat and the NLS tables FAT mounts need);
// -match are loaded when a device they drive is present, by the modalias
// patterns in each module's .modinfo (/etc/warmboot/modules.match: disk
// and SAS/RAID controllers, USB storage and keyboards, watchdogs), so a
// server pays only for the controllers it has; -ondemand groups are loaded when warmboot finds what
// they read (/etc/warmboot/modules.d/GROUP.load: XFS, btrfs, ISO 9660, md
// RAID, device-mapper for LVM). It stages them under
// /lib/modules/<release>/ with a modules.dep, runs mkuimage in busybox mode with u-root's init, our
// commands and u-root's gosh, and writes OUT and OUT.zst (zstd -19),
// printing both sizes. mkuimage zeroes timestamps and owners, and the
// module staging is sorted, so the same inputs give the same bytes.
//
// -trust-keys bakes public keys (from "warmsign keygen" or signify-openbsd
// -G) and a verification policy into the image (package trustimg); the
// policy defaults to enforce with keys and off without. The policy and the
// keys' fingerprints are printed. X.509 certificates (NAME.crt, .pem, .cer)
// and deny lists (NAME.deny) among the files check unified kernel images'
// Authenticode signatures; -uki says which signatures such an image needs.
//
// Flavor uroot-boot builds u-root's init with cmds/boot/boot as uinit and
// the same modules, loaded by u-root's init through modules-load.d: the
// peer "make bench" measures warmboot against.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/installed"
	"github.com/warmboot/warmboot/boot/modload"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/images/kmod"
	"github.com/warmboot/warmboot/images/trustimg"
)

// The modules an image carries, in three sets (see the package doc).
const (
	// DefaultModules are loaded at start: the filesystems almost every
	// machine boots from, the NLS tables FAT mounts need, and efivarfs
	// (systemd's LoaderEntryDefault and LoaderEntryOneShot, read where
	// the firmware booted in UEFI mode).
	DefaultModules = "ext4,vfat,nls_cp437,nls_ascii,nls_iso8859_1,nls_utf8,efivarfs"
	// DefaultMatch are loaded when a device they drive is present: the
	// disk controllers of servers and VMs (NVMe, AHCI/SATA, virtio blk and
	// SCSI), SCSI disks and CD-ROMs, USB (xHCI, EHCI) mass storage and
	// keyboards, as a BMC's virtual media and KVM present them.
	// The SAS/RAID controllers servers boot from: Broadcom/LSI HBAs
	// (mpt3sas), MegaRAID (megaraid_sas), Microchip/Adaptec SmartRAID and
	// HPE Smart Array (smartpqi).
	// And the watchdogs the bootloader arms before a trial's kexec: QEMU's
	// (i6300esb); Intel chipsets' (iTCO_wdt, whose platform device lpc_ich
	// makes on older chipsets and i2c_i801 on newer ones, so those two are
	// matched by their PCI ids and iTCO_wdt by the device they make); AMD's
	// (sp5100_tco); HPE iLO's (hpwdt); the ACPI WDAT table's (wdat_wdt,
	// whose platform device the kernel makes from the table). Not the BMC's
	// ipmi_watchdog: it reports no settable timeout or magic close
	// (WDIOC_GETSUPPORT options 0), stops the BMC's timer when it loads,
	// and, loaded first, would take /dev/watchdog from the chipset's.
	// And the NICs network entries boot through (package netboot/netup):
	// virtio's, Intel's (e1000, e1000e, igb, ixgbe, i40e, ice), NVIDIA/
	// Mellanox ConnectX (mlx5_core), Broadcom's (bnxt_en, tg3) and
	// Realtek's (r8169); no firmware files (ice runs in its safe mode,
	// some r8169 and tg3 chips need theirs).
	DefaultMatch = "virtio_pci,virtio_blk,virtio_scsi,nvme,ahci,mpt3sas,megaraid_sas,smartpqi,sd_mod,sr_mod,xhci_pci,ehci_pci,usb_storage,uas,usbhid,hid_generic," +
		"i6300esb,lpc_ich,i2c_i801,iTCO_wdt,sp5100_tco,hpwdt,wdat_wdt," +
		"virtio_net,e1000,e1000e,igb,ixgbe,i40e,ice,mlx5_core,bnxt_en,tg3,r8169"
	// DefaultOnDemand are loaded when what they read is found: a
	// filesystem's superblock, an md member, an LVM physical volume.
	DefaultOnDemand = "xfs=xfs btrfs=btrfs iso9660=isofs md=md_mod,raid1 dm=dm_mod"
	// ModuleOptions are the image's module parameters (modload.OptionsFile):
	// the watchdog core keeps a watchdog running through a kexec, so a
	// trial kernel that hangs is reset (package watchdog).
	ModuleOptions = "watchdog stop_on_reboot=0\n"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kdir := fs.String("kernel-dir", "", "extracted kernel package (holds lib/modules/<release>)")
	out := fs.String("o", "out/warmboot.cpio", "output cpio; OUT.zst is written beside it")
	flavor := fs.String("flavor", "warmboot", "warmboot or uroot-boot")
	mods := fs.String("modules", DefaultModules, "comma-separated modules (and their dependencies) loaded at start")
	match := fs.String("match", DefaultMatch, "comma-separated modules loaded when a device they drive is present (by modalias)")
	ondemand := fs.String("ondemand", DefaultOnDemand, "space-separated GROUP=module,... loaded when warmboot finds a filesystem, md member or LVM volume of that kind")
	trustKeys := fs.String("trust-keys", "", "comma- or space-separated public key files to bake in")
	policy := fs.String("policy", "", "verification policy: enforce (default with keys), warn or off (default without)")
	edits := fs.String("edits", "", "menu command line edits under a policy: refuse (default) or unsigned")
	tlsCAs := fs.String("tls-cas", "", "comma- or space-separated PEM certificate authorities HTTPS servers are checked against (network entries)")
	ukiRule := fs.String("uki", "", "signatures a unified kernel image needs: either (default: a manifest or Authenticode), manifest, authenticode or both")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var keys []trust.KeyFile
	for _, k := range strings.FieldsFunc(*trustKeys, func(r rune) bool { return r == ',' || r == ' ' }) {
		data, err := os.ReadFile(k)
		if err != nil {
			fmt.Fprintf(stderr, "mkimage: trust key: %v\n", err)
			return 1
		}
		keys = append(keys, trust.KeyFile{Name: k, Data: data})
	}
	if *flavor != "warmboot" && (len(keys) > 0 || *policy != "") {
		fmt.Fprintln(stderr, "mkimage: -trust-keys and -policy apply to the warmboot flavor only")
		return 2
	}
	if *kdir == "" {
		fmt.Fprintln(stderr, "mkimage: -kernel-dir is required (make image extracts the Debian kernel into out/kernel)")
		return 2
	}
	groups := map[string][]string{}
	for _, g := range strings.Fields(*ondemand) {
		name, list, ok := strings.Cut(g, "=")
		if !ok || name == "" || list == "" {
			fmt.Fprintf(stderr, "mkimage: -ondemand %q: want GROUP=module,...\n", g)
			return 2
		}
		groups[name] = strings.Split(list, ",")
	}
	if err := build(ctx, *kdir, *out, *flavor, sets{eager: split(*mods), match: split(*match), groups: groups}, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	if *flavor == "warmboot" {
		if err := addTrust(*out, keys, *policy, *edits, *ukiRule, stdout); err != nil {
			fmt.Fprintf(stderr, "mkimage: %v\n", err)
			return 1
		}
		if err := addTLS(*out, *tlsCAs, stdout); err != nil {
			fmt.Fprintf(stderr, "mkimage: %v\n", err)
			return 1
		}
	}
	if err := compress(ctx, *out, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	return 0
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// sets are the image's modules: loaded at start, by hardware match, and
// in groups on demand.
type sets struct {
	eager, match []string
	groups       map[string][]string
}

func build(ctx context.Context, kdir, out, flavor string, want sets, stdout, stderr io.Writer) error {
	rels, _ := filepath.Glob(filepath.Join(kdir, "lib/modules/*"))
	if len(rels) != 1 {
		return fmt.Errorf("want exactly one kernel release under %s/lib/modules, found %d: run make kernel", kdir, len(rels))
	}
	tree, err := kmod.Open(rels[0])
	if err != nil {
		return err
	}
	order, err := tree.Resolve(want.eager...)
	if err != nil {
		return err
	}
	// Everything the image carries, for modules.dep and the files; each
	// set's own lists say what loads when.
	all := append([]*kmod.Module(nil), order...)
	have := map[string]bool{}
	for _, m := range order {
		have[m.Name] = true
	}
	add := func(ms []*kmod.Module) {
		for _, m := range ms {
			if !have[m.Name] {
				have[m.Name] = true
				all = append(all, m)
			}
		}
	}
	var matchLines []string
	for _, name := range want.match {
		closure, err := tree.Resolve(name)
		if err != nil {
			return err
		}
		add(closure)
		if len(closure) == 0 {
			continue // built into the kernel
		}
		var paths []string
		for _, m := range closure {
			paths = append(paths, "lib/modules/"+tree.Release+"/"+m.Path)
		}
		for _, a := range closure[len(closure)-1].Aliases {
			matchLines = append(matchLines, a+"\t"+strings.Join(paths, " "))
		}
	}
	groupLists := map[string]string{}
	var groupNames []string
	for g := range want.groups {
		groupNames = append(groupNames, g)
	}
	// In name order: the files' order makes the image's bytes.
	sort.Strings(groupNames)
	for _, g := range groupNames {
		closure, err := tree.Resolve(want.groups[g]...)
		if err != nil {
			return fmt.Errorf("group %s: %w", g, err)
		}
		add(closure)
		var paths []string
		for _, m := range closure {
			paths = append(paths, "lib/modules/"+tree.Release+"/"+m.Path)
		}
		groupLists[g] = strings.Join(paths, "\n") + "\n"
	}
	stage, err := os.MkdirTemp("", "warmboot-stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	modDir := "lib/modules/" + tree.Release
	var files []string
	var names, paths []string
	for _, m := range all {
		src := filepath.Join(tree.Dir, m.Path)
		files = append(files, src+":"+modDir+"/"+m.Path)
	}
	for _, m := range order {
		names = append(names, m.Name)
		paths = append(paths, modDir+"/"+m.Path)
	}
	put := func(name string, data []byte) error {
		p := filepath.Join(stage, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		files = append(files, p+":"+name)
		return nil
	}
	if err := put(modDir+"/modules.dep", tree.ModulesDep(all)); err != nil {
		return err
	}
	// goshsmall: gosh's plain line reader. Its default editor queries the
	// terminal and waits seconds for answers a serial console never sends,
	// and pulls in a TUI library the flash image has no room for.
	args := []string{"tool", "mkuimage", "-build=bb", "-base=/dev/null", "-initcmd=init", "-defaultsh=gosh", "-tags=goshsmall", "-o", out}
	var cmds []string
	switch flavor {
	case "warmboot":
		if err := put("etc/warmboot/modules.load", []byte(strings.Join(paths, "\n")+"\n")); err != nil {
			return err
		}
		sort.Strings(matchLines)
		if err := put("etc/warmboot/modules.match", []byte(strings.Join(matchLines, "\n")+"\n")); err != nil {
			return err
		}
		if err := put(strings.TrimPrefix(modload.OptionsFile, "/"), []byte(ModuleOptions)); err != nil {
			return err
		}
		if err := put(installed.RecordsFile, installed.Current.Marshal()); err != nil {
			return err
		}
		for _, g := range groupNames {
			if err := put("etc/warmboot/modules.d/"+g+".load", []byte(groupLists[g])); err != nil {
				return err
			}
		}
		args = append(args, "-uinitcmd=warmboot")
		cmds = []string{"github.com/u-root/u-root/cmds/core/init", "github.com/u-root/u-root/cmds/core/gosh", "./cmds/warmboot"}
	case "uroot-boot":
		// u-root's init loads modules-load.d entries through modules.dep:
		// the eager and hardware-matched sets, all of them.
		for _, m := range all {
			if !slices.Contains(names, m.Name) && !inGroups(want, m.Name) {
				names = append(names, m.Name)
			}
		}
		if err := put("lib/modules-load.d/warmboot.conf", []byte(strings.Join(names, "\n")+"\n")); err != nil {
			return err
		}
		args = append(args, "-uinitcmd=boot")
		cmds = []string{"github.com/u-root/u-root/cmds/core/init", "github.com/u-root/u-root/cmds/core/gosh", "github.com/u-root/u-root/cmds/boot/boot"}
	default:
		return fmt.Errorf("unknown -flavor %q: want warmboot or uroot-boot", flavor)
	}
	for _, f := range files {
		args = append(args, "-files", f)
	}
	args = append(args, cmds...)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// Keep the environment from leaking into the binary: the build is
	// reproducible only with a fixed GOFLAGS and no cgo.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-trimpath")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mkuimage: %w", err)
	}
	fmt.Fprintf(stdout, "%d modules for kernel %s: %d loaded at start (%s), the rest by hardware match (%d aliases) or on demand (%s)\nbuilt in %s\n",
		len(all), tree.Release, len(order), strings.Join(names[:len(order)], " "), len(matchLines), strings.Join(groupNames, ", "), time.Since(start).Round(time.Second))
	return nil
}

// inGroups says whether module name is only in an on-demand group's list.
func inGroups(want sets, name string) bool {
	for _, g := range want.groups {
		for _, n := range g {
			if kmod.Normalize(n) == name {
				return true
			}
		}
	}
	return false
}

// addTrust appends the trust archive to the image at out and says what
// the image trusts.
func addTrust(out string, keys []trust.KeyFile, policy, edits, uki string, stdout io.Writer) error {
	base, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	img, t, err := trustimg.Append(base, keys, policy, edits, uki)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, img, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trust: %s\n", t)
	return nil
}

// addTLS appends the certificate authorities in the files cas names.
func addTLS(out, cas string, stdout io.Writer) error {
	var files []trust.KeyFile
	for _, c := range strings.FieldsFunc(cas, func(r rune) bool { return r == ',' || r == ' ' }) {
		data, err := os.ReadFile(c)
		if err != nil {
			return fmt.Errorf("TLS CA: %w", err)
		}
		files = append(files, trust.KeyFile{Name: c, Data: data})
	}
	if len(files) == 0 {
		fmt.Fprintln(stdout, "tls: no certificate authorities: network entries over https are refused (TLS_CAS=ca.crt)")
		return nil
	}
	base, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	img, subjects, err := trustimg.AppendTLS(base, files)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, img, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tls: https servers checked against %s\n", strings.Join(subjects, "; "))
	return nil
}

// compress writes OUT.zst and prints both sizes.
func compress(ctx context.Context, out string, stdout, stderr io.Writer) error {
	zst := out + ".zst"
	z := exec.CommandContext(ctx, "zstd", "-q", "-f", "-19", "-T1", out, "-o", zst)
	z.Stderr = stderr
	if err := z.Run(); err != nil {
		return fmt.Errorf("zstd: %w (is the zstd package installed? make deps installs it)", err)
	}
	for _, p := range []string{out, zst} {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-28s %9d bytes (%.2f MiB)\n", p, st.Size(), float64(st.Size())/(1<<20))
	}
	return nil
}
