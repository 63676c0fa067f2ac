package neigh

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const table = `IP address       HW type     Flags       HW address            Mask     Device
169.254.77.1     0x1         0x2         e6:12:76:D4:AF:61     *        veth-mdns-b
10.0.0.9         0x1         0x0         00:00:00:00:00:00     *        eth0
192.0.2.7        0x1         0x2         00:00:00:00:00:00     *        eth0
192.0.2.8        0x1         0x2         01:00:5e:00:00:fb     *        eth0
garbage
`

func TestLookup(t *testing.T) {
	for ip, want := range map[string]string{
		"169.254.77.1": "e6:12:76:d4:af:61",
		"10.0.0.9":     "", // incomplete
		"192.0.2.7":    "", // all zero
		"192.0.2.8":    "", // multicast
		"192.0.2.99":   "", // absent
		"::1":          "", // IPv6: not in this table
	} {
		got, ok := lookup(strings.NewReader(table), netip.MustParseAddr(ip))
		require.Equal(t, want, got, ip)
		require.Equal(t, want != "", ok, ip)
	}
	_, ok := Lookup(netip.MustParseAddr("127.0.0.1")) // the real table: loopback is never in it
	require.False(t, ok)
}
