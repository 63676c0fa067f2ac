package snmp

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
)

// fakeSink is the gateway as a Listener sees it: devices by address, events recorded.
type fakeSink struct {
	mu      sync.Mutex
	devices map[netip.Addr]gateway.DeviceRef
	events  chan gateway.Event
}

func newFakeSink(devices map[string]gateway.DeviceRef) *fakeSink {
	s := &fakeSink{devices: map[netip.Addr]gateway.DeviceRef{}, events: make(chan gateway.Event, 10_000)}
	for a, ref := range devices {
		s.devices[netip.MustParseAddr(a)] = ref
	}
	return s
}

func (s *fakeSink) DeviceAt(proto string, addr netip.AddrPort) (gateway.DeviceRef, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, ok := s.devices[addr.Addr()]
	return ref, ok
}

func (s *fakeSink) RecordEvent(_ context.Context, e gateway.Event) (gateway.Event, error) {
	s.events <- e
	return e, nil
}

// next waits for the next event.
func (s *fakeSink) next(t *testing.T) gateway.Event {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return gateway.Event{}
}

// none checks that no event came (after the receiver has dealt with what was sent).
func (s *fakeSink) none(t *testing.T) {
	t.Helper()
	select {
	case e := <-s.events:
		t.Fatalf("unexpected event %+v", e)
	default:
	}
}

// builtinLibrary is the embedded profiles, read with the SNMP codec only (once per test binary).
func builtinLibrary(t testing.TB) *profile.Library {
	t.Helper()
	lib, err := loadBuiltin()
	require.NoError(t, err)
	return lib
}

var loadBuiltin = sync.OnceValues(func() (*profile.Library, error) {
	return profile.Load(nil, profile.Codecs{Protocol: Spec().Profile})
})

// Test users of the receiver: SHA/AES and SHA-256/AES-256 (net-snmp's Blumenthal AES-256).
var (
	trapUser    = V3Auth{User: "trapuser", AuthProtocol: "SHA", AuthPassword: "trapauth123", PrivProtocol: "AES", PrivPassword: "trappriv123"}
	trapUser256 = V3Auth{User: "trapuser256", AuthProtocol: "SHA256", AuthPassword: "trapauth123", PrivProtocol: "AES256", PrivPassword: "trappriv123"}
)

// startReceiver runs a driver's receiver on a free loopback port until the test ends.
func startReceiver(t *testing.T, o TrapOptions, sink gateway.EventSink) (*Driver, string) {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	d, err := New(Options{Profiles: builtinLibrary(t), Traps: &o})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Listen(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		d.Close()
	})
	var addr netip.AddrPort
	require.Eventually(t, func() bool {
		var ok bool
		addr, ok = d.TrapAddr()
		return ok
	}, 5*time.Second, 10*time.Millisecond)
	return d, addr.String()
}

// netsnmp runs one of net-snmp's tools (snmptrap, snmpinform) with its own empty configuration and
// persistent directory, so that nothing on the machine changes what it sends or keeps what it did.
func netsnmp(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		msg := tool + " (net-snmp, Debian package snmp) is not installed: scripts/peers/peers.sh install"
		if peers.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "SNMPCONFPATH="+dir, "SNMP_PERSISTENT_DIR="+dir, "MIBS=", "MIBDIRS="+dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func stat(d *Driver, name string) uint64 { return d.ListenerStats().Counts[name] }

// TestTrapsFromNetSNMP: net-snmp's snmptrap and snmpinform are the senders. v1 and v2c traps, a v2c
// inform (acknowledged: snmpinform exits 0 only on the acknowledgement), v3 authPriv informs (engine-id
// discovery first, then the inform under the receiver's engine id), a v3 trap under the sender's own
// engine id; a wrong community and an unknown v3 user are refused and counted.
func TestTrapsFromNetSNMP(t *testing.T) {
	sink := newFakeSink(map[string]gateway.DeviceRef{
		"127.0.0.1": {ID: "mac-02ed67000001", Profile: "ups-mib"},
		"127.0.0.9": {ID: "mac-02ed67000009", Profile: "mib2"}, // only a v1 agent address names it
	})
	d, addr := startReceiver(t, TrapOptions{Communities: []string{"trapcomm"}, Users: []V3Auth{trapUser, trapUser256},
		EngineID: []byte("\x80\x00\x1f\x88\x04edgegw-test")}, sink)

	t.Run("v1 trap, agent address", func(t *testing.T) {
		out, err := netsnmp(t, "snmptrap", "-v1", "-c", "trapcomm", addr, ".1.3.6.1.4.1.8072.3.2.10", "127.0.0.1",
			"2", "0", "12345", ".1.3.6.1.2.1.2.2.1.1.3", "i", "3")
		require.NoError(t, err, out)
		e := sink.next(t)
		require.Equal(t, "linkDown", e.Name)
		require.Equal(t, ".1.3.6.1.6.3.1.1.5.3", e.TrapOID)
		require.Equal(t, "warning", e.Severity)
		require.True(t, e.Condition)
		require.Equal(t, "3", e.Instance)
		require.Equal(t, "mac-02ed67000001", e.DeviceID)
	})
	t.Run("v2c trap", func(t *testing.T) {
		out, err := netsnmp(t, "snmptrap", "-v2c", "-c", "trapcomm", addr, "", ".1.3.6.1.2.1.33.2.1",
			".1.3.6.1.2.1.33.1.2.2.0", "i", "12", ".1.3.6.1.2.1.33.1.2.3.0", "i", "40")
		require.NoError(t, err, out)
		e := sink.next(t)
		require.Equal(t, "onBattery", e.Name)
		require.Equal(t, "critical", e.Severity)
		require.True(t, e.Condition)
		require.Equal(t, map[string]gateway.Value{"outputSource": gateway.String("battery")}, e.Set)
		require.Contains(t, e.Varbinds, gateway.Varbind{OID: ".1.3.6.1.2.1.33.1.2.3.0", Type: "integer", Value: "40"})
		require.True(t, strings.HasPrefix(e.Source, "127.0.0.1:"), e.Source)
	})
	t.Run("v2c inform acknowledged", func(t *testing.T) {
		before := stat(d, "informs_acknowledged")
		out, err := netsnmp(t, "snmpinform", "-v2c", "-c", "trapcomm", "-r", "1", "-t", "2", addr, "", ".1.3.6.1.6.3.1.1.5.1")
		require.NoError(t, err, "snmpinform got no acknowledgement: %s", out)
		e := sink.next(t)
		require.Equal(t, "coldStart", e.Name)
		require.False(t, e.Condition)
		require.Equal(t, before+1, stat(d, "informs_acknowledged"))
	})
	for _, u := range []V3Auth{trapUser, trapUser256} {
		t.Run("v3 authPriv inform "+u.User, func(t *testing.T) {
			priv := u.PrivProtocol
			if priv == "AES256" {
				priv = "AES-256"
			}
			disc := stat(d, "engine_discovery")
			out, err := netsnmp(t, "snmpinform", "-v3", "-u", u.User, "-l", "authPriv", "-a", u.AuthProtocol, "-A", u.AuthPassword,
				"-x", priv, "-X", u.PrivPassword, "-r", "1", "-t", "2", addr, "", ".1.3.6.1.4.1.318.0.5",
				".1.3.6.1.4.1.318.2.3.3.0", "s", "UPS On Battery")
			require.NoError(t, err, "snmpinform v3 got no acknowledgement: %s", out)
			e := sink.next(t)
			require.Equal(t, "onBattery", e.Name) // APC PowerNet-MIB upsOnBattery, from another profile's rules
			require.Equal(t, "critical", e.Severity)
			require.Nil(t, e.Set, "a rule of another profile sets nothing")
			require.Greater(t, stat(d, "engine_discovery"), disc, "the sender discovered the receiver's engine id")
		})
	}
	t.Run("v3 trap under the sender's engine id", func(t *testing.T) {
		out, err := netsnmp(t, "snmptrap", "-v3", "-e", "0x8000000001020304", "-u", trapUser.User, "-l", "authPriv",
			"-a", "SHA", "-A", trapUser.AuthPassword, "-x", "AES", "-X", trapUser.PrivPassword, addr, "", ".1.3.6.1.6.3.1.1.5.2")
		require.NoError(t, err, out)
		require.Equal(t, "warmStart", sink.next(t).Name)
	})
	t.Run("v1 trap relayed: the agent address names the device", func(t *testing.T) {
		// Sent from 127.0.0.5, which is no device; the trap's agent address 127.0.0.9 is.
		out, err := netsnmp(t, "snmptrap", "--clientaddr=127.0.0.5", "-v1", "-c", "trapcomm", addr, ".1.3.6.1.4.1.99999", "127.0.0.9",
			"6", "17", "0")
		require.NoError(t, err, out)
		e := sink.next(t)
		require.Equal(t, "mac-02ed67000009", e.DeviceID)
		require.Equal(t, "snmpTrap", e.Name, "unmapped")
		require.Equal(t, ".1.3.6.1.4.1.99999.0.17", e.TrapOID)
		require.False(t, e.Mapped)
		require.Equal(t, "info", e.Severity)
		require.True(t, strings.HasPrefix(e.Source, "127.0.0.5:"), e.Source)
	})
	t.Run("wrong community refused and counted", func(t *testing.T) {
		before := stat(d, "bad_community")
		out, err := netsnmp(t, "snmptrap", "-v2c", "-c", "wrongcomm", addr, "", ".1.3.6.1.6.3.1.1.5.1")
		require.NoError(t, err, out)
		require.Eventually(t, func() bool { return stat(d, "bad_community") == before+1 }, 5*time.Second, 10*time.Millisecond)
		out, err = netsnmp(t, "snmpinform", "-v2c", "-c", "wrongcomm", "-r", "0", "-t", "1", addr, "", ".1.3.6.1.6.3.1.1.5.1")
		require.Error(t, err, "an inform with a wrong community must not be acknowledged: %s", out)
		require.Equal(t, before+2, stat(d, "bad_community"))
		sink.none(t)
	})
	t.Run("unknown v3 user refused and counted", func(t *testing.T) {
		before := stat(d, "unknown_user")
		out, err := netsnmp(t, "snmpinform", "-v3", "-u", "nobody", "-l", "authPriv", "-a", "SHA", "-A", "whatever123",
			"-x", "AES", "-X", "whatever123", "-r", "0", "-t", "1", addr, "", ".1.3.6.1.6.3.1.1.5.1")
		require.Error(t, err, "an inform of an unknown user must not be acknowledged: %s", out)
		require.Equal(t, before+1, stat(d, "unknown_user"))
		out, err = netsnmp(t, "snmpinform", "-v3", "-u", trapUser.User, "-l", "authPriv", "-a", "SHA", "-A", "wrongpass123",
			"-x", "AES", "-X", trapUser.PrivPassword, "-r", "0", "-t", "1", addr, "", ".1.3.6.1.6.3.1.1.5.1")
		require.Error(t, err, "an inform with a wrong password must not be acknowledged: %s", out)
		require.Positive(t, stat(d, "bad_auth"))
		sink.none(t)
	})
	require.Zero(t, stat(d, "malformed"))
}

// sendRaw sends one packet from a socket bound to src.
func sendRaw(t testing.TB, src, dst string, pkt []byte) {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(src)), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(pkt)
	require.NoError(t, err)
}

// v2cTrap encodes a v2c trap (or inform) with gosnmp.
func v2cTrap(t testing.TB, community, trapOID string, reqID uint32, inform bool, vbs ...gosnmp.SnmpPDU) []byte {
	t.Helper()
	pdu := gosnmp.SNMPv2Trap
	if inform {
		pdu = gosnmp.InformRequest
	}
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: community, PDUType: pdu, RequestID: reqID,
		Variables: append([]gosnmp.SnmpPDU{
			{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(100)},
			{Name: oidSnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: trapOID},
		}, vbs...)}
	b, err := p.MarshalMsg()
	require.NoError(t, err)
	return b
}

// TestTrapFlood: one source floods the receiver (a bounded loop); it is cut to its rate, while another
// source's trap, sent in the middle of the flood, is received.
func TestTrapFlood(t *testing.T) {
	sink := newFakeSink(map[string]gateway.DeviceRef{
		"127.0.0.2": {ID: "flooder", Profile: "mib2"},
		"127.0.0.3": {ID: "quiet", Profile: "ups-mib"},
	})
	d, addr := startReceiver(t, TrapOptions{Communities: []string{"c"}, RateLimit: 5, RateBurst: 10}, sink)
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:0")), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	require.NoError(t, err)
	defer c.Close()
	const flood = 3000
	start := time.Now()
	for i := range flood {
		_, err := c.Write(v2cTrap(t, "c", ".1.3.6.1.6.3.1.1.5.3", uint32(i+1), false,
			gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.1.1", Type: gosnmp.Integer, Value: i}))
		require.NoError(t, err)
		if i == flood/2 {
			sendRaw(t, "127.0.0.3:0", addr, v2cTrap(t, "c", ".1.3.6.1.2.1.33.2.1", 1, false))
		}
		if i%200 == 0 {
			time.Sleep(time.Millisecond) // let the kernel buffer drain: the test is about the limiter, not the socket
		}
	}
	elapsed := time.Since(start)
	require.Eventually(t, func() bool { return stat(d, "received") >= flood/2 }, 10*time.Second, 10*time.Millisecond)
	quiet := 0
	fromFlooder := 0
	deadline := time.After(2 * time.Second)
collect:
	for {
		select {
		case e := <-sink.events:
			if e.DeviceID == "quiet" {
				quiet++
				require.Equal(t, "onBattery", e.Name)
			} else {
				fromFlooder++
			}
		case <-deadline:
			break collect
		}
	}
	require.Equal(t, 1, quiet, "the other source's trap got through the flood")
	allowed := 10 + int(5*(elapsed.Seconds()+1)) + 1
	require.LessOrEqual(t, fromFlooder, allowed, "the flooder is held to its rate (burst 10, 5/s over %s)", elapsed)
	require.Positive(t, stat(d, "rate_limited"))
	require.Zero(t, stat(d, "malformed"))
}

// TestInformRetransmissionDropped: an inform sent again (its acknowledgement was lost) is acknowledged
// again but recorded once.
func TestInformRetransmissionDropped(t *testing.T) {
	sink := newFakeSink(map[string]gateway.DeviceRef{"127.0.0.4": {ID: "ups", Profile: "ups-mib"}})
	d, addr := startReceiver(t, TrapOptions{Communities: []string{"c"}}, sink)
	pkt := v2cTrap(t, "c", ".1.3.6.1.2.1.33.2.1", 4242, true)
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.4:0")), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 2048)
	for range 3 {
		_, err := c.Write(pkt)
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, err := c.Read(buf)
		require.NoError(t, err, "every copy is acknowledged")
		var dec gosnmp.GoSNMP
		resp, err := dec.SnmpDecodePacket(buf[:n])
		require.NoError(t, err)
		require.Equal(t, gosnmp.GetResponse, resp.PDUType)
		require.Equal(t, uint32(4242), resp.RequestID)
	}
	require.Equal(t, "onBattery", sink.next(t).Name)
	require.Equal(t, uint64(2), stat(d, "duplicates"))
	// Another inform (another request id) is a new event.
	sendRaw(t, "127.0.0.4:0", addr, v2cTrap(t, "c", ".1.3.6.1.2.1.33.2.1", 4243, true))
	require.Equal(t, "onBattery", sink.next(t).Name)
	sink.none(t)
}

// TestTrapSources: allow lists refuse before decoding; without one, only known devices are heard.
func TestTrapSources(t *testing.T) {
	sink := newFakeSink(map[string]gateway.DeviceRef{"127.0.0.6": {ID: "d6", Profile: "mib2"}})
	d, addr := startReceiver(t, TrapOptions{Communities: []string{"c"}, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.6/32"),
		netip.MustParsePrefix("127.0.0.7/32")}}, sink)
	sendRaw(t, "127.0.0.8:0", addr, v2cTrap(t, "c", ".1.3.6.1.6.3.1.1.5.1", 1, false))
	sendRaw(t, "127.0.0.7:0", addr, v2cTrap(t, "c", ".1.3.6.1.6.3.1.1.5.1", 2, false))
	sendRaw(t, "127.0.0.6:0", addr, v2cTrap(t, "c", ".1.3.6.1.6.3.1.1.5.1", 3, false))
	require.Equal(t, "d6", sink.next(t).DeviceID)
	require.Eventually(t, func() bool { return stat(d, "received") == 3 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, uint64(1), stat(d, "refused_source"))
	require.Equal(t, uint64(1), stat(d, "unknown_source"))
	sink.none(t)
}

// TestEngineIDDefault: the receiver's engine id follows the gateway id, in RFC 3411's format.
func TestEngineIDDefault(t *testing.T) {
	a, b := defaultEngineID("site-gw-1"), defaultEngineID("site-gw-2")
	require.NotEqual(t, a, b)
	require.Equal(t, a, defaultEngineID("site-gw-1"))
	require.Len(t, a, 17)
	require.Equal(t, "80001f8805", hex.EncodeToString(a[:5]))
}
