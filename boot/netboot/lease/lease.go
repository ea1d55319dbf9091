// Package lease reads what a DHCP server said into what netbooting
// needs: the address, the boot file (option 67, or the BOOTP file field)
// and the server to fetch it from (option 66, or siaddr), pxelinux's
// options 209 and 210, the machine's UUID (97), and the settings an iPXE
// script reads (${net0/mac}, ${ip}, ${hostname}, ...). It decodes with
// insomniacslk/dhcp (the library u-root's dhclient brings up networks
// with); the choices about what the options mean are here, pure and
// fuzzed.
package lease

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Lease is what one DHCPv4 answer on one interface said.
type Lease struct {
	Interface string           `json:"interface"`
	MAC       net.HardwareAddr `json:"-"`
	IP        net.IP           `json:"ip"`
	Mask      net.IPMask       `json:"-"`
	Router    net.IP           `json:"router,omitempty"`
	DNS       []net.IP         `json:"dns,omitempty"`
	Hostname  string           `json:"hostname,omitempty"`
	Domain    string           `json:"domain,omitempty"`
	// Server is the DHCP server (option 54).
	Server net.IP `json:"server,omitempty"`
	// NextServer is the BOOTP siaddr: where to fetch a bare boot file.
	NextServer net.IP `json:"next_server,omitempty"`
	// TFTPServer is option 66, which names the TFTP server (a name or
	// an address) instead of siaddr.
	TFTPServer string `json:"tftp_server,omitempty"`
	// Bootfile is option 67, else the BOOTP file field.
	Bootfile string `json:"bootfile,omitempty"`
	// PXEConfigFile and PXEPathPrefix are pxelinux's options 209 and
	// 210 (RFC 5071).
	PXEConfigFile string `json:"pxe_config_file,omitempty"`
	PXEPathPrefix string `json:"pxe_path_prefix,omitempty"`
	// UUID is the machine identifier the answer carries (option 97),
	// as 8-4-4-4-12 hex; empty when it carries none.
	UUID string `json:"uuid,omitempty"`
	// VendorClass is option 60 in the answer.
	VendorClass string `json:"vendor_class,omitempty"`
}

// maxText bounds a string option taken from an answer.
const maxText = 255

// FromPacket reads an answer received on interface ifname.
func FromPacket(ifname string, p *dhcpv4.DHCPv4) Lease {
	l := Lease{
		Interface:   ifname,
		MAC:         p.ClientHWAddr,
		IP:          p.YourIPAddr,
		Mask:        p.SubnetMask(),
		DNS:         p.DNS(),
		Hostname:    text(p.HostName()),
		Domain:      text(p.DomainName()),
		Server:      p.ServerIdentifier(),
		NextServer:  p.ServerIPAddr,
		TFTPServer:  text(p.TFTPServerName()),
		Bootfile:    text(p.BootFileNameOption()),
		VendorClass: text(p.ClassIdentifier()),
	}
	if r := p.Router(); len(r) > 0 {
		l.Router = r[0]
	}
	if l.Bootfile == "" {
		l.Bootfile = text(p.BootFileName)
	}
	l.PXEConfigFile = text(string(p.GetOneOption(dhcpv4.OptionPXELinuxConfigFile)))
	l.PXEPathPrefix = text(string(p.GetOneOption(dhcpv4.OptionPXELinuxPathPrefix)))
	if id := p.GetOneOption(dhcpv4.OptionClientMachineIdentifier); len(id) == 17 && id[0] == 0 {
		l.UUID = FormatUUID(id[1:])
	}
	if l.NextServer.IsUnspecified() {
		l.NextServer = nil
	}
	return l
}

// text keeps a string option printable and bounded: an answer is
// untrusted, and these end up in URLs, settings and messages.
func text(s string) string {
	s = strings.TrimRight(s, "\x00")
	if len(s) > maxText {
		s = s[:maxText]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}

// FormatUUID prints a 16-byte UUID (option 97's, ParseUUID's) as
// 8-4-4-4-12 lower-case hex, the bytes in order, as pxelinux names its
// config file.
func FormatUUID(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ParseUUID reads 8-4-4-4-12 hex (as /sys/class/dmi/id/product_uuid
// has it) into the 16 bytes option 97 carries.
func ParseUUID(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	if err != nil || len(b) != 16 {
		return nil, fmt.Errorf("%q is not a UUID", s)
	}
	return b, nil
}

// ErrNoBootfile is an answer that names nothing to boot.
var ErrNoBootfile = errors.New("the DHCP answer names no boot file (option 67 or the BOOTP file field)")

// BootURL is the boot file as a URL: an http, https or tftp URL as
// given, else a TFTP path on option 66's server, else on siaddr, else on
// the DHCP server (as pxelinux falls back).
func (l Lease) BootURL() (*url.URL, error) {
	f := l.Bootfile
	if f == "" {
		return nil, ErrNoBootfile
	}
	if strings.Contains(f, "://") {
		u, err := url.Parse(f)
		if err != nil {
			return nil, fmt.Errorf("boot file %q: %w", f, err)
		}
		switch u.Scheme {
		case "http", "https", "tftp":
			if u.Host == "" {
				return nil, fmt.Errorf("boot file %q: no server in the URL", f)
			}
			return u, nil
		}
		return nil, fmt.Errorf("boot file %q: warmboot fetches http, https and tftp", f)
	}
	server := l.TFTPServer
	if server == "" && l.NextServer != nil {
		server = l.NextServer.String()
	}
	if server == "" && l.Server != nil {
		server = l.Server.String()
	}
	if server == "" {
		return nil, fmt.Errorf("boot file %q: the answer names no server to fetch it from (option 66 or siaddr)", f)
	}
	return &url.URL{Scheme: "tftp", Host: server, Path: "/" + strings.TrimPrefix(f, "/")}, nil
}

// Settings are the iPXE settings a script on this lease reads.
func (l Lease) Settings(uuid string) map[string]string {
	s := map[string]string{
		"buildarch": "x86_64",
		"platform":  "efi",
		"product":   "warmboot",
	}
	set := func(k, v string) {
		if v != "" {
			s[k] = v
			s["net0/"+k] = v
		}
	}
	if l.MAC != nil {
		set("mac", l.MAC.String())
	}
	if l.IP != nil {
		set("ip", l.IP.String())
	}
	if l.Mask != nil {
		set("netmask", net.IP(l.Mask).String())
	}
	if l.Router != nil {
		set("gateway", l.Router.String())
	}
	if len(l.DNS) > 0 {
		set("dns", l.DNS[0].String())
	}
	set("hostname", l.Hostname)
	set("domain", l.Domain)
	set("filename", l.Bootfile)
	if l.NextServer != nil {
		set("next-server", l.NextServer.String())
	}
	if uuid == "" {
		uuid = l.UUID
	}
	if uuid != "" {
		s["uuid"] = uuid
	}
	return s
}

// PXELinuxConfigs are the config files pxelinux looks for, in its
// order: option 209 alone if the answer has it, else under
// pxelinux.cfg/ beside the boot file (or under option 210's prefix):
// the UUID, "01-" and the MAC in hyphenated hex, the IP in upper-case
// hex shortened one digit at a time, then "default".
func (l Lease) PXELinuxConfigs(uuid string) (prefix *url.URL, names []string, err error) {
	boot, err := l.BootURL()
	if err != nil && l.PXEPathPrefix == "" {
		return nil, nil, err
	}
	if l.PXEPathPrefix != "" {
		if prefix, err = url.Parse(l.PXEPathPrefix); err != nil || !strings.Contains(l.PXEPathPrefix, "://") {
			// A bare path is on the boot file's server.
			if boot == nil {
				return nil, nil, fmt.Errorf("pxelinux path prefix %q: no server", l.PXEPathPrefix)
			}
			prefix = boot.ResolveReference(&url.URL{Path: "/" + strings.TrimPrefix(l.PXEPathPrefix, "/")})
		}
	} else {
		prefix = boot.ResolveReference(&url.URL{Path: "./"})
	}
	if l.PXEConfigFile != "" {
		return prefix, []string{l.PXEConfigFile}, nil
	}
	if uuid == "" {
		uuid = l.UUID
	}
	if uuid != "" {
		names = append(names, "pxelinux.cfg/"+strings.ToLower(uuid))
	}
	if l.MAC != nil {
		names = append(names, "pxelinux.cfg/01-"+strings.ReplaceAll(strings.ToLower(l.MAC.String()), ":", "-"))
	}
	if ip := l.IP.To4(); ip != nil {
		h := strings.ToUpper(hex.EncodeToString(ip))
		for i := len(h); i > 0; i-- {
			names = append(names, "pxelinux.cfg/"+h[:i])
		}
	}
	return prefix, append(names, "pxelinux.cfg/default"), nil
}
