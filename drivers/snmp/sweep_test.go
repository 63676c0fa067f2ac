package snmp

import (
	"context"
	"net"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/sim"
)

// startAgentsAt starts one raw agent per behaviour on consecutive addresses of prefix (from its first
// host address), all on one port, as devices of a swept subnet are. It returns the port.
func startAgentsAt(t *testing.T, prefix string, behaves ...behaviour) uint16 {
	t.Helper()
	a := netip.MustParsePrefix(prefix).Addr().Next()
	var port uint16
	for _, b := range behaves {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, port)))
		require.NoError(t, err)
		port = uint16(pc.LocalAddr().(*net.UDPAddr).Port)
		ag := &agent{pc: pc, addr: pc.LocalAddr().String()}
		serve(t, ag, b)
		a = a.Next()
	}
	return port
}

// serve runs an agent's loop (as startAgent does) on its socket.
func serve(t *testing.T, a *agent, behave behaviour) {
	a.wg.Go(func() {
		buf := make([]byte, 65535)
		dec := &gosnmp.GoSNMP{Logger: gosnmp.NewLogger(nil)}
		for {
			n, from, err := a.pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			raw := append([]byte(nil), buf[:n]...)
			req, err := dec.SnmpDecodePacket(raw)
			if err != nil {
				continue
			}
			if out := behave(req, raw); out != nil {
				a.pc.WriteToUDPAddrPort(out, from)
			}
		}
	})
	t.Cleanup(func() { a.pc.Close(); a.wg.Wait() })
}

// TestSweepMatchesAnswers sweeps a subnet of hostile neighbours: only agents that answer their own
// probe in time are identified; a silent one and one slower than the timeout cost their timeout and
// are silent, not errors. Any datagram from a probed address shows someone is there: one answering
// with another request's id passes the sweep, and its identity read, which gets no answer with the
// right id, counts it silent; garbage gets an identity read that says what is wrong.
func TestSweepMatchesAnswers(t *testing.T) {
	noLeaks(t)
	port := startAgentsAt(t, "127.88.0.0/29",
		goodAgent("good", 0),                     // .1
		silent,                                   // .2
		goodAgent("slow", 100*time.Millisecond),  // .3: slow but inside the timeout
		goodAgent("late", 1500*time.Millisecond), // .4: answers after its probe expired
		wrongRequestID,                           // .5
		garbage,                                  // .6
	)
	g := Group{Credentials: Credentials{Name: "sweep", Version: V2c, Community: "public"},
		Targets: []Target{{Prefix: mustPrefix(t, "127.88.0.0/29"), Port: port}}, Timeout: 600 * time.Millisecond}
	var p progressSeen
	d, err := New(Options{Groups: []Group{g}, Concurrency: 4, ProbeRate: 1000, Progress: p.note})
	require.NoError(t, err)
	defer d.Close()
	var r result
	r.discover(t, d)
	var found []string
	for _, s := range r.found {
		found = append(found, s.Address+" "+s.Identity.SysDescr)
	}
	sort.Strings(found)
	at := func(i int) string {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 88, 0, byte(i)}), port).String()
	}
	require.Equal(t, []string{at(1) + " good", at(3) + " slow"}, found)
	require.Len(t, r.errs, 1, "%v", r.errs)
	require.Equal(t, at(6), r.errs[0].Address)
	require.Contains(t, r.errs[0].Error(), "read system group")
	st := d.LastSweep()
	require.Equal(t, SweepStats{Probed: 6, Found: 2, Silent: 3, Failed: 1}, SweepStats{Probed: st.Probed, Found: st.Found,
		Silent: st.Silent, Failed: st.Failed})
	require.Equal(t, [2]int{6, 6}, p.last(), "progress ends at 6 of 6")
}

// TestSweepProgressCountsSkipped: an address listed twice while its first probe waits is probed
// once, and progress still ends at the total it announced. (Nobody answers here: an answered probe
// no longer holds its address, and the second listing is probed again.)
func TestSweepProgressCountsSkipped(t *testing.T) {
	pfx := mustPrefix(t, "127.88.2.0/30")
	g := Group{Credentials: Credentials{Name: "sweep", Version: V2c, Community: "public"},
		Targets: []Target{{Prefix: pfx, Port: 9}, {Prefix: pfx, Port: 9}}, Timeout: time.Second}
	var p progressSeen
	d, err := New(Options{Groups: []Group{g}, ProbeRate: 1000, Progress: p.note})
	require.NoError(t, err)
	defer d.Close()
	var r result
	r.discover(t, d)
	require.Empty(t, r.errs)
	require.Equal(t, 2, d.LastSweep().Silent, "each address once")
	require.Equal(t, [2]int{4, 4}, p.last(), "progress ends at 4 of 4")
}

// TestSweepAnsweredLeavesTheHeap: an answered probe's deadline is dropped, so a drain with every probe
// answered returns at once; a send after the context ended sends nothing.
func TestSweepAnsweredLeavesTheHeap(t *testing.T) {
	s, err := newSweep()
	require.NoError(t, err)
	defer s.closeConns()
	var answered []netip.AddrPort
	s.answered = func(p *sweepProbe) { answered = append(answered, p.addr) }
	s.silent = func(*sweepProbe) { t.Error("silent") }
	g := &Group{Credentials: Credentials{Version: V2c, Community: "public"}, Timeout: time.Hour}
	ctx, cancel := context.WithCancel(t.Context())
	pc := newPacer(ctx, 1000)
	a, b := netip.MustParseAddrPort("127.88.3.1:9"), netip.MustParseAddrPort("127.88.3.2:9")
	require.NoError(t, s.send(g, a, pc))
	require.NoError(t, s.send(g, b, pc))
	require.ErrorIs(t, s.send(g, a, pc), errDuplicate)
	s.match(b)
	s.match(a)
	s.match(a) // a second answer is a stray
	require.Equal(t, []netip.AddrPort{b, a}, answered)
	require.Empty(t, s.pending)
	require.Equal(t, 1, s.stray)
	s.drain(t.Context()) // returns: nothing pending (the deadlines were an hour away)
	cancel()
	require.ErrorIs(t, s.send(g, netip.MustParseAddrPort("127.88.3.3:9"), pc), context.Canceled)
	require.Empty(t, s.byAddr)
}

// TestSweepPacing: the pacer never lets more than the rate (plus its small burst) through in any
// window, and a sweep takes at least as long as its rate says. Virtual time for the first; the second
// only checks a lower bound, which load cannot break.
func TestSweepPacing(t *testing.T) {
	t.Run("virtual clock", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := &pacer{interval: time.Second / 500, burst: probeBurst, now: func() time.Time { return now },
			sleep: func(_ context.Context, d time.Duration) bool {
				now = now.Add(d + 300*time.Microsecond) // oversleeps a little
				return true
			}, ctx: context.Background()}
		var sent []time.Time
		for i := range 2000 {
			if i == 700 {
				now = now.Add(time.Second) // the sender was held up: it may catch up only by a burst
			}
			require.True(t, p.wait(nil))
			sent = append(sent, now)
		}
		require.GreaterOrEqual(t, sent[len(sent)-1].Sub(sent[0]), time.Duration(2000-2*probeBurst)*time.Second/500)
		for i := range sent {
			j := i
			for j < len(sent) && sent[j].Sub(sent[i]) < 100*time.Millisecond {
				j++
			}
			require.LessOrEqual(t, j-i, 50+probeBurst+1, "window from packet %d", i)
		}
	})
	t.Run("real sweep", func(t *testing.T) {
		port := startAgentsAt(t, "127.89.0.0/25", silent)
		g := Group{Credentials: Credentials{Name: "p", Version: V2c, Community: "public"},
			Targets: []Target{{Prefix: mustPrefix(t, "127.89.0.0/25"), Port: port}}, Timeout: 100 * time.Millisecond}
		d, err := New(Options{Groups: []Group{g}, ProbeRate: 400})
		require.NoError(t, err)
		defer d.Close()
		start := time.Now()
		var r result
		r.discover(t, d)
		require.GreaterOrEqual(t, time.Since(start), time.Duration(126-2*20)*time.Second/400, "at most a 50 ms burst (20 probes) goes early")
		require.Empty(t, r.errs)
		require.Equal(t, 126, d.LastSweep().Silent)
	})
}

// TestProbePacket: a v1/v2c probe is a GET of sysObjectID.0 carrying its request id and the
// group's community; a v3 probe is built too (TestSweepV3 has agents answer it).
func TestProbePacket(t *testing.T) {
	dec := &gosnmp.GoSNMP{Logger: gosnmp.NewLogger(nil)}
	for _, v := range []Version{V1, V2c} {
		b, err := probePacket(&Group{Credentials: Credentials{Version: v, Community: "c"}}, 0x7fffffff)
		require.NoError(t, err)
		p, err := dec.SnmpDecodePacket(b)
		require.NoError(t, err)
		require.Equal(t, uint32(0x7fffffff), p.RequestID)
		require.Equal(t, "c", p.Community)
		require.Equal(t, gosnmp.GetRequest, p.PDUType)
		require.Len(t, p.Variables, 1)
		require.Equal(t, oidProbe, normOID(p.Variables[0].Name))
	}
	_, err := probePacket(&Group{Credentials: Credentials{Version: V3}}, 1)
	require.NoError(t, err)
}

// TestSweepSimSubnet sweeps a /20 holding a simulated site that answers from one shared socket: every
// device is found once, every empty address is silent.
func TestSweepSimSubnet(t *testing.T) {
	if testing.Short() {
		t.Skip("identifies 1,100 simulated devices (a few seconds)")
	}
	site, err := sim.Start(t.Context(), sim.Options{N: 1100, Listen: "127.90.0.0/20", Shared: true, Seed: 5})
	require.NoError(t, err)
	defer site.Close()
	port := site.Devices()[0].Addr.Port()
	g := Group{Credentials: Credentials{Name: "site", Version: V2c, Community: "public"},
		Targets: []Target{{Prefix: mustPrefix(t, "127.90.0.0/20"), Port: port}}, Timeout: time.Second, Retries: 1}
	d, err := New(Options{Groups: []Group{g}, ProbeRate: 20000})
	require.NoError(t, err)
	defer d.Close()
	var r result
	r.discover(t, d)
	require.Empty(t, r.errs)
	seen := map[string]bool{}
	for _, s := range r.found {
		require.False(t, seen[s.Identity.MAC], "%s found twice", s.Identity.MAC)
		seen[s.Identity.MAC] = true
	}
	for _, dev := range site.Devices() {
		require.True(t, seen[dev.MAC], "%s at %s not found", dev.MAC, dev.Addr)
	}
	st := d.LastSweep()
	require.Equal(t, 4094, st.Probed)
	require.Equal(t, 1100, st.Found)
	require.Equal(t, 4094-1100, st.Silent)
}

// TestSweepV3 sweeps SNMPv3 agents: the probe is an engine-discovery request, answered with a Report.
func TestSweepV3(t *testing.T) {
	site, err := sim.Start(t.Context(), sim.Options{N: 3, Listen: "127.91.0.0/29", Shared: true,
		V3User: "sweeper", V3AuthPass: "authpass123", V3PrivPass: "privpass123"})
	require.NoError(t, err)
	defer site.Close()
	g := Group{Credentials: Credentials{Name: "v3", Version: V3, V3: &V3Auth{User: "sweeper", AuthProtocol: "SHA",
		AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123"}},
		Targets: []Target{{Prefix: mustPrefix(t, "127.91.0.0/29"), Port: site.Devices()[0].Addr.Port()}}, Timeout: 500 * time.Millisecond}
	d, err := New(Options{Groups: []Group{g}})
	require.NoError(t, err)
	defer d.Close()
	var r result
	r.discover(t, d)
	require.Empty(t, r.errs)
	require.Len(t, r.found, 3)
	require.Equal(t, 3, d.LastSweep().Silent)
}

// TestReidentifyReadsTheSerialOnly: after an identity read, the claim handshake reads the serial
// from the one object it came from: one request, the same serial, live.
func TestReidentifyReadsTheSerialOnly(t *testing.T) {
	site, eps, d := simSite(t, 1)
	ep := eps[0]
	g, err := d.group(ep.Credential)
	require.NoError(t, err)
	s, err := d.Identify(t.Context(), ep.Address, &g.Credentials, g.Timeout, g.Retries)
	require.NoError(t, err)
	require.Equal(t, site.Devices()[0].Serial, s.Identity.Serial)
	before := site.Stats().Received
	again, err := d.Reidentify(t.Context(), ep)
	require.NoError(t, err)
	require.Equal(t, s.Identity.Serial, again.Identity.Serial)
	require.Equal(t, uint64(1), site.Stats().Received-before, "one GET")
	at, ok := d.serialAt.Load(serialKey(ep.Credential, ep.Address))
	require.True(t, ok, "the identity read remembered where the serial is")
	require.Equal(t, []gateway.IdentityAttempt{{Field: "serial", Source: oidName(at.(serialPlace).oid),
		Value: s.Identity.Serial, Used: true}}, again.Tried, "the record names the one object read")

	// An agent this driver never identified is read in full.
	d.serialAt.Clear()
	before = site.Stats().Received
	again, err = d.Reidentify(t.Context(), ep)
	require.NoError(t, err)
	require.Equal(t, s.Identity.Serial, again.Identity.Serial)
	require.Greater(t, site.Stats().Received-before, uint64(1))
}

// TestReidentifyRenumberedRow: when the object the serial was read from now holds another non-empty
// value (an ENTITY-MIB row renumbered after a reboot), the claim handshake reads the whole identity
// again and finds the serial where it is now, instead of answering the other value for good.
func TestReidentifyRenumberedRow(t *testing.T) {
	site, eps, d := simSite(t, 1)
	ep := eps[0]
	g, err := d.group(ep.Credential)
	require.NoError(t, err)
	s, err := d.Identify(t.Context(), ep.Address, &g.Credentials, g.Timeout, g.Retries)
	require.NoError(t, err)
	key := serialKey(ep.Credential, ep.Address)
	at, ok := d.serialAt.Load(key)
	require.True(t, ok)
	// The remembered object now answers another device's text: sysDescr stands in for the
	// renumbered row.
	d.serialAt.Store(key, serialPlace{oid: ".1.3.6.1.2.1.1.1.0", serial: s.Identity.Serial})
	before := site.Stats().Received
	again, err := d.Reidentify(t.Context(), ep)
	require.NoError(t, err)
	require.Equal(t, site.Devices()[0].Serial, again.Identity.Serial)
	require.Greater(t, site.Stats().Received-before, uint64(2), "the quick read, then the whole identity")
	// The whole read remembered the right object again: the next handshake is one GET.
	now, ok := d.serialAt.Load(key)
	require.True(t, ok)
	require.Equal(t, at, now)
	before = site.Stats().Received
	again, err = d.Reidentify(t.Context(), ep)
	require.NoError(t, err)
	require.Equal(t, s.Identity.Serial, again.Identity.Serial)
	require.Equal(t, uint64(1), site.Stats().Received-before, "one GET")
}

// TestSerialAtSysObjectIDSuffix: a serial read as it is from sysObjectID + suffix is remembered
// at that object, for the claim handshake.
func TestSerialAtSysObjectIDSuffix(t *testing.T) {
	const soid = ".1.3.6.1.4.1.890.1.15"
	x := &identifier{id: &gateway.Identity{SysObjectID: soid}, vals: map[string]gosnmp.SnmpPDU{
		soid + ".12.1.0": {Name: soid + ".12.1.0", Type: gosnmp.OctetString, Value: []byte("S123")}}}
	v := x.chain("serial", "profile p", []IdentitySource{{Suffix: ".12.1.0"}})
	require.Equal(t, "S123", v)
	require.Equal(t, soid+".12.1.0", x.serialOID)
}

// TestOIDAfter: OID order is by arc value, a longer OID after its prefix; the comparison allocates
// nothing.
func TestOIDAfter(t *testing.T) {
	for _, c := range []struct {
		a, b  string
		after bool
	}{
		{".1.3.6.1.2", ".1.3.6.1.1", true},
		{".1.3.6.1.1", ".1.3.6.1.2", false},
		{".1.3.6.1.10", ".1.3.6.1.9", true}, // by value, not as text
		{".1.3.6.1.9", ".1.3.6.1.10", false},
		{".1.3.6.1.2.1", ".1.3.6.1.2", true}, // under it
		{".1.3.6.1.2", ".1.3.6.1.2.1", false},
		{".1.3.6.1.2", ".1.3.6.1.2", false}, // the same: an agent that loops
		{"1.3.6.1.3", ".1.3.6.1.2", true},   // with or without the leading dot
		{".1.3.6.1.007", ".1.3.6.1.7", false},
		{".1.3.6.1.4294967296", ".1.3.6.1.4294967295", true},
		{".1.3.6.1.2.2.1.2.10", ".1.3.6.1.2.2.1.2.9", true},
		{".1.3.6.1.2.2.1.3.1", ".1.3.6.1.2.2.1.2.99", true},
		{"", ".1", false},
		{".1", "", true},
	} {
		require.Equal(t, c.after, oidAfter(c.a, c.b), "%s after %s", c.a, c.b)
	}
	require.Zero(t, testing.AllocsPerRun(100, func() { oidAfter(".1.3.6.1.2.1.2.2.1.2.10", ".1.3.6.1.2.1.2.2.1.2.9") }))
}

// TestColumnsTogether: table columns read together give what a walk of each gives, also when the
// agent's answers are cut short by its message size.
func TestColumnsTogether(t *testing.T) {
	for _, size := range []int{0, 300} {
		site, err := sim.Start(t.Context(), sim.Options{N: 1, MaxResponseSize: size})
		require.NoError(t, err)
		defer site.Close()
		g := Group{Credentials: Credentials{Name: "g", Version: V2c, Community: "public"}, Timeout: time.Second}
		d, err := New(Options{Groups: []Group{g}})
		require.NoError(t, err)
		defer d.Close()
		cl, err := d.open(t.Context(), site.Devices()[0].Addr.String(), &d.opts.Groups[0].Credentials, time.Second, 1)
		require.NoError(t, err)
		cols := []string{".1.3.6.1.2.1.2.2.1.2", ".1.3.6.1.2.1.2.2.1.3", ".1.3.6.1.2.1.2.2.1.5", ".1.3.6.1.2.1.2.2.1.6", ".1.3.6.1.2.1.2.2.1.99"}
		got, err := cl.columns(cols, maxTableRows)
		require.NoError(t, err)
		for _, c := range cols {
			var want []string
			require.NoError(t, cl.walk(c, maxTableRows, func(p gosnmp.SnmpPDU) { want = append(want, normOID(p.Name)) }))
			var names []string
			for _, p := range got[c] {
				names = append(names, normOID(p.Name))
			}
			require.Equal(t, want, names, "column %s, response size %d", c, size)
		}
		require.Len(t, got[".1.3.6.1.2.1.2.2.1.2"], 2, "two interfaces")
		cl.done()
	}
}

// progressSeen records the furthest progress a sweep reported, and its total.
type progressSeen struct {
	mu       sync.Mutex
	furthest [2]int
}

func (p *progressSeen) note(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.furthest = [2]int{max(p.furthest[0], done), total}
}

func (p *progressSeen) last() [2]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.furthest
}
