package mdns

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgegw/edgegw/gateway"
)

// answer packs a response with the given records (in the answer section) and extras.
func answer(t *testing.T, answers []dns.RR, extra ...dns.RR) []byte {
	t.Helper()
	m := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Answer: answers, Extra: extra, Compress: true}
	b, err := m.Pack()
	require.NoError(t, err)
	return b
}

func hdr(name string, typ uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: ttl}
}

func ptr(svc, inst string) dns.RR { return &dns.PTR{Hdr: hdr(svc, dns.TypePTR, 120), Ptr: inst} }
func srv(inst, host string, port uint16) dns.RR {
	return &dns.SRV{Hdr: hdr(inst, dns.TypeSRV, 120), Target: host, Port: port}
}
func txt(inst string, s ...string) dns.RR { return &dns.TXT{Hdr: hdr(inst, dns.TypeTXT, 120), Txt: s} }
func a(host, ip string) dns.RR            { return &dns.A{Hdr: hdr(host, dns.TypeA, 120), A: net.ParseIP(ip)} }

func TestAssembly(t *testing.T) {
	const svc = "_pjlink._tcp.local."
	t.Run("two instances of one type sharing an A record", func(t *testing.T) {
		b := answer(t, []dns.RR{ptr(svc, `Hall\ A._pjlink._tcp.local.`), ptr(svc, `Hall\ B._pjlink._tcp.local.`)},
			srv(`Hall\ A._pjlink._tcp.local.`, "proj.local.", 4352), srv(`Hall\ B._pjlink._tcp.local.`, "proj.local.", 4353),
			txt(`Hall\ A._pjlink._tcp.local.`, "class=1"), txt(`Hall\ B._pjlink._tcp.local.`, "class=2"), a("proj.local.", "169.254.9.9"))
		ins := cacheOf(t, []string{"_pjlink._tcp"}, b).instances()
		require.Len(t, ins, 2)
		for i, want := range []string{"Hall A", "Hall B"} {
			require.Equal(t, want+"._pjlink._tcp.local.", unescape(ins[i].Name))
			require.Equal(t, "169.254.9.9", ins[i].Addr.String())
		}
	})
	t.Run("records split across packets", func(t *testing.T) {
		c := cacheOf(t, []string{"_pjlink._tcp"},
			answer(t, []dns.RR{ptr(svc, "x._pjlink._tcp.local.")}),
			answer(t, []dns.RR{srv("X._PJLINK._tcp.local.", "Box.local.", 1)}), // names compare without case
			answer(t, []dns.RR{a("box.local.", "169.254.9.10")}))
		require.Contains(t, c.missing(), dns.Question{Name: "x._pjlink._tcp.local.", Qtype: dns.TypeTXT, Qclass: dns.ClassINET})
		ins := c.instances()
		require.Len(t, ins, 1)
		require.Equal(t, "box.local.", ins[0].Host)
		require.Equal(t, "169.254.9.10", ins[0].Addr.String())
	})
	t.Run("goodbye", func(t *testing.T) {
		bye := &dns.PTR{Hdr: hdr(svc, dns.TypePTR, 0), Ptr: "x._pjlink._tcp.local."}
		c := cacheOf(t, []string{"_pjlink._tcp"}, answer(t, []dns.RR{ptr(svc, "x._pjlink._tcp.local.")}), answer(t, []dns.RR{bye}))
		require.Empty(t, c.instances())
	})
	t.Run("other types and queries are not instances", func(t *testing.T) {
		q, err := query([]dns.Question{{Name: svc, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}, false)
		require.NoError(t, err)
		c := cacheOf(t, []string{"_pjlink._tcp"}, q,
			answer(t, []dns.RR{ptr("_ipp._tcp.local.", "p._ipp._tcp.local.")}, srv("p._ipp._tcp.local.", "p.local.", 631)))
		require.Empty(t, c.instances())
		require.Empty(t, c.srv)
	})
	t.Run("UTF-8 and escaped dots", func(t *testing.T) {
		b := answer(t, []dns.RR{ptr(svc, `Büro\.1._pjlink._tcp.local.`)})
		ins := cacheOf(t, []string{"_pjlink._tcp"}, b).instances()
		require.Len(t, ins, 1)
		require.Equal(t, "Büro.1._pjlink._tcp.local.", unescape(ins[0].Name))
	})
}

func TestParseTXT(t *testing.T) {
	raw := []byte{}
	for _, s := range []string{"Vendor=ACME", "vendor=other", "Color", "note=", "", "=nokey", "bin=\xff\x00\x01", "x=a=b"} {
		raw = append(append(raw, byte(len(s))), s...)
	}
	raw = append(raw, 50, 'c', 'u', 't') // runs past the record
	got := ParseTXT(raw)
	require.Equal(t, []TXTEntry{
		{Key: "vendor", Value: []byte("ACME"), HasValue: true},
		{Key: "color"},
		{Key: "note", Value: []byte{}, HasValue: true},
		{Key: "bin", Value: []byte("\xff\x00\x01"), HasValue: true},
		{Key: "x", Value: []byte("a=b"), HasValue: true},
		{Key: "cut"},
	}, got)
	b, err := convert(&gateway.Point{Type: gateway.TypeBool}, got[1])
	require.NoError(t, err)
	require.Equal(t, gateway.Bool(true), b, "a key without = is a true attribute")
	_, err = convert(&gateway.Point{Type: gateway.TypeString}, got[3])
	require.ErrorContains(t, err, "binary value ff0001")
}

func TestNormMAC(t *testing.T) {
	for in, want := range map[string]string{
		"48:0f:cf:c9:16:7e": "48:0f:cf:c9:16:7e", // HP, in _ipp TXT
		"1C:B3:C9:0F:49:FD": "1c:b3:c9:0f:49:fd", // Apple TV deviceid
		"00:00:00:00:00:00": "",                  // Apple btaddr placeholder
		"b42200415baa":      "b4:22:00:41:5b:aa",
		"ff:ff:ff:ff:ff:ff": "",
		"not a mac":         "",
	} {
		require.Equal(t, want, normMAC(in), in)
	}
}

func TestParseMessageBounds(t *testing.T) {
	_, err := ParseMessage([]byte{1, 2, 3})
	require.ErrorIs(t, err, errShort)
	m, err := ParseMessage([]byte{0, 0, 0x84, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0})
	require.ErrorIs(t, err, errShort, "claims 65535 answers, has none")
	require.Empty(t, m.Records)
	// A record with a pointer to nowhere is skipped; the next one is kept.
	good := answer(t, []dns.RR{a("h.local.", "169.254.1.1")})
	bad := append([]byte{}, good[:12]...)
	bad[7] = 2
	bad = append(bad, 0xC0, 0xF0, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 1, 2, 3, 4) // owner name points past the end
	bad = append(bad, good[12:]...)
	m, err = ParseMessage(bad)
	require.NoError(t, err)
	require.Equal(t, 1, m.Dropped)
	require.Len(t, m.Records, 1)
	require.Equal(t, netip.MustParseAddr("169.254.1.1"), m.Records[0].Addr)
}

func FuzzMessage(f *testing.F) {
	for _, p := range []string{"sonos-speaker_sonos-tcp.bin", "shelly-pro4pm_services-shelly-http.bin"} {
		f.Add(readPacket(f, p))
	}
	f.Add([]byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 0x0C, 0, 12, 0, 1, 0, 0, 0, 1, 0, 2, 0xC0, 0x0C})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _ := ParseMessage(b)
		if len(m.Records) > maxRecords {
			t.Fatal("more records than the bound")
		}
		c := newCache([]string{"_sonos._tcp", "_http._tcp"})
		c.add(packet{b: b})
		c.instances()
		c.missing()
	})
}

func FuzzTXT(f *testing.F) {
	f.Add([]byte("\x0bVendor=ACME\x05Color\x05note="))
	f.Add([]byte{0xff, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		seen := map[string]bool{}
		for _, e := range ParseTXT(b) {
			if e.Key == "" || seen[e.Key] {
				t.Fatalf("empty or repeated key %q", e.Key)
			}
			seen[e.Key] = true
			convert(&gateway.Point{Type: gateway.TypeFloat}, e)
			convert(&gateway.Point{Type: gateway.TypeBool}, e)
		}
	})
}

// TestMain checks that no browse leaves a socket reader behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
