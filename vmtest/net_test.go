package vmtest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/images/trustimg"
)

// The network as the VM sees it: QEMU's user networking with restrict=on
// (nothing leaves this machine), its DHCP server naming the boot file,
// its TFTP server on 10.0.2.2, and two addresses guestfwd joins to the
// test's servers on 127.0.0.1: http://10.0.2.100 and https://10.0.2.101.
const (
	httpHost  = "10.0.2.100"
	httpsHost = "10.0.2.101"
	guestMAC  = "52:54:00:12:34:56"
)

// forward joins stdin and stdout (a guest connection, as guestfwd's
// cmd: hands it over) to addr.
func forward(addr string) int {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		io.Copy(c, os.Stdin)
		c.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(os.Stdout, c)
	return 0
}

// netServer serves files over HTTP and HTTPS. A path in stall sends
// 64 KiB and then nothing; one in endless never ends.
type netServer struct {
	mu      sync.Mutex
	files   map[string][]byte
	stall   map[string]bool
	endless map[string]bool
	httpL   net.Listener
	httpsL  net.Listener
	log     []string
}

func newNetServer(t *testing.T, cert tls.Certificate) *netServer {
	t.Helper()
	s := &netServer{files: map[string][]byte{}, stall: map[string]bool{}, endless: map[string]bool{}}
	var err error
	if s.httpL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if s.httpsL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s}
	go srv.Serve(s.httpL)
	go srv.Serve(tls.NewListener(s.httpsL, &tls.Config{Certificates: []tls.Certificate{cert}}))
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *netServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.files[r.URL.Path]
	stall, endless := s.stall[r.URL.Path], s.endless[r.URL.Path]
	s.log = append(s.log, r.URL.Path)
	s.mu.Unlock()
	switch {
	case stall:
		w.Write(make([]byte, 64<<10))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	case endless:
		buf := make([]byte, 1<<20)
		for {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	case ok:
		w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

// nic is the QEMU option of a virtio NIC on user networking pointed at
// bootfile, with TFTP from tftpDir ("" for none).
func (s *netServer) nic(t *testing.T, bootfile, tftpDir string) []string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fwd := func(host, port string, l net.Listener) string {
		return fmt.Sprintf("guestfwd=tcp:%s:%s-cmd:/usr/bin/env WARMBOOT_FWD=%s %s", host, port, l.Addr(), self)
	}
	opts := []string{"user", "id=n0", "model=virtio-net-pci", "mac=" + guestMAC, "restrict=on", "bootfile=" + bootfile,
		fwd(httpHost, "80", s.httpL), fwd(httpsHost, "443", s.httpsL)}
	if tftpDir != "" {
		opts = append(opts, "tftp="+tftpDir)
	}
	return []string{"-nic", strings.Join(opts, ",")}
}

// testCA is a certificate authority and a server certificate it issued
// for https://10.0.2.101.
type testCA struct {
	pem  []byte
	leaf tls.Certificate
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: httpsHost}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP(httpsHost)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), leaf: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// netImage is the image under policy (with the VM tests' keys) trusting
// the CAs cas for HTTPS.
func netImage(t *testing.T, policy string, cas ...testCA) string {
	t.Helper()
	base, err := os.ReadFile(strings.TrimSuffix(image, ".zst"))
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := trustimg.Append(base, imageKeys, policy, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cas) > 0 {
		var files []trust.KeyFile
		for i, c := range cas {
			files = append(files, trust.KeyFile{Name: fmt.Sprintf("ca%d.crt", i), Data: c.pem})
		}
		if img, _, err = trustimg.AppendTLS(img, files); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "warmboot-net.cpio")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const cmdNet = "console=ttyS0 quiet wbtest=net"

// serveEntry puts the kernel, the target initramfs, an iPXE script
// booting them, and the manifest signing them on s, as an operator
// would: "warmsign sign -net -root DIR -kernel /k/vmlinuz -initrd
// /k/target.img -cmdline ...".
func serveEntry(s *netServer, scheme, host string) {
	m := manifest.Manifest{
		Kernel:  manifest.File{Path: "/k/vmlinuz", SHA256: sum(kernelData)},
		Initrds: []manifest.File{{Path: "/k/target.img", SHA256: sum(targetData)}},
		Cmdline: cmdNet,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files["/boot.ipxe"] = []byte(fmt.Sprintf("#!ipxe\n# served by the VM test\nset base %s://%s/k\nkernel ${base}/vmlinuz %s\ninitrd ${base}/target.img || goto failed\nboot\n:failed\necho no initrd\n", scheme, host, cmdNet))
	s.files["/k/vmlinuz"] = kernelData
	s.files["/k/target.img"] = targetData
	s.files["/k/vmlinuz.manifest"] = m.Sign(signKey)
}

// An iPXE script over HTTP, warmboot.net=first under enforce: the signed
// network entry boots before the disk's; with its kernel tampered on
// the server, it is refused and the disk's signed entry boots.
func TestNetIPXE(t *testing.T) {
	parallel(t)
	ca := newTestCA(t, "warmboot vmtest CA")
	s := newNetServer(t, ca.leaf)
	serveEntry(s, "http", httpHost)
	img := netImage(t, "enforce")
	vm := bootVM(t, img, "warmboot.net=first warmboot.timeout=1",
		append(s.nic(t, "http://"+httpHost+"/boot.ipxe", ""), "-drive", "file="+buildDisk(t, twoEntries(nil))+",if=virtio,format=raw")...)
	expect(t, vm,
		"network: eth0: 10.0.2.15 from 10.0.2.2",
		" *  1) iPXE http://"+httpHost+"/k/vmlinuz  [ipxe http://"+httpHost+"/boot.ipxe:6]",
		"verified: signed by "+trust.Fingerprint(signKey.Public().(ed25519.PublicKey))+" (http://"+httpHost+"/k/vmlinuz.manifest)",
		"fetch=",
		marker(cmdNet))
	finish(t, vm, true)

	s.mu.Lock()
	bad := append([]byte(nil), kernelData...)
	bad[len(bad)/2] ^= 1
	s.files["/k/vmlinuz"] = bad
	s.mu.Unlock()
	vm = bootVM(t, img, "warmboot.net=first warmboot.timeout=1",
		append(s.nic(t, "http://"+httpHost+"/boot.ipxe", ""), "-drive", "file="+buildDisk(t, twoEntries(nil))+",if=virtio,format=raw")...)
	expect(t, vm,
		`refused "iPXE http://`+httpHost+`/k/vmlinuz": does not match its signed manifest: kernel http://`+httpHost+`/k/vmlinuz has SHA-256`,
		"; trying the next entry",
		marker(cmdB))
	finish(t, vm, true)
}

// The same over HTTPS: booted with the server's CA in the image;
// refused, naming the reason, with another CA, and the disk's entry
// boots. TLS alone never counts as a signature: the entry is verified
// by its manifest either way.
func TestNetHTTPS(t *testing.T) {
	parallel(t)
	ca, other := newTestCA(t, "warmboot vmtest CA"), newTestCA(t, "someone else's CA")
	s := newNetServer(t, ca.leaf)
	serveEntry(s, "https", httpsHost)
	boot := "https://" + httpsHost + "/boot.ipxe"
	vm := bootVM(t, netImage(t, "enforce", ca), "warmboot.net=first warmboot.timeout=1",
		append(s.nic(t, boot, ""), "-drive", "file="+buildDisk(t, twoEntries(nil))+",if=virtio,format=raw")...)
	expect(t, vm,
		"network: HTTPS servers checked against CN=warmboot vmtest CA",
		" *  1) iPXE https://"+httpsHost+"/k/vmlinuz  [ipxe "+boot+":6]",
		"verified: signed by "+trust.Fingerprint(signKey.Public().(ed25519.PublicKey))+" (https://"+httpsHost+"/k/vmlinuz.manifest)",
		marker(cmdNet))
	finish(t, vm, true)

	vm = bootVM(t, netImage(t, "enforce", other), "warmboot.net=first warmboot.timeout=1",
		append(s.nic(t, boot, ""), "-drive", "file="+buildDisk(t, twoEntries(nil))+",if=virtio,format=raw")...)
	expect(t, vm,
		"network: eth0: "+boot+": tls: failed to verify certificate: x509: certificate signed by unknown authority",
		marker(cmdB))
	finish(t, vm, true)
}

// pxelinux over QEMU's TFTP server: the config found by the MAC
// (pxelinux.cfg/01-52-54-00-12-34-56, after the UUID's, which is not
// there), read by the syslinux parser, its kernel and initrd fetched
// over TFTP; the disk has no entries.
func TestNetPXELinux(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"pxelinux.0":                        []byte("not booted: warmboot reads the config pxelinux would"),
		"pxelinux.cfg/01-52-54-00-12-34-56": []byte("DEFAULT net\nPROMPT 0\nTIMEOUT 10\nLABEL net\n  KERNEL vmlinuz\n  INITRD target.img\n  APPEND console=ttyS0 quiet wbtest=pxe\n"),
		"pxelinux.cfg/default":              []byte("DEFAULT wrong\nLABEL wrong\n  KERNEL vmlinuz\n  APPEND wbtest=wrong\n"),
		"vmlinuz":                           kernelData,
		"target.img":                        targetData,
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := newNetServer(t, newTestCA(t, "unused").leaf)
	vm := bootVM(t, image, "warmboot.timeout=1",
		append(s.nic(t, "pxelinux.0", dir), "-drive", "file="+buildDisk(t, bootFS(nil))+",if=virtio,format=raw")...)
	expect(t, vm,
		" *  1) net (tftp://10.0.2.2/pxelinux.cfg/01-52-54-00-12-34-56)  [syslinux tftp://10.0.2.2/pxelinux.cfg/01-52-54-00-12-34-56:4]",
		"kernel tftp://10.0.2.2/vmlinuz",
		"wbtest=pxe")
	finish(t, vm, true)
}

// Hostile servers: a kernel that stalls mid-transfer, and an initrd that
// never ends, each end in a message within the idle timeout or the
// memory bound, and the disk's entry boots.
func TestNetHostile(t *testing.T) {
	parallel(t)
	s := newNetServer(t, newTestCA(t, "unused").leaf)
	s.files["/stall.ipxe"] = []byte("#!ipxe\nkernel k/stall console=ttyS0\nboot\n")
	s.files["/endless.ipxe"] = []byte("#!ipxe\nkernel k/vmlinuz console=ttyS0\ninitrd k/endless\nboot\n")
	s.files["/k/vmlinuz"] = kernelData
	// k/stall sends its first 64 KiB (the script's probe reads them:
	// a kernel, not a script) and then nothing, as a server that dies
	// mid-transfer; k/endless sends forever.
	s.stall["/k/stall"], s.endless["/k/endless"] = true, true
	for _, tc := range []struct {
		script, want string
	}{
		{"stall.ipxe", "kernel http://" + httpHost + "/k/stall: reading: stalled: nothing received for 15s; put the file on the server or fix http://" + httpHost + "/stall.ipxe:3"},
		{"endless.ipxe", "initrd http://" + httpHost + "/k/endless: larger than the "},
	} {
		start := time.Now()
		// 512 MiB (the last -m wins): the endless initrd stops at less
		// memory, sooner.
		vm := bootVM(t, image, "warmboot.net=first warmboot.timeout=1",
			append(s.nic(t, "http://"+httpHost+"/"+tc.script, ""), "-m", "512M", "-drive", "file="+buildDisk(t, twoEntries(nil))+",if=virtio,format=raw")...)
		expect(t, vm, tc.want, "; trying the next entry", marker(cmdA))
		finish(t, vm, true)
		t.Logf("%s: the disk's entry booted %.1fs after the VM started", tc.script, time.Since(start).Seconds())
	}
}

// No DHCP answer (the NIC is on a hub with nothing else): the disk's
// entries boot once warmboot.net.wait has passed, and the console says
// why it waited.
func TestNetNoDHCP(t *testing.T) {
	parallel(t)
	vm := bootVM(t, image, "warmboot.timeout=1 warmboot.net.wait=3",
		"-netdev", "hubport,id=n0,hubid=0", "-device", "virtio-net-pci,netdev=n0",
		"-drive", "file="+buildDisk(t, twoEntries(nil))+",if=virtio,format=raw")
	expect(t, vm,
		"network: no DHCP answer on eth0 within 3s (warmboot.net.wait= waits longer, warmboot.net=off skips the network)",
		marker(cmdA))
	finish(t, vm, true)
}

// On QEMU's default CPU (qemu64: no RDRAND) under TCG nothing seeds the
// kernel's random number generator for minutes, and the DHCP clients'
// getrandom(2) would block past every timeout: the bootloader says why
// it does not look on the network, within its wait, and boots the disk.
// (Before this was known it hung here after "no TPM", DHCP answering.)
func TestNetNoRandom(t *testing.T) {
	parallel(t)
	vm := bootVM(t, image, "warmboot.timeout=1 warmboot.net.wait=3",
		"-cpu", "qemu64", // after VMTEST_QEMU's -cpu: QEMU takes the last
		"-nic", "user,model=virtio-net-pci,restrict=on",
		"-drive", "file="+buildDisk(t, twoEntries(nil))+",if=virtio,format=raw")
	expect(t, vm,
		"network: the kernel's random number generator is not seeded yet",
		marker(cmdA))
	finish(t, vm, true)
}
