package snmp

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
)

// The display net-snmp poses as (scripts/peers/snmpd.conf: override lines for ENTITY-MIB row 1).
var snmpdDisplay = gateway.Identity{
	Serial:       "SN-DP55-000123",
	Model:        "DP55",
	Manufacturer: "ACME",
	SysObjectID:  ".1.3.6.1.4.1.99999.1.55",
	SysDescr:     "ACME DisplayPro 55 Firmware 4.2.1",
	Hostname:     "display-01",
}

func snmpdGroups(t *testing.T) (v2c, v3, v3sha256 Group) {
	v := peers.Need(t, "PEERS_SNMPD_ADDR", "PEERS_SNMPD_RO_COMMUNITY", "PEERS_SNMPD_V3_USER",
		"PEERS_SNMPD_V3_AUTH_PASS", "PEERS_SNMPD_V3_PRIV_PASS", "PEERS_SNMPD_V3_USER256")
	host, port := splitTarget(t, v[0])
	tgt := []Target{{Host: host, Port: port}}
	v2c = Group{Credentials: Credentials{Name: "v2c", Version: V2c, Community: v[1]}, Targets: tgt, Timeout: time.Second, Retries: 1}
	v3 = Group{Credentials: Credentials{Name: "v3", Version: V3, V3: &V3Auth{User: v[2], AuthProtocol: "SHA",
		AuthPassword: v[3], PrivProtocol: "AES", PrivPassword: v[4]}}, Targets: tgt, Timeout: time.Second, Retries: 1}
	v3sha256 = Group{Credentials: Credentials{Name: "v3-256", Version: V3, V3: &V3Auth{User: v[5], AuthProtocol: "SHA256",
		AuthPassword: v[3], PrivProtocol: "AES256", PrivPassword: v[4]}}, Targets: tgt, Timeout: time.Second, Retries: 1}
	return
}

func splitTarget(t *testing.T, addr string) (string, uint16) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	ap, err := net.ResolveUDPAddr("udp", net.JoinHostPort(h, p))
	require.NoError(t, err)
	return h, uint16(ap.Port)
}

type result struct {
	mu    sync.Mutex
	found []gateway.Sighting
	errs  []gateway.TargetError
}

func (r *result) discover(t *testing.T, d *Driver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := d.Discover(ctx, func(s gateway.Sighting) {
		r.mu.Lock()
		r.found = append(r.found, s)
		r.mu.Unlock()
	}, func(e gateway.TargetError) {
		r.mu.Lock()
		r.errs = append(r.errs, e)
		r.mu.Unlock()
	})
	require.NoError(t, err)
}

func TestSNMPDDiscoverVersions(t *testing.T) {
	v2c, v3, v3sha256 := snmpdGroups(t)
	v1 := v2c
	v1.Name, v1.Version = "v1", V1
	for _, g := range []Group{v1, v2c, v3, v3sha256} {
		t.Run(g.Name, func(t *testing.T) {
			d, err := New(Options{Groups: []Group{g}})
			require.NoError(t, err)
			defer d.Close()
			var r result
			r.discover(t, d)
			require.Empty(t, r.errs)
			require.Len(t, r.found, 1)
			id := r.found[0].Identity
			require.Equal(t, snmpdDisplay.Serial, id.Serial)
			require.Equal(t, snmpdDisplay.Model, id.Model)
			require.Equal(t, snmpdDisplay.Manufacturer, id.Manufacturer)
			require.Equal(t, snmpdDisplay.SysObjectID, id.SysObjectID)
			require.Equal(t, snmpdDisplay.SysDescr, id.SysDescr)
			require.Equal(t, snmpdDisplay.Hostname, id.Hostname)
			require.Equal(t, g.Name, r.found[0].Credential)
		})
	}
}

func TestSNMPDWrongCredentialsOthersGoOn(t *testing.T) {
	v2c, v3, _ := snmpdGroups(t)
	badCommunity := v2c
	badCommunity.Name, badCommunity.Community = "bad-community", "not-the-community"
	badV3 := v3
	badV3.Name = "bad-v3"
	auth := *v3.V3
	auth.AuthPassword = "wrongpassword1"
	badV3.V3 = &auth
	d, err := New(Options{Groups: []Group{badCommunity, badV3, v2c}})
	require.NoError(t, err)
	defer d.Close()
	var r result
	r.discover(t, d)
	require.Len(t, r.found, 1, "the good target is still discovered")
	require.Equal(t, "v2c", r.found[0].Credential)
	require.Len(t, r.errs, 2)
	msgs := map[string]string{}
	for _, e := range r.errs {
		require.Contains(t, e.Error(), e.Address, "every error names its address")
		msgs[e.Error()] = e.Address
	}
	joined := ""
	for m := range msgs {
		joined += m + "\n"
	}
	require.Contains(t, joined, "no answer")
	require.Contains(t, joined, "wrong v3 authentication password")
	for _, e := range r.errs {
		require.NotContains(t, e.Error(), "not-the-community")
		require.NotContains(t, e.Error(), "wrongpassword1")
	}
}

func TestSNMPDPoll(t *testing.T) {
	v2c, v3, _ := snmpdGroups(t)
	d, err := New(Options{Groups: []Group{v2c, v3}})
	require.NoError(t, err)
	defer d.Close()
	points := []gateway.Point{
		{Name: "uptimeSeconds", Address: &Addr{OID: ".1.3.6.1.2.1.1.3.0"}, Type: gateway.TypeTimeticks},
		{Name: "hostname", Address: &Addr{OID: ".1.3.6.1.2.1.1.5.0"}, Type: gateway.TypeString},
		{Name: "missing", Address: &Addr{OID: ".1.3.6.1.4.1.99999.9.9.9.0"}, Type: gateway.TypeInt},
	}
	for _, cred := range []string{"v2c", "v3"} {
		ep := gateway.Endpoint{Protocol: Protocol, Address: v2c.Targets[0].String(), Credential: cred}
		rs, err := d.Poll(context.Background(), ep, points)
		require.NoError(t, err)
		require.Len(t, rs, 3)
		require.NoError(t, rs[0].Err)
		require.Equal(t, gateway.KindNumber, rs[0].Value.Kind)
		require.Greater(t, rs[0].Value.Num, 0.0)
		require.Equal(t, "display-01", rs[1].Value.Str)
		require.ErrorContains(t, rs[2].Err, "no such object")
	}
}

// TestSNMPDv3PastEngineTimeWindow (SNMPv3 engine time drift, gosnmp #509; listed with the other known
// failures in uplink/knownfailures_test.go) polls net-snmp with v3 authPriv across more than the 150 s USM time
// window. gosnmp alone sends the engine time it last heard, so an agent that stays quiet for 150 s
// rejects it (gosnmp#509); the driver must advance the time itself. Runs in the background of the suite
// (t.Parallel) and is skipped with -short.
func TestSNMPDv3PastEngineTimeWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 160 s")
	}
	t.Parallel()
	v2c, v3, _ := snmpdGroups(t)
	d, err := New(Options{Groups: []Group{v2c, v3}})
	require.NoError(t, err)
	defer d.Close()
	ep := gateway.Endpoint{Protocol: Protocol, Address: v3.Targets[0].String(), Credential: "v3"}
	pts := []gateway.Point{{Name: "hostname", Address: &Addr{OID: ".1.3.6.1.2.1.1.5.0"}, Type: gateway.TypeString}}
	poll := func() {
		rs, err := d.Poll(context.Background(), ep, pts)
		require.NoError(t, err)
		require.NoError(t, rs[0].Err)
		require.Equal(t, "display-01", rs[0].Value.Str)
	}
	notInWindow := func() float64 { // usmStatsNotInTimeWindows, read over v2c
		rs, err := d.Poll(context.Background(), gateway.Endpoint{Protocol: Protocol, Address: ep.Address, Credential: "v2c"},
			[]gateway.Point{{Name: "n", Address: &Addr{OID: ".1.3.6.1.6.3.15.1.1.2.0"}, Type: gateway.TypeCounter}})
		require.NoError(t, err)
		require.NoError(t, rs[0].Err)
		return rs[0].Value.Num
	}
	poll()
	before := notInWindow()
	// Quiet for longer than the window: gosnmp alone would send a stale engine time now.
	time.Sleep(155 * time.Second)
	poll()
	// Then a short-interval poll.
	for range 3 {
		time.Sleep(time.Second)
		poll()
	}
	// net-snmp counts every message outside the window; none of ours may have been.
	require.Equal(t, before, notInWindow(), "a v3 request fell outside the agent's time window")
}
