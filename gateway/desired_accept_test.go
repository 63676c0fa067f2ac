package gateway

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDesiredHoldsOnlyAccepted: a twin's desired holds only values the gateway accepted (written, or
// valid and failed on the device); refused ones — out of range, not a setting, not in the enum — are in
// the result and the audit, never in desired, and never replace an accepted value. The twin used to
// keep backlightPercent 1000, nosuch 5 and powerState "exploded" after refusing them.
func TestDesiredHoldsOnlyAccepted(t *testing.T) {
	ctx := context.Background()
	minB, maxB := 0.0, 100.0
	prof := &Profile{Name: "acme-display", Protocol: "snmp", Points: []Point{
		{Name: "powerState", Address: testAddr(".1.3.6.1.4.1.99999.1.1.2.0"), Type: TypeEnum, Enum: map[int64]string{1: "on", 2: "standby"}, Writable: true},
		{Name: "backlightPercent", Address: testAddr(".1.3.6.1.4.1.99999.1.1.4.0"), Type: TypeInt, Writable: true, Min: &minB, Max: &maxB},
		{Name: "contact", Address: testAddr(".1.3.6.1.2.1.1.4.0"), Type: TypeString, Writable: true},
	}}
	w := &fakeWriter{fail: map[string]error{"contact": &WriteError{Point: "contact", Reason: "noAccess"}}}
	w.serial = "SIM-1"
	w.setAnswer(func(Endpoint) ([]Reading, error) { return nil, nil })
	var mu sync.Mutex
	var audits []AuditEntry
	g, err := New(Options{Ranks: testRanks, Pollers: map[string]Poller{"snmp": w}, Profiles: oneProfile{prof},
		Sink: SinkFuncs{OnAudit: func(e AuditEntry) { mu.Lock(); audits = append(audits, e); mu.Unlock() }}})
	require.NoError(t, err)
	id := g.Observe(display)
	_, err = g.Claim(ctx, display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)

	_, err = g.ApplyDesired(ctx, DesiredCommand{DeviceID: id, Version: 1, Desired: map[string]Value{
		"powerState": String("standby"), "backlightPercent": Number(40), "contact": String("ops")}}, "cloud")
	require.NoError(t, err)
	res, err := g.ApplyDesired(ctx, DesiredCommand{DeviceID: id, Version: 2, Desired: map[string]Value{
		"backlightPercent": Number(1000), "nosuch": Number(5), "powerState": String("exploded")}}, "cloud")
	require.NoError(t, err)
	for _, n := range []string{"backlightPercent", "nosuch", "powerState"} {
		require.Equal(t, DesiredRejected, res.Properties[n].Status, n)
	}

	tw, _ := g.Twin(id)
	require.Equal(t, map[string]Value{"powerState": String("standby"), "backlightPercent": Number(40), "contact": String("ops")},
		tw.Desired.Values, "only what was accepted; a failed write was a valid wish and stays")
	require.Equal(t, int64(2), tw.Desired.Version, "the refused patch's version is still the newest seen")
	require.Equal(t, DesiredRejected, tw.DesiredStatus.Properties["nosuch"].Status, "the refusal is in the twin's desired status")

	mu.Lock()
	defer mu.Unlock()
	rejected := map[string]AuditEntry{}
	for _, e := range audits {
		if e.Action == "setting rejected" {
			name, _, _ := strings.Cut(e.Detail, ":")
			rejected[name] = e
		}
	}
	require.Len(t, rejected, 3, "each refused value is audited: %+v", audits)
	require.Equal(t, "1000", rejected["backlightPercent"].New)
	require.Equal(t, "40", rejected["backlightPercent"].Old, "old: the value the device reported or was last set to")
	require.Contains(t, rejected["nosuch"].Detail, `no setting "nosuch"`)
	require.Equal(t, "cloud", rejected["powerState"].By)
}
