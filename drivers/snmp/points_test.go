package snmp

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
)

// TestPointFeaturesOnSNMPSim polls points that need more than one column, against snmpsim replaying
// testdata/agents/sensors.snmprec (values of our own): rows kept by another column's value (Raritan's
// external sensors, temperature rows only), a reading divided by 10^d of a decimals column, a BITS value
// by name (hrPrinterDetectedErrorState), and a scalar with a decimals OID.
func TestPointFeaturesOnSNMPSim(t *testing.T) {
	addr := peers.StartSNMPSim(t, "testdata/agents")
	host, port, _ := net.SplitHostPort(addr)
	p, _ := net.LookupPort("udp", port)
	g := Group{Credentials: Credentials{Name: "sim", Version: V2c, Community: "sensors"},
		Targets: []Target{{Host: host, Port: uint16(p)}}, Timeout: 2 * time.Second, Retries: 1}
	d, err := New(Options{Groups: []Group{g}})
	require.NoError(t, err)
	defer d.Close()

	points := []gateway.Point{
		{Name: "temperatureCelsius", Type: gateway.TypeInt, Unit: "Cel", Address: &Addr{OID: ".1.3.6.1.4.1.13742.6.5.5.3.1.4.1", Table: true,
			WhereOID: ".1.3.6.1.4.1.13742.6.3.6.3.1.2.1", WhereIn: []int64{10}, DecimalsOID: ".1.3.6.1.4.1.13742.6.3.6.3.1.17.1"}},
		{Name: "humidityPercent", Type: gateway.TypeInt, Unit: "%RH", Address: &Addr{OID: ".1.3.6.1.4.1.13742.6.5.5.3.1.4.1", Table: true,
			WhereOID: ".1.3.6.1.4.1.13742.6.3.6.3.1.2.1", WhereIn: []int64{11}, DecimalsOID: ".1.3.6.1.4.1.13742.6.3.6.3.1.17.1"}},
		{Name: "printerErrors", Address: &Addr{OID: ".1.3.6.1.2.1.25.3.5.1.2", Table: true}, Type: gateway.TypeBits,
			Bits: map[int64]string{0: "lowPaper", 1: "noPaper", 4: "doorOpen", 6: "offline"}},
		{Name: "voltage", Address: &Addr{OID: ".1.3.6.1.4.1.99999.7.1.0", DecimalsOID: ".1.3.6.1.4.1.99999.7.2.0"}, Type: gateway.TypeInt, Unit: "V", Scale: 10},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := d.Poll(ctx, gateway.Endpoint{Protocol: Protocol, Address: addr, Credential: "sim"}, points)
	require.NoError(t, err)
	values := map[string]gateway.Value{}
	for _, r := range got {
		require.NoError(t, r.Err, r.Name)
		values[r.Name] = r.Value
	}
	require.Equal(t, map[string]gateway.Value{
		"temperatureCelsius[1]": gateway.Number(23.5),
		"temperatureCelsius[3]": gateway.Number(22.1),
		"humidityPercent[2]":    gateway.Number(45),
		"printerErrors[1]":      gateway.String("lowPaper,offline"),
		"printerErrors[2]":      gateway.String("bit9"),
		"printerErrors[3]":      gateway.String(""),
		"voltage":               gateway.Number(123.4),
	}, values)
}

func TestBitNames(t *testing.T) {
	names := map[int64]string{0: "a", 7: "h", 8: "i"}
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0}, ""},
		{[]byte{0x80}, "a"},
		{[]byte{0x81, 0x80}, "a,h,i"},
		{[]byte{0x40}, "bit1"},
		{[]byte{0, 0, 1}, "bit23"},
	} {
		require.Equal(t, c.want, bitNames(c.in, names), "%x", c.in)
	}
}

// TestNetworkOnSNMPSim reads a device's own addresses and default route (IP-MIB, RFC 1213 ipRouteTable)
// at discovery: the IPv4 row that is not loopback, the first global IPv6 address, the next hop of
// 0.0.0.0.
func TestNetworkOnSNMPSim(t *testing.T) {
	addr := peers.StartSNMPSim(t, "testdata/agents")
	host, port, _ := net.SplitHostPort(addr)
	p, _ := net.LookupPort("udp", port)
	g := Group{Credentials: Credentials{Name: "sim", Version: V2c, Community: "sensors"},
		Targets: []Target{{Host: host, Port: uint16(p)}}, Timeout: 2 * time.Second, Retries: 1}
	d, err := New(Options{Groups: []Group{g}})
	require.NoError(t, err)
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := d.Identify(ctx, addr, &g.Credentials, g.Timeout, g.Retries)
	require.NoError(t, err)
	require.Equal(t, gateway.Network{IPv4: "192.0.2.77/24", IPv6: "2001:db8::10/64", DefaultGateway: "192.0.2.1"}, s.Identity.Network)
}
