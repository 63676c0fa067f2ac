//go:build linux

package sim

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/internal/peers"
)

func fakeDevices() []Device {
	var out []Device
	for i, kind := range []string{"display", "projector", "ups", "display"} {
		out = append(out, Device{Index: i, Kind: kind, Model: "M" + strconv.Itoa(i), Manufacturer: "ACME",
			Serial: "SIM-M-00000" + strconv.Itoa(i), MAC: "02:ed:67:00:00:0" + strconv.Itoa(i),
			Hostname: "sim-" + kind + "-00" + strconv.Itoa(i), Addr: netip.MustParseAddrPort("127.0.10." + strconv.Itoa(i+1) + ":161")})
	}
	return out
}

// TestMDNSResponders: inside a namespace of the test's own (lo with multicast), a PTR query for
// _pjlink._tcp gets every display and projector, with SRV, TXT and A, from a plain miekg/dns client.
func TestMDNSResponders(t *testing.T) {
	ns := peers.LoopbackNetns(t)
	if !peers.InNetns(t, ns) {
		return
	}
	r, err := StartMDNS(MDNSOptions{Netns: ns, Devices: fakeDevices()})
	require.NoError(t, err)
	defer r.Close()
	require.Len(t, r.Instances(), 3, "the UPS does not speak PJLink")

	c, err := net.ListenUDP("udp4", nil)
	require.NoError(t, err)
	defer c.Close()
	q := new(dns.Msg)
	q.SetQuestion("_pjlink._tcp.local.", dns.TypePTR)
	b, err := q.Pack()
	require.NoError(t, err)
	_, err = c.WriteToUDP(b, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 9000)
	n, _, err := c.ReadFromUDP(buf)
	require.NoError(t, err)
	var m dns.Msg
	require.NoError(t, m.Unpack(buf[:n]))
	var ptrs, txts []string
	addrs := map[string]string{}
	for _, rr := range append(m.Answer, m.Extra...) {
		switch v := rr.(type) {
		case *dns.PTR:
			ptrs = append(ptrs, v.Ptr)
		case *dns.TXT:
			txts = append(txts, strings.Join(v.Txt, " "))
		case *dns.A:
			addrs[v.Hdr.Name] = v.A.String()
		}
	}
	require.ElementsMatch(t, []string{"sim-display-000._pjlink._tcp.local.", "sim-projector-001._pjlink._tcp.local.",
		"sim-display-003._pjlink._tcp.local."}, ptrs, "every instance in one answer")
	require.Contains(t, txts, "class=1 vendor=ACME model=M0 serial=SIM-M-000000 mac=02:ed:67:00:00:00")
	require.Contains(t, txts, "class=2 vendor=ACME model=M1 serial=SIM-M-000001 mac=02:ed:67:00:00:01")
	require.Equal(t, "127.0.10.4", addrs["sim-display-003.local."], "at the device's SNMP address")
}

// TestMDNSRefusesHostNamespace: no namespace, or the host's own under a name, is refused.
func TestMDNSRefusesHostNamespace(t *testing.T) {
	_, err := StartMDNS(MDNSOptions{Devices: fakeDevices()})
	require.ErrorContains(t, err, "need a network namespace")
	_, err = StartMDNS(MDNSOptions{Netns: "../etc", Devices: fakeDevices()})
	require.ErrorContains(t, err, "not a network namespace name")
	if os.Geteuid() != 0 {
		t.Skip("naming the host's namespace needs root")
	}
	if onlyVirtual() == nil {
		t.Skip("this test runs in a namespace of lo and veth interfaces only: nothing to refuse")
	}
	name := "edgegw-hostns-" + strconv.Itoa(os.Getpid())
	out, err := exec.Command("ip", "netns", "attach", name, strconv.Itoa(os.Getpid())).CombinedOutput() // this test's own
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
	_, err = StartMDNS(MDNSOptions{Netns: name, Devices: fakeDevices()})
	require.ErrorContains(t, err, "may reach a real network: refused")
}
