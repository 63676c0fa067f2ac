package sim

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"
)

// trapSink is a receiver on loopback that decodes what it gets and acknowledges informs when ack is
// set.
type trapSink struct {
	conn *net.UDPConn
	got  chan *gosnmp.SnmpPacket
	from chan netip.AddrPort
}

func newTrapSink(t *testing.T, ack bool) *trapSink {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	s := &trapSink{conn: c, got: make(chan *gosnmp.SnmpPacket, 100), from: make(chan netip.AddrPort, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			p, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(buf[:n])
			if err != nil {
				continue
			}
			s.got <- p
			s.from <- from
			if ack && p.PDUType == gosnmp.InformRequest {
				r := &gosnmp.SnmpPacket{Version: p.Version, Community: p.Community, PDUType: gosnmp.GetResponse, RequestID: p.RequestID, Variables: p.Variables}
				b, _ := r.MarshalMsg()
				c.WriteToUDPAddrPort(b, from)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return s
}

func (s *trapSink) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func trapOIDOf(p *gosnmp.SnmpPacket) string {
	for _, v := range p.Variables {
		if v.Name == oidTrapOID {
			return v.Value.(string)
		}
	}
	return ""
}

// TestTraps: a UPS goes on battery with a trap and answers so from then on; back on power with the
// alarm-removed trap; informs are sent until acknowledged; only a UPS reports power; traps come from
// the device's own address.
func TestTraps(t *testing.T) {
	site, _ := startSite(t, 3) // display, projector, UPS
	ups := site.Devices()[2]
	require.Equal(t, "ups", ups.Kind)
	sink := newTrapSink(t, true)
	ctx := context.Background()
	g := client(t, ups.Addr, gosnmp.Version2c, "public")
	source := func() int {
		r, err := g.Get([]string{upsPrefix + ".4.1.0"})
		require.NoError(t, err)
		return r.Variables[0].Value.(int)
	}
	require.Equal(t, 3, source(), "normal")

	require.NoError(t, site.SendTrap(ctx, 2, TrapOnBattery, sink.addr(), false))
	p := <-sink.got
	require.Equal(t, ups.Addr, <-sink.from, "sent from the device's own address and port")
	require.Equal(t, gosnmp.SNMPv2Trap, p.PDUType)
	require.Equal(t, "public", p.Community)
	require.Equal(t, oidUpsOnBattery, trapOIDOf(p))
	require.Equal(t, 5, source(), "on battery")

	require.NoError(t, site.SendTrap(ctx, 2, TrapPowerRestored, sink.addr(), true), "an acknowledged inform")
	p = <-sink.got
	<-sink.from
	require.Equal(t, gosnmp.InformRequest, p.PDUType)
	require.Equal(t, oidUpsAlarmRemove, trapOIDOf(p))
	require.Equal(t, 3, source())

	require.Error(t, site.SendTrap(ctx, 0, TrapOnBattery, sink.addr(), false), "a display has no battery")
	require.Error(t, site.SendTrap(ctx, 0, TrapColdStart, netip.MustParseAddrPort("192.0.2.1:162"), false), "loopback only")

	silent := newTrapSink(t, false)
	err := site.SendTrap(ctx, 0, TrapLinkDown, silent.addr(), true)
	require.ErrorIs(t, err, ErrNotAcknowledged)
	require.Len(t, silent.got, informTries, "sent again until the tries run out")
}

// TestRunTraps: a bounded run at a high rate sends each device's pair of traps in turn.
func TestRunTraps(t *testing.T) {
	site, _ := startSite(t, 3)
	sink := newTrapSink(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- site.RunTraps(ctx, TrapOptions{To: sink.addr(), Rate: 200}) }()
	var oids []string
	for range 6 {
		oids = append(oids, trapOIDOf(<-sink.got))
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.Equal(t, []string{oidLinkDown, oidLinkDown, oidUpsOnBattery, oidLinkUp, oidLinkUp, oidUpsAlarmRemove}, oids)
	require.Error(t, site.RunTraps(context.Background(), TrapOptions{To: netip.MustParseAddrPort("10.0.0.1:162"), Rate: 1}))
}
