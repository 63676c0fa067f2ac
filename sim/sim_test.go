package sim

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testUser     = "simuser"
	testAuthPass = "authpass123"
	testPrivPass = "privpass123"
)

// clock is a movable test clock.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

func startSite(t *testing.T, n int) (*Site, *clock) {
	t.Helper()
	c := &clock{}
	s, err := Start(t.Context(), Options{
		N: n, Seed: 1, V3User: testUser, V3AuthPass: testAuthPass, V3PrivPass: testPrivPass, Now: c.Now,
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, c
}

func client(t *testing.T, addr netip.AddrPort, ver gosnmp.SnmpVersion, community string) *gosnmp.GoSNMP {
	t.Helper()
	g := &gosnmp.GoSNMP{
		Target: addr.Addr().String(), Port: addr.Port(), Version: ver, Community: community,
		Timeout: time.Second, Retries: 1, MaxOids: gosnmp.MaxOids,
	}
	require.NoError(t, g.Connect())
	t.Cleanup(func() { _ = g.Conn.Close() })
	return g
}

func v3client(t *testing.T, addr netip.AddrPort, user string, auth gosnmp.SnmpV3AuthProtocol, authPass string,
	priv gosnmp.SnmpV3PrivProtocol, privPass string,
) *gosnmp.GoSNMP {
	t.Helper()
	flags := gosnmp.AuthNoPriv
	if priv != gosnmp.NoPriv {
		flags = gosnmp.AuthPriv
	}
	g := &gosnmp.GoSNMP{
		Target: addr.Addr().String(), Port: addr.Port(), Version: gosnmp.Version3,
		Timeout: 500 * time.Millisecond, Retries: 1, MaxOids: gosnmp.MaxOids,
		SecurityModel: gosnmp.UserSecurityModel, MsgFlags: flags,
		SecurityParameters: &gosnmp.UsmSecurityParameters{
			UserName: user, AuthenticationProtocol: auth, AuthenticationPassphrase: authPass,
			PrivacyProtocol: priv, PrivacyPassphrase: privPass,
		},
	}
	require.NoError(t, g.Connect())
	t.Cleanup(func() { _ = g.Conn.Close() })
	return g
}

const (
	oidSysDescr    = ".1.3.6.1.2.1.1.1.0"
	oidSysObjectID = ".1.3.6.1.2.1.1.2.0"
	oidSysUpTime   = ".1.3.6.1.2.1.1.3.0"
	oidSysName     = ".1.3.6.1.2.1.1.5.0"
	oidSysLocation = ".1.3.6.1.2.1.1.6.0"
	oidIfPhys2     = ".1.3.6.1.2.1.2.2.1.6.2"
	oidEntSerial   = ".1.3.6.1.2.1.47.1.1.1.1.11.1"
	oidPower       = ".1.3.6.1.4.1.99999.1.1.2.0"
)

func TestIdentitiesAreDeterministic(t *testing.T) {
	a, _ := startSite(t, 6)
	b, _ := startSite(t, 6)
	c, err := Start(t.Context(), Options{N: 6, Seed: 2})
	require.NoError(t, err)
	defer c.Close()
	mac := regexp.MustCompile(`^02:ed:67:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$`)
	serial := regexp.MustCompile(`^SIM-(DP55|BX4K|PS1500)-\d{6,8}$`)
	seen := map[string]bool{}
	for i, d := range a.Devices() {
		e := b.Devices()[i]
		require.Equal(t, d.MAC, e.MAC)
		require.Equal(t, d.Serial, e.Serial)
		require.NotEqual(t, d.MAC, c.Devices()[i].MAC)
		require.Regexp(t, mac, d.MAC)
		require.Regexp(t, serial, d.Serial)
		require.False(t, seen[d.MAC])
		seen[d.MAC] = true
		require.Equal(t, i, d.Index)
		require.Equal(t, "ACME", d.Manufacturer)
		require.True(t, d.Addr.Addr().IsLoopback())
		require.NotZero(t, d.Addr.Port())
	}
	d := a.Devices()
	require.Equal(t, "display", d[0].Kind)
	require.Equal(t, "DP55", d[0].Model)
	require.Equal(t, "sim-display-000", d[0].Hostname)
	require.Equal(t, "ACME DisplayPro 55 Firmware 4.2.1", d[0].SysDescr)
	require.Equal(t, ".1.3.6.1.4.1.99999.1.55", d[0].SysObjectID)
	require.Equal(t, "projector", d[1].Kind)
	require.Equal(t, ".1.3.6.1.4.1.99999.2.4", d[1].SysObjectID)
	require.Equal(t, "ups", d[2].Kind)
	require.Equal(t, "ACME PowerSafe 1500", d[2].ModelName)
	require.Equal(t, ".1.3.6.1.4.1.99999.3.15", d[2].SysObjectID)
}

func TestV2cGetAndWalk(t *testing.T) {
	s, _ := startSite(t, 3)
	for _, d := range s.Devices() {
		t.Run(d.Kind, func(t *testing.T) {
			g := client(t, d.Addr, gosnmp.Version2c, "public")
			res, err := g.Get([]string{oidSysDescr, oidSysObjectID, oidSysName, oidIfPhys2, oidEntSerial,
				".1.3.6.1.2.1.1.1.5", ".1.3.6.1.2.1.99.1.0"})
			require.NoError(t, err)
			require.Equal(t, gosnmp.NoError, res.Error)
			v := res.Variables
			require.Equal(t, d.SysDescr, string(v[0].Value.([]byte)))
			require.Equal(t, d.SysObjectID, v[1].Value)
			require.Equal(t, d.Hostname, string(v[2].Value.([]byte)))
			mac, err := net.ParseMAC(d.MAC)
			require.NoError(t, err)
			require.Equal(t, []byte(mac), v[3].Value)
			require.Equal(t, d.Serial, string(v[4].Value.([]byte)))
			require.Equal(t, gosnmp.NoSuchInstance, v[5].Type)
			require.Equal(t, gosnmp.NoSuchObject, v[6].Type)

			walked, err := g.BulkWalkAll(".1.3.6.1")
			require.NoError(t, err)
			require.Len(t, walked, len(s.mibs[s.devices[d.Index].kind]))
			got := map[string]gosnmp.SnmpPDU{}
			for _, pdu := range walked {
				got[pdu.Name] = pdu
			}
			require.Equal(t, gosnmp.TimeTicks, got[oidSysUpTime].Type)
			require.Equal(t, 3, got[".1.3.6.1.2.1.47.1.1.1.1.5.1"].Value)
			require.Equal(t, "lo", string(got[".1.3.6.1.2.1.2.2.1.2.1"].Value.([]byte)))
			require.Equal(t, 24, got[".1.3.6.1.2.1.2.2.1.3.1"].Value)
			require.Equal(t, 6, got[".1.3.6.1.2.1.2.2.1.3.2"].Value)
			require.Empty(t, got[".1.3.6.1.2.1.2.2.1.6.1"].Value)
			switch d.Kind {
			case "display":
				require.Equal(t, 1, got[oidPower].Value)
			case "projector":
				require.Equal(t, gosnmp.Gauge32, got[".1.3.6.1.4.1.99999.2.1.5.0"].Type)
			case "ups":
				require.Equal(t, "PS1500", string(got[".1.3.6.1.2.1.33.1.1.2.0"].Value.([]byte)))
				require.Equal(t, 2, got[".1.3.6.1.2.1.33.1.2.1.0"].Value)
				require.Equal(t, 3, got[".1.3.6.1.2.1.33.1.4.1.0"].Value)
			}

			// GETNEXT walk agrees with the bulk walk.
			nexted, err := g.WalkAll(".1.3.6.1")
			require.NoError(t, err)
			require.Len(t, nexted, len(walked))

			// End of the MIB.
			res, err = g.GetNext([]string{".1.3.6.1.9"})
			require.NoError(t, err)
			require.Equal(t, gosnmp.EndOfMibView, res.Variables[0].Type)
		})
	}
}

func TestV1(t *testing.T) {
	s, _ := startSite(t, 1)
	g := client(t, s.Devices()[0].Addr, gosnmp.Version1, "public")
	res, err := g.Get([]string{oidSysDescr})
	require.NoError(t, err)
	require.Equal(t, s.Devices()[0].SysDescr, string(res.Variables[0].Value.([]byte)))

	res, err = g.Get([]string{oidSysDescr, ".1.3.6.1.2.1.1.1.5"})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NoSuchName, res.Error)
	require.Equal(t, uint8(2), res.ErrorIndex)

	res, err = g.GetNext([]string{".1.3.6.1.9"})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NoSuchName, res.Error)

	walked, err := g.WalkAll(".1.3.6.1.2.1.1")
	require.NoError(t, err)
	require.Len(t, walked, 7)

	ro := client(t, s.Devices()[0].Addr, gosnmp.Version1, "public")
	res, err = ro.Set([]gosnmp.SnmpPDU{{Name: oidSysLocation, Type: gosnmp.OctetString, Value: "x"}})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NoSuchName, res.Error)
}

func TestSet(t *testing.T) {
	s, _ := startSite(t, 1)
	addr := s.Devices()[0].Addr
	rw := client(t, addr, gosnmp.Version2c, "private")
	ro := client(t, addr, gosnmp.Version2c, "public")

	res, err := rw.Set([]gosnmp.SnmpPDU{
		{Name: oidSysLocation, Type: gosnmp.OctetString, Value: "Hall B"},
		{Name: oidSysName, Type: gosnmp.OctetString, Value: "lobby-screen"},
		{Name: oidPower, Type: gosnmp.Integer, Value: 2},
	})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NoError, res.Error)
	res, err = ro.Get([]string{oidSysLocation, oidSysName, oidPower})
	require.NoError(t, err)
	require.Equal(t, "Hall B", string(res.Variables[0].Value.([]byte)))
	require.Equal(t, "lobby-screen", string(res.Variables[1].Value.([]byte)))
	require.Equal(t, 2, res.Variables[2].Value)

	for _, tc := range []struct {
		name  string
		g     *gosnmp.GoSNMP
		pdus  []gosnmp.SnmpPDU
		want  gosnmp.SNMPError
		index uint8
	}{
		{"ro community", ro, []gosnmp.SnmpPDU{{Name: oidSysLocation, Type: gosnmp.OctetString, Value: "x"}}, gosnmp.NoAccess, 1},
		{"read-only object", rw, []gosnmp.SnmpPDU{{Name: oidSysDescr, Type: gosnmp.OctetString, Value: "x"}}, gosnmp.NotWritable, 1},
		{"wrong type", rw, []gosnmp.SnmpPDU{
			{Name: oidSysLocation, Type: gosnmp.OctetString, Value: "ok"},
			{Name: oidSysName, Type: gosnmp.Integer, Value: 5},
		}, gosnmp.WrongType, 2},
		{"wrong value", rw, []gosnmp.SnmpPDU{{Name: oidPower, Type: gosnmp.Integer, Value: 7}}, gosnmp.WrongValue, 1},
		{"no such object", rw, []gosnmp.SnmpPDU{{Name: ".1.3.6.1.4.1.99999.1.1.99.0", Type: gosnmp.Integer, Value: 1}}, gosnmp.NoCreation, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.g.Set(tc.pdus)
			require.NoError(t, err)
			require.Equal(t, tc.want, res.Error)
			require.Equal(t, tc.index, res.ErrorIndex)
		})
	}
	// The failed SETs changed nothing (atomicity).
	res, err = ro.Get([]string{oidSysLocation})
	require.NoError(t, err)
	require.Equal(t, "Hall B", string(res.Variables[0].Value.([]byte)))
}

func TestUptimeAndValuesAdvance(t *testing.T) {
	s, c := startSite(t, 3)
	g := client(t, s.Devices()[1].Addr, gosnmp.Version2c, "public")
	lamp := ".1.3.6.1.4.1.99999.2.1.5.0"
	res, err := g.Get([]string{oidSysUpTime, lamp})
	require.NoError(t, err)
	up0, lamp0 := gosnmp.ToBigInt(res.Variables[0].Value).Int64(), gosnmp.ToBigInt(res.Variables[1].Value).Int64()
	require.Greater(t, up0, int64(3600*100))
	c.Advance(5 * time.Minute)
	res, err = g.Get([]string{oidSysUpTime, lamp})
	require.NoError(t, err)
	require.InDelta(t, float64(up0+300*100), float64(gosnmp.ToBigInt(res.Variables[0].Value).Int64()), 100)
	require.Equal(t, lamp0+5, gosnmp.ToBigInt(res.Variables[1].Value).Int64())
}

func TestRestart(t *testing.T) {
	s, c := startSite(t, 2)
	addr := s.Devices()[1].Addr // a projector
	ro := client(t, addr, gosnmp.Version2c, "public")
	rw := client(t, addr, gosnmp.Version2c, "private")
	restart := ".1.3.6.1.4.1.99999.2.1.9.0"
	res, err := rw.Set([]gosnmp.SnmpPDU{{Name: restart, Type: gosnmp.Integer, Value: 2}})
	require.NoError(t, err)
	require.Equal(t, gosnmp.WrongValue, res.Error, "only 1 restarts")
	res, err = rw.Set([]gosnmp.SnmpPDU{{Name: restart, Type: gosnmp.Integer, Value: 1}})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NoError, res.Error)
	c.Advance(90 * time.Second)
	res, err = ro.Get([]string{oidSysUpTime, restart})
	require.NoError(t, err)
	require.InDelta(t, 9000, float64(gosnmp.ToBigInt(res.Variables[0].Value).Int64()), 100, "sysUpTime counts from the restart")
	require.Equal(t, 0, res.Variables[1].Value)
}

func TestBadCommunityIsIgnored(t *testing.T) {
	s, _ := startSite(t, 1)
	g := client(t, s.Devices()[0].Addr, gosnmp.Version2c, "nope")
	g.Timeout, g.Retries = 200*time.Millisecond, 0
	_, err := g.Get([]string{oidSysDescr})
	require.Error(t, err)
	require.Equal(t, uint64(1), s.Stats().BadCommunity)
	require.Zero(t, s.Requests())
}

func TestV3(t *testing.T) {
	s, c := startSite(t, 2)
	addr := s.Devices()[0].Addr
	for _, tc := range []struct {
		name string
		user string
		auth gosnmp.SnmpV3AuthProtocol
		priv gosnmp.SnmpV3PrivProtocol
	}{
		{"sha-aes", testUser, gosnmp.SHA, gosnmp.AES},
		{"sha256-aes", testUser + "256", gosnmp.SHA256, gosnmp.AES},
		{"sha-authnopriv", testUser, gosnmp.SHA, gosnmp.NoPriv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := v3client(t, addr, tc.user, tc.auth, testAuthPass, tc.priv, testPrivPass)
			res, err := g.Get([]string{oidSysDescr, oidSysUpTime})
			require.NoError(t, err)
			require.Equal(t, s.Devices()[0].SysDescr, string(res.Variables[0].Value.([]byte)))
			walked, err := g.BulkWalkAll(".1.3.6.1")
			require.NoError(t, err)
			require.Len(t, walked, len(s.mibs[0]))
			sp := g.SecurityParameters.(*gosnmp.UsmSecurityParameters)
			require.Equal(t, s.Devices()[0].EngineID, hexString(sp.AuthoritativeEngineID))
		})
	}

	t.Run("set", func(t *testing.T) {
		g := v3client(t, addr, testUser, gosnmp.SHA, testAuthPass, gosnmp.AES, testPrivPass)
		res, err := g.Set([]gosnmp.SnmpPDU{{Name: oidSysLocation, Type: gosnmp.OctetString, Value: "v3 room"}})
		require.NoError(t, err)
		require.Equal(t, gosnmp.NoError, res.Error)
	})

	t.Run("past the 150 s window", func(t *testing.T) {
		g := v3client(t, addr, testUser, gosnmp.SHA, testAuthPass, gosnmp.AES, testPrivPass)
		_, err := g.Get([]string{oidSysDescr})
		require.NoError(t, err)
		before := s.devices[0].usmStats[statNotInTimeWindows].Load()
		c.Advance(200 * time.Second)
		res, err := g.Get([]string{oidSysUpTime})
		require.NoError(t, err, "gosnmp must resynchronise on the notInTimeWindow report")
		require.Equal(t, gosnmp.TimeTicks, res.Variables[0].Type)
		require.Equal(t, before+1, s.devices[0].usmStats[statNotInTimeWindows].Load())
	})

	for _, tc := range []struct {
		name               string
		user, auth, priv   string
		wantStat           int
		wantUnauthenticErr bool
	}{
		{"wrong auth password", testUser, "wrongpass1", testPrivPass, statWrongDigests, true},
		{"unknown user", "mallory", testAuthPass, testPrivPass, statUnknownUserNames, true},
		{"wrong priv password", testUser, testAuthPass, "wrongpriv1", statDecryptionErrors, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.devices[1].usmStats[tc.wantStat].Load()
			g := v3client(t, s.Devices()[1].Addr, tc.user, gosnmp.SHA, tc.auth, gosnmp.AES, tc.priv)
			g.Timeout, g.Retries = 200*time.Millisecond, 0
			_, err := g.Get([]string{oidSysDescr})
			require.Error(t, err)
			require.Greater(t, s.devices[1].usmStats[tc.wantStat].Load(), before)
		})
	}
}

func hexString(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(s))
	for i := range len(s) {
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(b)
}

// rawExchange sends one encoded request and returns the raw answer, or nil
// after wait.
func rawExchange(t *testing.T, addr netip.AddrPort, req []byte, wait time.Duration) []byte {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write(req)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
	buf := make([]byte, 70000)
	n, err := conn.Read(buf)
	if err != nil {
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout(), "read: %v", err)
		return nil
	}
	return buf[:n]
}

func encode(t *testing.T, pduType gosnmp.PDUType, community string, oids []string, maxRep uint32) []byte {
	t.Helper()
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: community}
	pdus := make([]gosnmp.SnmpPDU, len(oids))
	for i, o := range oids {
		pdus[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null}
	}
	out, err := g.SnmpEncodePacket(pduType, pdus, 0, maxRep)
	require.NoError(t, err)
	return out
}

func decode(t *testing.T, raw []byte) *gosnmp.SnmpPacket {
	t.Helper()
	pkt, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(raw)
	require.NoError(t, err)
	return pkt
}

func TestBulkRespectsSizeCap(t *testing.T) {
	s, err := Start(t.Context(), Options{N: 1, MaxResponseSize: 600})
	require.NoError(t, err)
	defer s.Close()
	addr := s.Devices()[0].Addr
	bulk := encode(t, gosnmp.GetBulkRequest, "public", []string{".1.3.6.1"}, 1000)
	out := rawExchange(t, addr, bulk, time.Second)
	require.LessOrEqual(t, len(out), 600)
	pkt := decode(t, out)
	require.Greater(t, len(pkt.Variables), 10)
	require.Less(t, len(pkt.Variables), len(s.mibs[0]))

	// A GET that cannot fit is tooBig, with no varbinds.
	oids := make([]string, 30)
	for i := range oids {
		oids[i] = oidSysDescr
	}
	pkt = decode(t, rawExchange(t, addr, encode(t, gosnmp.GetRequest, "public", oids, 0), time.Second))
	require.Equal(t, gosnmp.TooBig, pkt.Error)
	require.Empty(t, pkt.Variables)

	// HugeValues ignores the cap.
	s.SetFault(0, HugeValues)
	out = rawExchange(t, addr, encode(t, gosnmp.GetBulkRequest, "public", []string{".1.3.6.1.2.1.2"}, 1000), time.Second)
	require.Greater(t, len(out), 600)
	s.SetFault(0, None)

	// From the last object on, every repetition is endOfMibView and the
	// answer stops after one round.
	last := s.mibs[0][len(s.mibs[0])-1].name
	pkt = decode(t, rawExchange(t, addr, encode(t, gosnmp.GetBulkRequest, "public", []string{last}, 10), time.Second))
	require.Len(t, pkt.Variables, 1)
	require.Equal(t, gosnmp.EndOfMibView, pkt.Variables[0].Type)
}

func TestFaults(t *testing.T) {
	s, _ := startSite(t, 1)
	addr := s.Devices()[0].Addr
	get := encode(t, gosnmp.GetRequest, "public", []string{oidSysDescr}, 0)
	reqID := decode(t, get).RequestID

	s.SetFault(0, Silent)
	require.Nil(t, rawExchange(t, addr, get, 200*time.Millisecond))

	s.SetFault(0, Slow(300*time.Millisecond))
	start := time.Now()
	out := rawExchange(t, addr, get, 2*time.Second)
	require.NotNil(t, out)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	s.SetFault(0, Garbage)
	out = rawExchange(t, addr, get, time.Second)
	require.NotEmpty(t, out)
	g := client(t, addr, gosnmp.Version2c, "public")
	g.Timeout, g.Retries = 200*time.Millisecond, 0
	_, err := g.Get([]string{oidSysDescr})
	require.Error(t, err)

	s.SetFault(0, WrongRequestID)
	pkt := decode(t, rawExchange(t, addr, get, time.Second))
	require.Equal(t, reqID+1, pkt.RequestID)
	_, err = g.Get([]string{oidSysDescr})
	require.Error(t, err)

	s.SetFault(0, HugeValues)
	g.Timeout = time.Second
	res, err := g.Get([]string{oidSysDescr})
	require.NoError(t, err)
	require.Greater(t, len(res.Variables[0].Value.([]byte)), 50_000)
	out = rawExchange(t, addr, encode(t, gosnmp.GetBulkRequest, "public", []string{".1.3.6.1"}, 1000), time.Second)
	require.Greater(t, len(out), 50_000)

	s.SetFault(0, None)
	res, err = g.Get([]string{oidSysDescr})
	require.NoError(t, err)
	require.Equal(t, s.Devices()[0].SysDescr, string(res.Variables[0].Value.([]byte)))
	require.Equal(t, "slow(300ms)", Slow(300*time.Millisecond).String())
}

func TestSlowFaultStopsOnClose(t *testing.T) {
	s, err := Start(t.Context(), Options{N: 1})
	require.NoError(t, err)
	s.SetFault(0, Slow(time.Hour))
	_ = rawExchange(t, s.Devices()[0].Addr, encode(t, gosnmp.GetRequest, "public", []string{oidSysDescr}, 0), 50*time.Millisecond)
	done := make(chan struct{})
	go func() { _ = s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a delayed answer")
	}
	require.NoError(t, s.Close(), "Close is idempotent")
}

func TestContextCancelCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := Start(ctx, Options{N: 2})
	require.NoError(t, err)
	cancel()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("site did not stop on cancel")
	}
	require.NoError(t, s.Close())
}

func TestPlanAddrs(t *testing.T) {
	for _, tc := range []struct {
		listen  string
		port, n int
		want    []string
		err     string
	}{
		{"", 16100, 2, []string{"127.0.0.1:16100", "127.0.0.1:16101"}, ""},
		{"localhost", 0, 1, []string{"127.0.0.1:0"}, ""},
		{"::1", 20000, 1, []string{"[::1]:20000"}, ""},
		{"[::1]", 20000, 1, []string{"[::1]:20000"}, ""},
		{"127.0.10.0/24", 161, 3, []string{"127.0.10.1:161", "127.0.10.2:161", "127.0.10.3:161"}, ""},
		{"127.0.10.7/32", 161, 1, []string{"127.0.10.7:161"}, ""},
		{"127.0.10.0/24", 161, 255, nil, "254 host addresses"},
		{"10.0.0.1", 161, 1, nil, "not loopback"},
		{"0.0.0.0", 161, 1, nil, "not loopback"},
		{"::", 161, 1, nil, "not loopback"},
		{"192.168.0.0/16", 161, 1, nil, "not loopback"},
		{"0.0.0.0/0", 161, 1, nil, "not loopback"},
		{"::1/64", 161, 1, nil, "not loopback"},
		{"::ffff:10.0.0.1", 161, 1, nil, "not loopback"},
		{"example.com", 161, 1, nil, "want a loopback IP"},
		{"127.0.0.1", 65535, 2, nil, "past 65535"},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			got, err := PlanAddrs(tc.listen, tc.port, tc.n)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			var s []string
			for _, a := range got {
				s = append(s, a.String())
			}
			require.Equal(t, tc.want, s)
		})
	}
	_, err := Start(t.Context(), Options{N: 1, Listen: "10.1.2.3"})
	require.ErrorContains(t, err, "not loopback")
}

func TestPrefixListen(t *testing.T) {
	s, err := Start(t.Context(), Options{N: 3, Listen: "127.0.77.0/24"})
	require.NoError(t, err)
	defer s.Close()
	for i, d := range s.Devices() {
		require.Equal(t, netip.AddrFrom4([4]byte{127, 0, 77, byte(i + 1)}), d.Addr.Addr())
	}
	g := client(t, s.Devices()[2].Addr, gosnmp.Version2c, "public")
	res, err := g.Get([]string{oidSysName})
	require.NoError(t, err)
	require.Equal(t, "sim-ups-002", string(res.Variables[0].Value.([]byte)))
}

// TestThousandDevices measures what N=1000 costs and checks a few answer.
func TestThousandDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("binds 1000 sockets")
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	s, _ := startSite(t, 1000)
	for _, i := range []int{0, 499, 999} {
		g := client(t, s.Devices()[i].Addr, gosnmp.Version2c, "public")
		_, err := g.BulkWalkAll(".1.3.6.1")
		require.NoError(t, err)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	t.Logf("N=1000: goroutines +%d, heap in use +%.1f MiB, stacks in use +%.1f MiB, sys +%.1f MiB",
		runtime.NumGoroutine()-g0,
		float64(m1.HeapInuse-m0.HeapInuse)/(1<<20),
		float64(m1.StackInuse-m0.StackInuse)/(1<<20),
		float64(m1.Sys-m0.Sys)/(1<<20))
}
