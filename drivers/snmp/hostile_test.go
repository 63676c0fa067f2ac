package snmp

import (
	"context"
	"crypto/rand"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgegw/edgegw/gateway"
)

// agent is a raw UDP SNMP responder for tests: it decodes each v2c request with gosnmp and answers
// what behave returns (nil: no answer).
type agent struct {
	pc   *net.UDPConn
	wg   sync.WaitGroup
	addr string
}

type behaviour func(req *gosnmp.SnmpPacket, raw []byte) []byte

func startAgent(t *testing.T, behave behaviour) *agent {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	a := &agent{pc: pc, addr: pc.LocalAddr().String()}
	serve(t, a, behave)
	return a
}

// mib answers GET and GETNEXT/GETBULK from a fixed map like a well-behaved agent: a display whose sysDescr
// can be replaced.
func goodAgent(sysDescr string, delay time.Duration) behaviour {
	vals := map[string]gosnmp.SnmpPDU{
		oidSysDescr:    {Type: gosnmp.OctetString, Value: []byte(sysDescr)},
		oidSysObjectID: {Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.99999.1.55"},
		oidSysUpTime:   {Type: gosnmp.TimeTicks, Value: uint32(12345)},
		oidSysName:     {Type: gosnmp.OctetString, Value: []byte("good")},
	}
	return func(req *gosnmp.SnmpPacket, raw []byte) []byte {
		if delay > 0 {
			time.Sleep(delay)
		}
		resp := &gosnmp.SnmpPacket{Version: req.Version, Community: req.Community, PDUType: gosnmp.GetResponse,
			RequestID: req.RequestID}
		for _, v := range req.Variables {
			name := normOID(v.Name)
			switch req.PDUType {
			case gosnmp.GetRequest:
				if pdu, ok := vals[name]; ok {
					pdu.Name = name
					resp.Variables = append(resp.Variables, pdu)
				} else {
					resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: name, Type: gosnmp.NoSuchObject})
				}
			default: // the tables are empty: the walk ends at once
				resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: name, Type: gosnmp.EndOfMibView})
			}
		}
		out, err := resp.MarshalMsg()
		if err != nil {
			panic(err)
		}
		return out
	}
}

func silent(*gosnmp.SnmpPacket, []byte) []byte { return nil }

func garbage(*gosnmp.SnmpPacket, []byte) []byte {
	b := make([]byte, 200)
	rand.Read(b)
	b[0] = 0x30 // looks like the start of a BER sequence
	return b
}

func wrongRequestID(req *gosnmp.SnmpPacket, raw []byte) []byte {
	r := *req
	r.RequestID++
	return goodAgent("x", 0)(&r, raw)
}

func hostileGroup(name string, addrs ...string) Group {
	g := Group{Credentials: Credentials{Name: name, Version: V2c, Community: "public"}, Timeout: 300 * time.Millisecond, Retries: 1}
	for _, a := range addrs {
		h, p, _ := net.SplitHostPort(a)
		port, _ := net.LookupPort("udp", p)
		g.Targets = append(g.Targets, Target{Host: h, Port: uint16(port)})
	}
	return g
}

func TestHostileAgents(t *testing.T) {
	noLeaks(t)
	good := startAgent(t, goodAgent("ACME DisplayPro 55", 0))
	cases := map[string]*agent{
		"silent":     startAgent(t, silent),
		"garbage":    startAgent(t, garbage),
		"wrong-id":   startAgent(t, wrongRequestID),
		"huge-value": startAgent(t, goodAgent(strings.Repeat("x", 60000), 0)),
	}
	addrs := []string{good.addr}
	byAddr := map[string]string{}
	for name, a := range cases {
		addrs = append(addrs, a.addr)
		byAddr[a.addr] = name
	}
	d, err := New(Options{Groups: []Group{hostileGroup("hostile", addrs...)}, Concurrency: 8})
	require.NoError(t, err)
	var r result
	r.discover(t, d)
	require.Len(t, r.found, 1, "the good agent is found despite its neighbours")
	require.Equal(t, good.addr, r.found[0].Address)
	require.Equal(t, "ACME DisplayPro 55", r.found[0].Identity.SysDescr)

	require.Len(t, r.errs, len(cases), "each hostile agent is one error")
	for _, e := range r.errs {
		name := byAddr[e.Address]
		require.NotEmpty(t, name, "error for an unknown address %s", e.Address)
		require.Contains(t, e.Error(), e.Address, "the error names the address")
		switch name {
		case "silent", "wrong-id": // a reply to another request is no answer to this one
			require.Contains(t, e.Error(), "no answer", name)
		case "garbage":
			require.Contains(t, e.Error(), "read system group", name)
		case "huge-value":
			require.Contains(t, e.Error(), "sysDescr: value is 60000 bytes", name)
		}
	}
	// Polls fail the same way, per device.
	for addr, name := range byAddr {
		_, err := d.Poll(context.Background(), gateway.Endpoint{Protocol: Protocol, Address: addr, Credential: "hostile"},
			[]gateway.Point{{Name: "uptimeSeconds", Address: &Addr{OID: oidSysUpTime}, Type: gateway.TypeTimeticks}})
		if name == "huge-value" {
			require.NoError(t, err, "a huge value on another OID does not fail this poll")
			continue
		}
		require.ErrorContains(t, err, addr)
	}
	require.NoError(t, d.Close())
}

// TestDeadAgentDoesNotDelayOthers polls a dead agent and several live ones at once: the live ones all
// finish while the dead one is still waiting for its timeout. (An ordering, not a timing, assertion.)
func TestDeadAgentDoesNotDelayOthers(t *testing.T) {
	noLeaks(t)
	dead := startAgent(t, silent)
	slow := startAgent(t, goodAgent("slow", 3*time.Second))
	var live []string
	for range 10 {
		live = append(live, startAgent(t, goodAgent("live", 0)).addr)
	}
	g := hostileGroup("g", append([]string{dead.addr, slow.addr}, live...)...)
	g.Timeout, g.Retries = 2*time.Second, 1
	d, err := New(Options{Groups: []Group{g}, Concurrency: 4})
	require.NoError(t, err)
	defer d.Close()
	pts := []gateway.Point{{Name: "uptimeSeconds", Address: &Addr{OID: oidSysUpTime}, Type: gateway.TypeTimeticks}}
	poll := func(addr string) error {
		_, err := d.Poll(context.Background(), gateway.Endpoint{Protocol: Protocol, Address: addr, Credential: "g"}, pts)
		return err
	}
	blocked := make(chan error, 2)
	go func() { blocked <- poll(dead.addr) }()
	go func() { blocked <- poll(slow.addr) }()
	time.Sleep(50 * time.Millisecond) // let both take their sessions
	var wg sync.WaitGroup
	errs := make([]error, len(live))
	for i, a := range live {
		wg.Go(func() { errs[i] = poll(a) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	select {
	case err := <-blocked:
		t.Fatalf("a dead or slow agent finished before the live ones: %v", err)
	default:
	}
	e1, e2 := <-blocked, <-blocked
	require.True(t, e1 != nil || e2 != nil, "the dead agent's poll fails")
}

// TestCancelStopsPollPromptly: a cancelled context ends a poll of a dead agent without waiting out its
// timeout (shutdown must finish within 5 s).
func TestCancelStopsPollPromptly(t *testing.T) {
	dead := startAgent(t, silent)
	g := hostileGroup("g", dead.addr)
	g.Timeout, g.Retries = 30*time.Second, 3
	d, err := New(Options{Groups: []Group{g}})
	require.NoError(t, err)
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := d.Poll(ctx, gateway.Endpoint{Protocol: Protocol, Address: dead.addr, Credential: "g"},
			[]gateway.Point{{Name: "x", Address: &Addr{OID: oidSysUpTime}, Type: gateway.TypeInt}})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(20 * time.Second): // far below the 120 s the timeouts would take
		t.Fatal("poll did not stop on cancel")
	}
}

func TestTargetExpansion(t *testing.T) {
	var got []string
	tg := Target{Prefix: mustPrefix(t, "127.0.10.0/29"), Port: 16100}
	require.NoError(t, tg.Each(func(a string) bool { got = append(got, a); return true }))
	require.Equal(t, []string{"127.0.10.1:16100", "127.0.10.2:16100", "127.0.10.3:16100", "127.0.10.4:16100",
		"127.0.10.5:16100", "127.0.10.6:16100"}, got, "network and broadcast addresses are skipped")
	require.Equal(t, 6, tg.Size())
	got = nil
	require.NoError(t, tg.Each(func(a string) bool { got = append(got, a); return len(got) < 2 }))
	require.Len(t, got, 2, "expansion is lazy and stops when asked")
	huge := Target{Prefix: mustPrefix(t, "::1/64")}
	require.Equal(t, 1<<30, huge.Size())
}

func TestMaxAddressesBoundsASweep(t *testing.T) {
	a := startAgent(t, silent)
	_, port, _ := net.SplitHostPort(a.addr)
	p, _ := net.LookupPort("udp", port)
	g := Group{Credentials: Credentials{Name: "g", Version: V2c, Community: "public"},
		Targets: []Target{{Prefix: mustPrefix(t, "127.0.20.0/24"), Port: uint16(p)}}, Timeout: 50 * time.Millisecond}
	var total, done int
	var mu sync.Mutex
	d, err := New(Options{Groups: []Group{g}, MaxAddresses: 10, Progress: func(n, tot int) {
		mu.Lock()
		done, total = n, tot
		mu.Unlock()
	}})
	require.NoError(t, err)
	defer d.Close()
	var r result
	r.discover(t, d)
	require.Equal(t, 10, total)
	require.Equal(t, 10, done)
	require.Empty(t, r.errs, "silent addresses inside a swept range are not errors")
}

func TestConvert(t *testing.T) {
	pt := func(typ gateway.ValueType, mod func(*gateway.Point)) *gateway.Point {
		p := &gateway.Point{Name: "p", Type: typ}
		if mod != nil {
			mod(p)
		}
		return p
	}
	cases := []struct {
		name string
		typ  gosnmp.Asn1BER
		raw  any
		p    *gateway.Point
		want gateway.Value
		err  string
	}{
		{"scaled int", gosnmp.Integer, 235, pt(gateway.TypeInt, func(p *gateway.Point) { p.Scale = 0.1 }), gateway.Number(23.5), ""},
		{"timeticks", gosnmp.TimeTicks, uint32(12345), pt(gateway.TypeTimeticks, nil), gateway.Number(123.45), ""},
		{"enum", gosnmp.Integer, 2, pt(gateway.TypeEnum, func(p *gateway.Point) { p.Enum = map[int64]string{1: "on", 2: "standby"} }), gateway.String("standby"), ""},
		{"unknown enum", gosnmp.Integer, 9, pt(gateway.TypeEnum, func(p *gateway.Point) { p.Enum = map[int64]string{1: "on"} }), gateway.String("unknown(9)"), ""},
		{"float from string", gosnmp.OctetString, []byte("23.5"), pt(gateway.TypeFloat, nil), gateway.Number(23.5), ""},
		{"not a number", gosnmp.OctetString, []byte("hot"), pt(gateway.TypeFloat, nil), gateway.Value{}, "not a number"},
		{"truth value", gosnmp.Integer, 2, pt(gateway.TypeBool, nil), gateway.Bool(false), ""},
		{"mac", gosnmp.OctetString, []byte{2, 0xed, 0x67, 0, 0, 1}, pt(gateway.TypeMAC, nil), gateway.String("02:ed:67:00:00:01"), ""},
		{"text mac refused", gosnmp.OctetString, []byte("HostPC"), pt(gateway.TypeMAC, nil), gateway.Value{}, "not a MAC"},
		{"ip", gosnmp.IPAddress, "127.0.0.1", pt(gateway.TypeIP, nil), gateway.String("127.0.0.1"), ""},
		{"counter64", gosnmp.Counter64, uint64(1 << 40), pt(gateway.TypeCounter, nil), gateway.Number(1 << 40), ""},
		{"offset", gosnmp.Integer, 10, pt(gateway.TypeInt, func(p *gateway.Point) { p.Scale, p.Offset = 2, -1 }), gateway.Number(19), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Convert(c.typ, c.raw, c.p)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.True(t, c.want.Equal(got), "got %v want %v", got, c.want)
		})
	}
}

func TestUsableAndMAC(t *testing.T) {
	for _, s := range []string{"<private>", "", "  ", "0000000", "N/A", "Unknown", "To Be Filled By O.E.M."} {
		require.Empty(t, usable(s), s)
	}
	require.Equal(t, "AS1907242163", usable(" AS1907242163 "))
	for _, b := range [][]byte{{0, 0, 0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {1, 0, 0x5e, 0, 0, 1}, []byte("HostPC"), {1, 2, 3}} {
		require.Empty(t, macOf(gosnmp.SnmpPDU{Value: b}), "%x", b)
	}
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	require.NoError(t, err)
	return p
}

// noLeaks checks, after every cleanup of the test (the agents included), that no goroutine is left.
func noLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func TestConvertAbsent(t *testing.T) {
	p := &gateway.Point{Name: "p", Type: gateway.TypeInt, Scale: 0.01, Absent: []float64{-1}}
	_, err := Convert(gosnmp.Integer, -1, p)
	require.ErrorIs(t, err, ErrAbsent)
	v, err := Convert(gosnmp.Integer, 150, p)
	require.NoError(t, err)
	require.Equal(t, 1.5, v.Num)
}
