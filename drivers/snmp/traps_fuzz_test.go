package snmp

import (
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
)

var fuzzEngine = []byte("\x80\x00\x1f\x88\x04edgegw-fuzz")

// testReceiver is a receiver without a socket: replies are recorded, events go to the sink.
func testReceiver(t testing.TB, sink gateway.EventSink, now time.Time) (*receiver, *[][]byte) {
	t.Helper()
	r, err := newReceiver(TrapOptions{Communities: []string{"public"}, Users: []V3Auth{trapUser, trapUser256}, EngineID: fuzzEngine,
		RateLimit: 1e6, RateBurst: 1 << 20}, fuzzRules(t), discardLog(), now)
	require.NoError(t, err)
	r.sink = sink
	var sent [][]byte
	r.send = func(b []byte, _ netip.AddrPort) { sent = append(sent, append([]byte(nil), b...)) }
	return r, &sent
}

// v3Packet encodes a v3 notification of user u to the engine with the given boots and time.
func v3Packet(t testing.TB, u V3Auth, engine []byte, boots, etime uint32, pdu gosnmp.PDUType, reqID uint32) []byte {
	t.Helper()
	require.NoError(t, u.check())
	sp := &gosnmp.UsmSecurityParameters{UserName: u.User, AuthoritativeEngineID: string(engine), AuthoritativeEngineBoots: boots,
		AuthoritativeEngineTime: etime, AuthenticationProtocol: u.auth, AuthenticationPassphrase: u.AuthPassword,
		PrivacyProtocol: u.priv, PrivacyPassphrase: u.PrivPassword, PrivacyParameters: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	require.NoError(t, sp.InitSecurityKeys())
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.AuthPriv | gosnmp.Reportable, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: sp, MsgID: reqID, MsgMaxSize: 65507, ContextEngineID: string(engine), PDUType: pdu, RequestID: reqID,
		Variables: []gosnmp.SnmpPDU{
			{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: uint32(1)},
			{Name: oidSnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.2.1.33.2.1"},
		}}
	b, err := p.MarshalMsg()
	require.NoError(t, err)
	return b
}

// v1Trap encodes an SNMPv1 trap.
func v1Trap(t testing.TB, community, enterprise, agent string, generic, specific int) []byte {
	t.Helper()
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version1, Community: community, PDUType: gosnmp.Trap,
		SnmpTrap: gosnmp.SnmpTrap{Enterprise: enterprise, AgentAddress: agent, GenericTrap: generic, SpecificTrap: specific, Timestamp: 42,
			Variables: []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.2.2.1.1.2", Type: gosnmp.Integer, Value: 2}}}}
	b, err := p.MarshalMsg()
	require.NoError(t, err)
	return b
}

// probe is an engine-id discovery request (RFC 3414 4): noAuthNoPriv, reportable, no user, empty GET.
func probe(t testing.TB) []byte {
	t.Helper()
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.Reportable, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: &gosnmp.UsmSecurityParameters{}, MsgID: 7, MsgMaxSize: 65507, PDUType: gosnmp.GetRequest, RequestID: 7}
	b, err := p.MarshalMsg()
	require.NoError(t, err)
	return b
}

// FuzzTrapPacket: whatever arrives on the trap port, the receiver neither panics nor records an event
// of a datagram that it refused.
func FuzzTrapPacket(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(v2cTrap(f, "public", ".1.3.6.1.2.1.33.2.1", 1, false))
	f.Add(v2cTrap(f, "public", ".1.3.6.1.2.1.33.2.1", 2, true))
	f.Add(v2cTrap(f, "wrong", ".1.3.6.1.6.3.1.1.5.3", 3, false, gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.1.3", Type: gosnmp.Integer, Value: 3}))
	f.Add(v1Trap(f, "public", ".1.3.6.1.4.1.318", "127.0.0.1", 6, 5))
	f.Add(v1Trap(f, "public", ".1.3.6.1.4.1.8072", "0.0.0.0", 2, 0))
	f.Add(probe(f))
	boots := uint32(now.Unix() - engineEpochUnix)
	f.Add(v3Packet(f, trapUser, fuzzEngine, boots, 0, gosnmp.InformRequest, 9))
	f.Add(v3Packet(f, trapUser256, []byte("\x80\x00\x00\x00\x01\x02\x03\x04"), 1, 100, gosnmp.SNMPv2Trap, 10))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		sink := newFakeSink(map[string]gateway.DeviceRef{"127.0.0.1": {ID: "d", Profile: "ups-mib"}})
		r, _ := testReceiver(t, sink, now)
		r.handle(data, netip.MustParseAddrPort("127.0.0.1:40000"), now)
		r.handle(data, netip.MustParseAddrPort("127.0.0.1:40000"), now) // and again: the duplicate path
		close(r.queue)
		for e := range r.queue {
			require.NotEmpty(t, e.Name)
			require.Equal(t, "d", e.DeviceID)
		}
		var refused uint64
		for _, s := range []int{statRateLimited, statRefusedSource, statUnknownSource, statBadCommunity, statUnknownUser, statBadAuth,
			statNotInTimeWindow, statEngineDiscovery, statMalformed, statQueueFull} {
			refused += r.stats[s].Load()
		}
		require.Equal(t, uint64(2), refused+r.stats[statAccepted].Load()+r.stats[statDuplicates].Load(), "every datagram is accounted for")
	})
}

// TestV3Informs: an inform under the receiver's engine id and time is acknowledged; one whose boots or
// time are off gets a notInTimeWindow report and no event; a probe gets the engine id.
func TestV3Informs(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	sink := newFakeSink(map[string]gateway.DeviceRef{"127.0.0.1": {ID: "d", Profile: "ups-mib"}})
	r, sent := testReceiver(t, sink, now)
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	dec := &gosnmp.GoSNMP{}

	r.handle(probe(t), from, now)
	require.Len(t, *sent, 1)
	rep, err := dec.SnmpDecodePacket((*sent)[0])
	require.NoError(t, err)
	require.Equal(t, gosnmp.Report, rep.PDUType)
	usm := rep.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	require.Equal(t, string(fuzzEngine), usm.AuthoritativeEngineID)
	require.Equal(t, r.boots, usm.AuthoritativeEngineBoots)
	require.Equal(t, oidUsmStatsUnknownEngineIDs, rep.Variables[0].Name)

	r.handle(v3Packet(t, trapUser, fuzzEngine, r.boots-1, 0, gosnmp.InformRequest, 20), from, now)
	require.Len(t, *sent, 2)
	require.Equal(t, uint64(1), r.stats[statNotInTimeWindow].Load())
	r.handle(v3Packet(t, trapUser, fuzzEngine, r.boots, 1000, gosnmp.InformRequest, 21), from, now)
	require.Equal(t, uint64(2), r.stats[statNotInTimeWindow].Load())

	r.handle(v3Packet(t, trapUser, fuzzEngine, r.boots, 100, gosnmp.InformRequest, 22), from, now.Add(100*time.Second))
	require.Equal(t, uint64(1), r.stats[statAccepted].Load())
	require.Equal(t, uint64(1), r.stats[statInformsAcked].Load())
	require.Len(t, *sent, 4)
	e := <-r.queue
	require.Equal(t, "onBattery", e.Name)
	require.Empty(t, r.queue)
}

// TestTrapMapping: how traps become events: precedence of the device's own profile, the other
// profiles' rules, the v1 spelling, instances and clears, unmapped traps.
func TestTrapMapping(t *testing.T) {
	rs := newRules(builtinLibrary(t))
	v2 := func(oid string, vbs ...gateway.Varbind) *notification {
		return &notification{trapOID: oid, varbinds: vbs}
	}
	descr := func(alarm string) gateway.Varbind {
		return gateway.Varbind{OID: ".1.3.6.1.2.1.33.1.6.2.1.2.4", Type: "oid", Value: ".1.3.6.1.2.1.33.1.6.3." + alarm}
	}
	for _, tc := range []struct {
		name, profile string
		n             *notification
		want          gateway.Event
	}{
		{"ups-mib on battery", "acme-ups", v2(".1.3.6.1.2.1.33.2.1"),
			gateway.Event{Name: "onBattery", Severity: "critical", Condition: true, Set: map[string]gateway.Value{"outputSource": gateway.String("battery")}}},
		{"the same from a device whose profile does not know it: no set", "mib2", v2(".1.3.6.1.2.1.33.2.1"),
			gateway.Event{Name: "onBattery", Severity: "critical", Condition: true}},
		{"v1 spelling of an SMIv2 notification", "acme-ups", &notification{trapOID: ".1.3.6.1.2.1.33.2.0.1", altOID: ".1.3.6.1.2.1.33.2.1"},
			gateway.Event{Name: "onBattery", Severity: "critical", Condition: true, TrapOID: ".1.3.6.1.2.1.33.2.1", Set: map[string]gateway.Value{"outputSource": gateway.String("battery")}}},
		{"alarm entry added: low battery", "ups-mib", v2(".1.3.6.1.2.1.33.2.3", descr("3")),
			gateway.Event{Name: "lowBattery", Severity: "critical", Condition: true}},
		{"alarm entry removed: on battery ends", "ups-mib", v2(".1.3.6.1.2.1.33.2.4", descr("2")),
			gateway.Event{Name: "powerRestored", Severity: "info", Clears: []string{"onBattery", "upsAlarm"}}},
		{"alarm of another kind", "ups-mib", v2(".1.3.6.1.2.1.33.2.3", descr("99"), gateway.Varbind{OID: ".1.3.6.1.2.1.33.1.6.2.1.1.4", Value: "4"}),
			gateway.Event{Name: "upsAlarm", Severity: "warning", Condition: true, Instance: "4"}},
		{"linkDown of ifIndex 3", "mib2", v2(".1.3.6.1.6.3.1.1.5.3", gateway.Varbind{OID: ".1.3.6.1.2.1.2.2.1.1.3", Value: "3"}),
			gateway.Event{Name: "linkDown", Severity: "warning", Condition: true, Instance: "3"}},
		{"linkUp clears linkDown of its interface", "apc-ups", v2(".1.3.6.1.6.3.1.1.5.4", gateway.Varbind{OID: ".1.3.6.1.2.1.2.2.1.1.3", Value: "3"}),
			gateway.Event{Name: "linkUp", Severity: "info", Instance: "3", Clears: []string{"linkDown[3]"}}},
		{"APC power restored", "apc-ups", v2(".1.3.6.1.4.1.318.0.9"),
			gateway.Event{Name: "powerRestored", Severity: "info", Clears: []string{"onBattery"}}},
		{"printer jam", "printer-mib", v2(".1.3.6.1.2.1.43.18.2.0.1", gateway.Varbind{OID: ".1.3.6.1.2.1.43.18.1.1.7.1.5", Value: "8"}),
			gateway.Event{Name: "jam", Severity: "warning"}},
		{"printer cover closed", "printer-mib", v2(".1.3.6.1.2.1.43.18.2.0.1", gateway.Varbind{OID: ".1.3.6.1.2.1.43.18.1.1.5.1.5", Value: "1"},
			gateway.Varbind{OID: ".1.3.6.1.2.1.43.18.1.1.7.1.5", Value: "4"}),
			gateway.Event{Name: "coverClosed", Severity: "info", Instance: "", Clears: []string{"coverOpen[1]"}}},
		{"Raritan breaker tripped", "raritan-pdu", v2(".1.3.6.1.4.1.13742.6.0.65",
			gateway.Varbind{OID: ".1.3.6.1.4.1.13742.6.3.4.3.1.2.1.1", Value: "C1"}, gateway.Varbind{OID: ".1.3.6.1.4.1.13742.6.5.3.3.1.3.1.1.15", Value: "0"}),
			gateway.Event{Name: "breakerTripped", Severity: "critical", Condition: true, Instance: "C1"}},
		{"Eaton on battery (xupstd)", "eaton-xups", v2(".1.3.6.1.4.1.534.1.11.4.1.0.3"),
			gateway.Event{Name: "onBattery", Severity: "critical", Condition: true, Set: map[string]gateway.Value{"upsState": gateway.String("battery")}}},
		{"unmapped", "mib2", v2(".1.3.6.1.4.1.99999.0.7"), gateway.Event{Name: "snmpTrap", Severity: "info"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := rs.event(tc.n, tc.profile)
			want := tc.want
			want.Protocol = Protocol
			want.Mapped = tc.want.Name != "snmpTrap"
			if want.TrapOID == "" {
				want.TrapOID = tc.n.trapOID
			}
			want.Varbinds = tc.n.varbinds
			e.Description = ""
			require.Equal(t, want, e)
		})
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

var builtinRules = sync.OnceValue(func() *rules {
	lib, err := loadBuiltin()
	if err != nil {
		panic(err)
	}
	return newRules(lib)
})

func fuzzRules(testing.TB) *rules { return builtinRules() }

// BenchmarkTrapReceiver is the receiver's cost per datagram, without the socket: a v2c trap that
// becomes an event, a v3 authPriv inform that is decrypted and acknowledged, and a datagram of a
// flooding source dropped by its rate limit.
func BenchmarkTrapReceiver(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	drain := func(r *receiver) {
		for {
			select {
			case <-r.queue:
			default:
				return
			}
		}
	}
	b.Run("v2c-trap", func(b *testing.B) {
		r, _ := testReceiver(b, newFakeSink(map[string]gateway.DeviceRef{"127.0.0.1": {ID: "d", Profile: "ups-mib"}}), now)
		b.ReportAllocs()
		for i := range b.N {
			r.handle(v2cTrapFast(uint32(i)), from, now)
			drain(r)
		}
	})
	b.Run("v3-authpriv-inform", func(b *testing.B) {
		r, _ := testReceiver(b, newFakeSink(map[string]gateway.DeviceRef{"127.0.0.1": {ID: "d", Profile: "ups-mib"}}), now)
		pkts := make([][]byte, 256)
		for i := range pkts {
			pkts[i] = v3Packet(b, trapUser, fuzzEngine, r.boots, 0, gosnmp.InformRequest, uint32(i+1))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			r.seen = map[[16]byte]time.Time{} // each a new inform, not a retransmission
			r.handle(pkts[i%len(pkts)], from, now)
			drain(r)
		}
	})
	b.Run("rate-limited", func(b *testing.B) {
		r, _ := testReceiver(b, newFakeSink(nil), now)
		r.opts.RateLimit, r.opts.RateBurst = 1, 1
		pkt := v2cTrapFast(1)
		r.handle(pkt, from, now)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			r.handle(pkt, from, now)
		}
		if r.stats[statRateLimited].Load() < uint64(b.N) {
			b.Fatal("not rate limited")
		}
	})
}

var v2cTrapCache sync.Map

// v2cTrapFast is a v2c UPS-MIB onBattery trap with request id id, encoded once per id.
func v2cTrapFast(id uint32) []byte {
	id %= 1024
	if b, ok := v2cTrapCache.Load(id); ok {
		return b.([]byte)
	}
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap, RequestID: id + 1,
		Variables: []gosnmp.SnmpPDU{
			{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: id},
			{Name: oidSnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.2.1.33.2.1"},
			{Name: ".1.3.6.1.2.1.33.1.2.3.0", Type: gosnmp.Integer, Value: 12},
		}}
	b, _ := p.MarshalMsg()
	v2cTrapCache.Store(id, b)
	return b
}
