package snmp

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/sim"
)

var (
	locationPoint = gateway.Point{Name: "location", Address: &Addr{OID: ".1.3.6.1.2.1.1.6.0"}, Type: gateway.TypeString, Writable: true}
	descrPoint    = gateway.Point{Name: "description", Address: &Addr{OID: ".1.3.6.1.2.1.1.1.0"}, Type: gateway.TypeString, Writable: true}
	// The acme display's settings (sim/doc.go).
	powerPoint = gateway.Point{Name: "powerState", Address: &Addr{OID: ".1.3.6.1.4.1.99999.1.1.2.0"}, Type: gateway.TypeEnum,
		Enum: map[int64]string{1: "on", 2: "standby"}, Writable: true}
	inputPoint = gateway.Point{Name: "inputSource", Address: &Addr{OID: ".1.3.6.1.4.1.99999.1.1.3.0"}, Type: gateway.TypeEnum,
		Enum: map[int64]string{1: "hdmi1", 2: "hdmi2", 3: "displayPort", 4: "dvi"}, Writable: true}
	// backlight is 0..100 % on the device, reported as a 0..1 ratio.
	backlightPoint = gateway.Point{Name: "backlight", Address: &Addr{OID: ".1.3.6.1.4.1.99999.1.1.4.0"}, Type: gateway.TypeFloat,
		Scale: 0.01, Writable: true}
)

func writeErr(t *testing.T, err error) *gateway.WriteError {
	t.Helper()
	var we *gateway.WriteError
	require.ErrorAs(t, err, &we)
	return we
}

func write(t *testing.T, d *Driver, ep gateway.Endpoint, p gateway.Point, v gateway.Value) (gateway.Value, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.Write(ctx, ep, p, v)
}

// snmpget runs net-snmp's own client, so the check does not go through the code under test.
func snmpget(t *testing.T, addr, community, oid string) string {
	t.Helper()
	return peers.SNMPGet(t, addr, community, oid)
}

func TestSNMPDWrite(t *testing.T) {
	v := peers.Need(t, "PEERS_SNMPD_ADDR", "PEERS_SNMPD_RO_COMMUNITY", "PEERS_SNMPD_RW_COMMUNITY")
	addr, ro, rw := v[0], v[1], v[2]
	oid := strings.TrimPrefix(addrOf(&locationPoint).OID, ".")
	d, err := New(Options{Groups: []Group{
		{Credentials: Credentials{Name: "rw", Version: V2c, Community: ro, WriteCommunity: rw}, Timeout: time.Second, Retries: 1},
		{Credentials: Credentials{Name: "ro", Version: V2c, Community: ro}, Timeout: time.Second, Retries: 1},
		{Credentials: Credentials{Name: "v1ro", Version: V1, Community: ro}, Timeout: time.Second, Retries: 1},
		{Credentials: Credentials{Name: "v1rw", Version: V1, Community: ro, WriteCommunity: rw}, Timeout: time.Second, Retries: 1},
	}})
	require.NoError(t, err)
	defer d.Close()
	rwEP := gateway.Endpoint{Protocol: Protocol, Address: addr, Credential: "rw"}

	// Other tests read snmpd: put sysLocation back as it was. TestDesiredOnSNMPD (cmd/edgegw, another
	// process) changes it too.
	peers.Lock(t, "snmpd-syslocation")
	orig := snmpget(t, addr, ro, oid)
	t.Cleanup(func() {
		back, err := write(t, d, rwEP, locationPoint, gateway.String(orig))
		require.NoError(t, err, "restore sysLocation")
		require.Equal(t, orig, back.Str)
		require.Equal(t, orig, snmpget(t, addr, ro, oid))
	})

	want := "edgegw set test " + strconv.FormatInt(time.Now().UnixNano(), 36)
	back, err := write(t, d, rwEP, locationPoint, gateway.String(want))
	require.NoError(t, err)
	require.Equal(t, gateway.String(want), back)
	require.Equal(t, want, snmpget(t, addr, ro, oid), "net-snmp's snmpget sees the new sysLocation")

	t.Run("read-only community", func(t *testing.T) {
		_, err := write(t, d, gateway.Endpoint{Protocol: Protocol, Address: addr, Credential: "ro"}, locationPoint, gateway.String("nope"))
		we := writeErr(t, err)
		require.Equal(t, "noAccess", we.Reason)
		require.Equal(t, "set location: the device refused it: noAccess (read-only community?)", err.Error())
		require.Equal(t, want, snmpget(t, addr, ro, oid), "unchanged")
	})
	t.Run("v1 read-only community", func(t *testing.T) {
		_, err := write(t, d, gateway.Endpoint{Protocol: Protocol, Address: addr, Credential: "v1ro"}, locationPoint, gateway.String("nope"))
		we := writeErr(t, err)
		require.Contains(t, []string{"noSuchName", "readOnly", "noAccess"}, we.Reason)
		require.Equal(t, want, snmpget(t, addr, ro, oid), "unchanged")
	})
	t.Run("v1", func(t *testing.T) {
		want2 := want + " v1"
		back, err := write(t, d, gateway.Endpoint{Protocol: Protocol, Address: addr, Credential: "v1rw"}, locationPoint, gateway.String(want2))
		require.NoError(t, err)
		require.Equal(t, want2, back.Str)
		require.Equal(t, want2, snmpget(t, addr, ro, oid))
	})
	t.Run("read-only object", func(t *testing.T) {
		_, err := write(t, d, rwEP, descrPoint, gateway.String("nope"))
		we := writeErr(t, err)
		require.Contains(t, []string{"notWritable", "noCreation"}, we.Reason)
		require.Equal(t, "ACME DisplayPro 55 Firmware 4.2.1", snmpget(t, addr, ro, "1.3.6.1.2.1.1.1.0"))
	})
	t.Run("v3 read-only user", func(t *testing.T) {
		_, v3, _ := snmpdGroups(t)
		d3, err := New(Options{Groups: []Group{v3}})
		require.NoError(t, err)
		defer d3.Close()
		_, err = write(t, d3, gateway.Endpoint{Protocol: Protocol, Address: addr, Credential: v3.Name}, locationPoint, gateway.String("nope"))
		writeErr(t, err) // snmpd's users are rouser: a refusal, not a timeout
	})
}

// simSite starts n simulated devices (0 is a display, 1 a projector) with SNMPv3 users.
func simSite(t *testing.T, n int) (*sim.Site, []gateway.Endpoint, *Driver) {
	t.Helper()
	site, err := sim.Start(context.Background(), sim.Options{N: n, V3User: "setuser", V3AuthPass: "authpass123", V3PrivPass: "privpass123"})
	require.NoError(t, err)
	t.Cleanup(func() { site.Close() })
	d, err := New(Options{Groups: []Group{
		{Credentials: Credentials{Name: "rw", Community: "public", WriteCommunity: "private"}, Timeout: 500 * time.Millisecond},
		{Credentials: Credentials{Name: "ro", Community: "public"}, Timeout: 500 * time.Millisecond},
		{Credentials: Credentials{Name: "v3", Version: V3, V3: &V3Auth{User: "setuser", AuthProtocol: "SHA", AuthPassword: "authpass123",
			PrivProtocol: "AES", PrivPassword: "privpass123"}}, Timeout: 500 * time.Millisecond},
	}})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	var eps []gateway.Endpoint
	for _, dev := range site.Devices() {
		eps = append(eps, gateway.Endpoint{Protocol: Protocol, Address: dev.Addr.String(), Credential: "rw"})
	}
	return site, eps, d
}

func poll1(t *testing.T, d *Driver, ep gateway.Endpoint, p gateway.Point) gateway.Value {
	t.Helper()
	ep.Credential = "ro"
	rs, err := d.Poll(context.Background(), ep, []gateway.Point{p})
	require.NoError(t, err)
	require.Len(t, rs, 1)
	require.NoError(t, rs[0].Err)
	return rs[0].Value
}

func TestWriteSim(t *testing.T) {
	site, eps, d := simSite(t, 2)
	display, projector := eps[0], eps[1]

	t.Run("enum by name", func(t *testing.T) {
		back, err := write(t, d, display, powerPoint, gateway.String("standby"))
		require.NoError(t, err)
		require.Equal(t, gateway.String("standby"), back)
		require.Equal(t, gateway.String("standby"), poll1(t, d, display, powerPoint))
		back, err = write(t, d, display, powerPoint, gateway.String("on"))
		require.NoError(t, err)
		require.Equal(t, gateway.String("on"), back)
	})
	t.Run("enum by number", func(t *testing.T) {
		back, err := write(t, d, display, inputPoint, gateway.Number(3))
		require.NoError(t, err)
		require.Equal(t, gateway.String("displayPort"), back)
		back, err = write(t, d, display, inputPoint, gateway.String("hdmi2"))
		require.NoError(t, err)
		require.Equal(t, gateway.String("hdmi2"), back)
	})
	t.Run("scaled", func(t *testing.T) {
		back, err := write(t, d, display, backlightPoint, gateway.Number(0.42))
		require.NoError(t, err)
		require.Equal(t, gateway.Number(0.42), back)
		raw := backlightPoint
		raw.Scale = 0
		require.Equal(t, gateway.Number(42), poll1(t, d, display, raw), "the device holds 42 %")

		// scale and offset together: a point in tenths with an offset of 5.
		shifted := backlightPoint
		shifted.Type, shifted.Scale, shifted.Offset = gateway.TypeInt, 10, 5
		back, err = write(t, d, display, shifted, gateway.Number(255))
		require.NoError(t, err)
		require.Equal(t, gateway.Number(255), back)
		require.Equal(t, gateway.Number(25), poll1(t, d, display, raw))
	})
	t.Run("out of range", func(t *testing.T) {
		_, err := write(t, d, display, backlightPoint, gateway.Number(1.5))
		require.Equal(t, "wrongValue", writeErr(t, err).Reason)
	})
	t.Run("string", func(t *testing.T) {
		back, err := write(t, d, display, locationPoint, gateway.String("Room 101"))
		require.NoError(t, err)
		require.Equal(t, gateway.String("Room 101"), back)
		back, err = write(t, d, display, locationPoint, gateway.String(""))
		require.NoError(t, err)
		require.Equal(t, gateway.String(""), back)
	})
	t.Run("string too long", func(t *testing.T) {
		_, err := write(t, d, display, locationPoint, gateway.String(strings.Repeat("x", 300)))
		we := writeErr(t, err)
		require.Equal(t, "wrongLength", we.Reason)
		require.Equal(t, "set location: the device refused it: wrongLength (too long or too short)", err.Error())
	})
	t.Run("read-only community", func(t *testing.T) {
		ro := display
		ro.Credential = "ro"
		_, err := write(t, d, ro, powerPoint, gateway.String("standby"))
		require.Equal(t, "noAccess", writeErr(t, err).Reason)
		require.Equal(t, gateway.String("on"), poll1(t, d, display, powerPoint))
	})
	t.Run("read-only object", func(t *testing.T) {
		_, err := write(t, d, display, descrPoint, gateway.String("nope"))
		require.Equal(t, "notWritable", writeErr(t, err).Reason)
	})
	t.Run("no such object", func(t *testing.T) {
		p := gateway.Point{Name: "ghost", Address: &Addr{OID: ".1.3.6.1.4.1.99999.1.1.99.0"}, Type: gateway.TypeInt}
		_, err := write(t, d, display, p, gateway.Number(1))
		require.Equal(t, "noCreation", writeErr(t, err).Reason)
	})
	t.Run("agent's type wins over the profile's", func(t *testing.T) {
		// lampHours is a read-only Gauge32; the profile calls it int. The SET goes out as Gauge32, so the
		// agent says notWritable, not wrongType.
		p := gateway.Point{Name: "lampHours", Address: &Addr{OID: ".1.3.6.1.4.1.99999.2.1.5.0"}, Type: gateway.TypeInt}
		_, err := write(t, d, projector, p, gateway.Number(1))
		require.Equal(t, "notWritable", writeErr(t, err).Reason)
		// and a uint point on an Integer object is sent as Integer.
		u := backlightPoint
		u.Type, u.Scale = gateway.TypeUint, 0
		back, err := write(t, d, display, u, gateway.Number(70))
		require.NoError(t, err)
		require.Equal(t, gateway.Number(70), back)
	})
	t.Run("v3", func(t *testing.T) {
		ep := display
		ep.Credential = "v3"
		back, err := write(t, d, ep, locationPoint, gateway.String("set over v3"))
		require.NoError(t, err)
		require.Equal(t, gateway.String("set over v3"), back)
	})
	t.Run("refused before any packet", func(t *testing.T) {
		for _, c := range []struct {
			p    gateway.Point
			v    gateway.Value
			want error
		}{
			{powerPoint, gateway.Bool(true), ErrType},
			{powerPoint, gateway.String("sleep"), ErrType},
			{powerPoint, gateway.Number(7), ErrType},
			{locationPoint, gateway.Number(3), ErrType},
			{backlightPoint, gateway.String("bright"), ErrType},
			{gateway.Point{Name: "ticks", Address: &Addr{OID: ".1.3.6.1.2.1.1.3.0"}, Type: gateway.TypeTimeticks}, gateway.Number(1), ErrNotWritable},
			{gateway.Point{Name: "octets", Address: &Addr{OID: ".1.3.6.1.2.1.2.2.1.10.2"}, Type: gateway.TypeCounter}, gateway.Number(1), ErrNotWritable},
			{gateway.Point{Name: "step", Address: &Addr{OID: addrOf(&backlightPoint).OID}, Type: gateway.TypeInt, Scale: 0.5}, gateway.Number(33.3), ErrNotRepresentable},
			{gateway.Point{Name: "table", Address: &Addr{OID: ".1.3.6.1.2.1.2.2.1.2", Table: true}, Type: gateway.TypeString}, gateway.String("x"), ErrNotWritable},
		} {
			before := site.Stats().Received
			_, err := write(t, d, display, c.p, c.v)
			require.ErrorIs(t, err, c.want, "%s = %v", c.p.Name, c.v)
			var we *gateway.WriteError
			require.False(t, errors.As(err, &we), "not a device's refusal: %v", err)
			require.Equal(t, before, site.Stats().Received, "%s = %v: nothing sent", c.p.Name, c.v)
		}
	})
	t.Run("no answer is not a refusal", func(t *testing.T) {
		site.SetFault(0, sim.Silent)
		defer site.SetFault(0, sim.None)
		_, err := write(t, d, display, locationPoint, gateway.String("lost"))
		var te *TimeoutError
		require.ErrorAs(t, err, &te)
		var we *gateway.WriteError
		require.False(t, errors.As(err, &we))
	})
}

func TestEncodeFitsAgentType(t *testing.T) {
	ip := gateway.Point{Name: "gw", Address: &Addr{OID: ".1.3.6.1.4.1.1.1.0"}, Type: gateway.TypeIP}
	w, err := encode(&ip, gateway.String("10.1.2.3"))
	require.NoError(t, err)
	pdu, err := w.as(gosnmp.IPAddress)
	require.NoError(t, err)
	require.Equal(t, []byte{10, 1, 2, 3}, pdu.Value)
	_, err = w.as(gosnmp.Integer)
	require.ErrorIs(t, err, ErrType)

	b := gateway.Point{Name: "mute", Address: &Addr{OID: ".1.3.6.1.4.1.1.2.0"}, Type: gateway.TypeBool}
	w, err = encode(&b, gateway.Bool(false))
	require.NoError(t, err)
	pdu, err = w.as(gosnmp.Integer)
	require.NoError(t, err)
	require.Equal(t, gosnmp.SnmpPDU{Type: gosnmp.Integer, Value: 2}, pdu)

	u := gateway.Point{Name: "n", Address: &Addr{OID: ".1.3.6.1.4.1.1.3.0"}, Type: gateway.TypeInt}
	w, err = encode(&u, gateway.Number(-1))
	require.NoError(t, err)
	_, err = w.as(gosnmp.Gauge32)
	require.ErrorIs(t, err, ErrNotRepresentable)
	pdu, err = w.as(gosnmp.OctetString)
	require.NoError(t, err)
	require.Equal(t, []byte("-1"), pdu.Value)
	_, err = w.as(gosnmp.Counter32)
	require.ErrorIs(t, err, ErrNotWritable)

	f := gateway.Point{Name: "setpoint", Address: &Addr{OID: ".1.3.6.1.4.1.1.4.0"}, Type: gateway.TypeFloat}
	w, err = encode(&f, gateway.Number(21.5))
	require.NoError(t, err)
	pdu, err = w.as(gosnmp.OctetString)
	require.NoError(t, err)
	require.Equal(t, []byte("21.5"), pdu.Value)
	_, err = w.as(gosnmp.Integer)
	require.ErrorIs(t, err, ErrNotRepresentable)

	// 23.5 / 0.1 is 234.99999999999997 in floating point: still 235.
	f.Scale = 0.1
	w, err = encode(&f, gateway.Number(23.5))
	require.NoError(t, err)
	pdu, err = w.as(gosnmp.Integer)
	require.NoError(t, err)
	require.Equal(t, 235, pdu.Value)

	require.Equal(t, "noAccess", statusName(gosnmp.NoAccess))
	require.Equal(t, "wrongLength", statusName(gosnmp.WrongLength))
	require.Equal(t, "error status 99", statusName(gosnmp.SNMPError(99)))
}
