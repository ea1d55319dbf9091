package lease

import (
	"net"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

func ack(t testing.TB, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	mac, _ := net.ParseMAC("88:99:aa:bb:cc:dd")
	base := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithHwAddr(mac),
		dhcpv4.WithYourIP(net.IPv4(192, 168, 2, 91)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.IPv4(192, 168, 2, 1)),
		dhcpv4.WithServerIP(net.IPv4(192, 168, 2, 2)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(192, 168, 2, 1))),
	}
	p, err := dhcpv4.New(append(base, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	// Through the wire format, as a lease arrives.
	q, err := dhcpv4.FromBytes(p.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

const uuid = "8e6e4e8a-9c3b-4d8f-9a2e-1d2c3b4a5f60"

func TestBootURL(t *testing.T) {
	for _, tc := range []struct {
		name string
		mods []dhcpv4.Modifier
		want string
	}{
		{"http URL in option 67", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptBootFileName("http://10.0.2.2:8080/boot.ipxe"))}, "http://10.0.2.2:8080/boot.ipxe"},
		{"a path on siaddr", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptBootFileName("pxelinux.0"))}, "tftp://192.168.2.2/pxelinux.0"},
		{"option 66 over siaddr", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptBootFileName("/boot/pxelinux.0")), dhcpv4.WithOption(dhcpv4.OptTFTPServerName("tftp.example"))}, "tftp://tftp.example/boot/pxelinux.0"},
		{"the BOOTP file field", []dhcpv4.Modifier{func(d *dhcpv4.DHCPv4) { d.BootFileName = "boot.ipxe" }}, "tftp://192.168.2.2/boot.ipxe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := FromPacket("eth0", ack(t, tc.mods...))
			u, err := l.BootURL()
			if err != nil || u.String() != tc.want {
				t.Errorf("BootURL() = %v, %v; want %s", u, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "ftp://x/y", "http:///nohost"} {
		l := FromPacket("eth0", ack(t, dhcpv4.WithOption(dhcpv4.OptBootFileName(bad))))
		if u, err := l.BootURL(); err == nil {
			t.Errorf("boot file %q: BootURL() = %v, want an error", bad, u)
		}
	}
}

// TestPXELinuxConfigs is pxelinux's own example (doc/pxelinux.txt).
func TestPXELinuxConfigs(t *testing.T) {
	l := FromPacket("eth0", ack(t, dhcpv4.WithOption(dhcpv4.OptBootFileName("/boot/pxelinux.0"))))
	prefix, names, err := l.PXELinuxConfigs("b8945908-d6a6-41a9-611d-74a6ab80b83d")
	if err != nil {
		t.Fatal(err)
	}
	if prefix.String() != "tftp://192.168.2.2/boot/" {
		t.Errorf("prefix %s", prefix)
	}
	want := []string{
		"pxelinux.cfg/b8945908-d6a6-41a9-611d-74a6ab80b83d",
		"pxelinux.cfg/01-88-99-aa-bb-cc-dd",
		"pxelinux.cfg/C0A8025B", "pxelinux.cfg/C0A8025", "pxelinux.cfg/C0A802", "pxelinux.cfg/C0A80",
		"pxelinux.cfg/C0A8", "pxelinux.cfg/C0A", "pxelinux.cfg/C0", "pxelinux.cfg/C",
		"pxelinux.cfg/default",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	// Options 209 and 210 say where, and then nothing is guessed.
	l = FromPacket("eth0", ack(t, dhcpv4.WithOption(dhcpv4.OptBootFileName("pxelinux.0")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionPXELinuxConfigFile, []byte("configs/rack7.cfg"))),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionPXELinuxPathPrefix, []byte("http://10.0.0.5/pxe/")))))
	prefix, names, err = l.PXELinuxConfigs("")
	if err != nil || prefix.String() != "http://10.0.0.5/pxe/" || !cmp.Equal(names, []string{"configs/rack7.cfg"}) {
		t.Errorf("209/210: %v %v %v", prefix, names, err)
	}
}

func TestSettings(t *testing.T) {
	id, _ := ParseUUID(uuid)
	l := FromPacket("eth0", ack(t, dhcpv4.WithOption(dhcpv4.OptHostName("node7")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, id...)))))
	s := l.Settings("")
	for k, v := range map[string]string{"net0/mac": "88:99:aa:bb:cc:dd", "mac": "88:99:aa:bb:cc:dd", "ip": "192.168.2.91",
		"netmask": "255.255.255.0", "gateway": "192.168.2.1", "hostname": "node7", "uuid": uuid, "next-server": "192.168.2.2"} {
		if s[k] != v {
			t.Errorf("${%s} = %q, want %q", k, s[k], v)
		}
	}
}

func FuzzFromBytes(f *testing.F) {
	f.Add(ack(f, dhcpv4.WithOption(dhcpv4.OptBootFileName("http://10.0.2.2/boot.ipxe"))).ToBytes())
	f.Add(ack(f, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionPXELinuxPathPrefix, []byte("/x/")))).ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		l := FromPacket("eth0", p)
		for _, s := range []string{l.Hostname, l.Domain, l.Bootfile, l.TFTPServer, l.PXEConfigFile, l.PXEPathPrefix, l.VendorClass} {
			if len(s) > 4*maxText || strings.IndexFunc(s, unicode.IsControl) >= 0 {
				t.Errorf("option %q kept unprintable or unbounded", s)
			}
		}
		if u, err := l.BootURL(); err == nil {
			switch u.Scheme {
			case "http", "https", "tftp":
			default:
				t.Errorf("BootURL() = %s", u)
			}
		}
		l.Settings("")
		l.PXELinuxConfigs("")
	})
}
