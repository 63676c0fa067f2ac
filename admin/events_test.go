package admin

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
)

// TestEventsAPI: GET /api/events answers the gateway's events with their parameters checked as for the
// audit log; /api/events/stats the listeners' counts; the device page lists the twin's conditions.
func TestEventsAPI(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Listeners = func() []gateway.ListenerStats {
			return []gateway.ListenerStats{{Protocol: "snmp", Address: "127.0.0.1:10162", Counts: map[string]uint64{"received": 3}}}
		}
	})
	ctx := context.Background()
	for _, e := range []gateway.Event{
		{DeviceID: "mac-020000000003", Name: "onBattery", Severity: "critical", Condition: true, Protocol: "snmp", TrapOID: ".1.3.6.1.2.1.33.2.1"},
		{DeviceID: "mac-020000000001", Name: "linkDown", Instance: "2", Severity: "warning", Condition: true, Protocol: "snmp"},
		{DeviceID: "mac-020000000003", Name: "coldStart", Severity: "info", Protocol: "snmp"},
	} {
		_, err := f.gw.RecordEvent(ctx, e)
		require.NoError(t, err)
	}
	es := decode[[]gateway.Event](t, f.api("GET", "/api/events", nil))
	require.Len(t, es, 3)
	require.True(t, es[0].Active)
	es = decode[[]gateway.Event](t, f.api("GET", "/api/events?device=mac-020000000003&limit=1", nil))
	require.Len(t, es, 1)
	require.Equal(t, "coldStart", es[0].Name, "the newest")
	w := f.api("GET", "/api/events?since=yesterday", nil)
	require.Equal(t, 400, w.Code)
	require.Contains(t, w.Body.String(), "not an RFC 3339 time")
	require.Equal(t, 400, f.api("GET", "/api/events?severity=critical", nil).Code)
	st := decode[[]gateway.ListenerStats](t, f.api("GET", "/api/events/stats", nil))
	require.Equal(t, uint64(3), st[0].Counts["received"])

	b := newBrowser(t, f)
	_, page, _ := b.get("/login")
	code, _, _ := b.post("/login", url.Values{"token": {f.s.Token()}, "csrf": {csrfOf(t, page)}})
	require.Equal(t, 303, code)
	code, page, _ = b.get("/devices/mac-020000000001")
	require.Equal(t, 200, code)
	require.Contains(t, page, `id="events"`)
	require.Regexp(t, `linkDown \[2\]</th><td class="severity-warning">warning</td><td><strong>active</strong>`, page)
}

func TestEventsStatsWithoutListeners(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, "[]\n", f.api("GET", "/api/events/stats", nil).Body.String())
}
