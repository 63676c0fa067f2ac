package mdns

import (
	"os"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/internal/peers"
)

func readPacket(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(peers.Shared(t, "testdata/real/mdns/packets/"+name))
	require.NoError(t, err)
	return b
}

func cacheOf(t *testing.T, services []string, packets ...[]byte) *cache {
	t.Helper()
	c := newCache(services)
	for _, p := range packets {
		c.add(packet{b: p})
	}
	return c
}

// TestSonosPacket: a real Sonos answer (python-zeroconf's test data) whose NSEC record holds an invalid
// compression pointer. miekg/dns, and so hashicorp/mdns, rejects the whole packet; edgegw keeps every
// other record, as python-zeroconf does.
func TestSonosPacket(t *testing.T) {
	b := readPacket(t, "sonos-speaker_sonos-tcp.bin")
	var strict dns.Msg
	require.Error(t, strict.Unpack(b), "a strict parser drops the packet")

	m, err := ParseMessage(b)
	require.NoError(t, err)
	types := map[uint16]int{}
	for _, r := range m.Records {
		types[r.Type]++
	}
	require.Equal(t, map[uint16]int{dns.TypePTR: 1, dns.TypeSRV: 1, dns.TypeA: 1, dns.TypeTXT: 1, dns.TypeNSEC: 2}, types)

	c := cacheOf(t, []string{"_sonos._tcp"}, b)
	ins := c.instances()
	require.Len(t, ins, 1)
	in := ins[0]
	require.Equal(t, "Sonos-542A1BC9220E._sonos._tcp.local.", in.Name)
	require.Equal(t, "sonos-542a1bc9220e.local.", in.Host)
	require.Equal(t, uint16(1443), in.Port)
	require.Equal(t, "192.168.2.58", in.Addr.String()) // read from the captured packet; never contacted
	// The TXT as EXPECTED.tsv says: protovers, vers, info, location (the model is not in TXT).
	for k, want := range map[string]string{"protovers": "1.24.1", "vers": "3",
		"info": "/api/v1/players/RINCON_542A1BC9220E01400/info", "location": "http://192.168.2.58:1400/xml/device_description.xml"} { // TXT text from the capture
		v, ok := txtText(in.TXT, k)
		require.True(t, ok, k)
		require.Equal(t, want, v, k)
	}
}

// TestShellyPacket: a Shelly Pro 4PM's answer to a services enumeration, with _shelly._tcp and
// _http._tcp instances of one host whose names differ in case.
func TestShellyPacket(t *testing.T) {
	b := readPacket(t, "shelly-pro4pm_services-shelly-http.bin")
	c := cacheOf(t, []string{"_shelly._tcp", "_http._tcp"}, b)
	ins := c.instances()
	require.Len(t, ins, 2)
	names := map[string]instance{}
	for _, in := range ins {
		names[in.Name] = in
	}
	h := names["ShellyPro4PM-94B97EC07650._http._tcp.local."]
	require.Equal(t, "shellypro4pm-94b97ec07650.local.", h.Host)
	require.Equal(t, "192.168.188.61", h.Addr.String()) // read from the captured packet; never contacted
	s := names["shellypro4pm-94b97ec07650._shelly._tcp.local."]
	require.Equal(t, h.Addr, s.Addr, "one host")
	v, _ := txtText(s.TXT, "app")
	require.Equal(t, "Pro4PM", v)
	v, _ = txtText(s.TXT, "ver")
	require.Equal(t, "0.10.0-beta5", v)

	d, err := New(Options{Services: []string{"_shelly._tcp", "_http._tcp"}})
	require.NoError(t, err)
	sg := d.sighting(h.Addr, ins)
	require.Equal(t, "shellypro4pm-94b97ec07650", sg.Identity.Hostname)
	require.Equal(t, "192.168.188.61", sg.Address) // a sighting made in memory; never contacted
}
