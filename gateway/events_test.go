package gateway

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
)

func TestDeviceAt(t *testing.T) {
	g, err := New(Options{Ranks: testRanks})
	require.NoError(t, err)
	g.ev.refreshEvery, g.ev.refreshOnMiss = 0, 0 // every sighting counts at once
	ups := display
	ups.Address, ups.Profile = "127.0.10.3:161", "acme-ups"
	ups.Identity.MAC, ups.Identity.Serial = "02:ed:67:00:00:03", "SIM-3"
	ups.Identity.Network.IPv4 = "10.0.0.3/24" // the address the device says it has, behind a NAT
	a := display                              // two agents on one address, told apart by port
	a.Address = "127.0.0.1:16100"
	b := display
	b.Address, b.Identity.MAC, b.Identity.Serial = "127.0.0.1:16101", "02:ed:67:00:00:02", "SIM-2"
	meter := Sighting{Protocol: "modbus", Address: "127.0.10.3:502", Identity: Identity{MAC: "02:ed:67:00:00:04", Serial: "M-4"}}
	upsID := g.Observe(ups)
	aID, bID := g.Observe(a), g.Observe(b)
	g.Observe(meter) // another device, another protocol, on the UPS's address

	at := func(s string) (DeviceRef, bool) { return g.DeviceAt("snmp", netip.MustParseAddrPort(s)) }
	ref, ok := at("127.0.10.3:40000")
	require.True(t, ok, "the one SNMP device on that address, whatever the sender's port")
	require.Equal(t, DeviceRef{ID: upsID, Profile: "acme-ups"}, ref)
	ref, ok = at("127.0.0.1:16101")
	require.True(t, ok)
	require.Equal(t, bID, ref.ID, "an endpoint's exact address and port")
	ref, ok = at("127.0.0.1:16100")
	require.True(t, ok)
	require.Equal(t, aID, ref.ID)
	_, ok = at("127.0.0.1:50000")
	require.False(t, ok, "two devices on that address: no guess")
	ref, ok = at("10.0.0.3:162")
	require.True(t, ok, "the address the device reports for itself")
	require.Equal(t, upsID, ref.ID)
	_, ok = at("[::ffff:127.0.10.3]:1")
	require.True(t, ok, "IPv4-mapped IPv6 senders")
	_, ok = at("127.0.10.99:162")
	require.False(t, ok)

	// A device that moves is found at its new address.
	ups.Address = "127.0.10.4:161"
	g.Observe(ups)
	ref, ok = at("127.0.10.4:162")
	require.True(t, ok)
	require.Equal(t, upsID, ref.ID)

	// While sightings come in, the index is rebuilt at most every refreshEvery, and on a miss at most
	// every refreshOnMiss.
	g.ev.refreshEvery, g.ev.refreshOnMiss = time.Hour, time.Hour
	ups.Address = "127.0.10.5:161"
	g.Observe(ups)
	_, ok = at("127.0.10.5:162")
	require.False(t, ok, "not yet")
	g.ev.refreshOnMiss = 0
	_, ok = at("127.0.10.5:162")
	require.True(t, ok, "a miss rebuilds")
}

type eventRig struct {
	g       *Gateway
	db      *store.DB
	drv     *liveDriver
	mu      sync.Mutex
	events  []Event
	audits  []AuditEntry
	patches []Patch
}

func newEventRig(t *testing.T, dir string) *eventRig {
	r := &eventRig{drv: &liveDriver{serial: "SIM-1"}}
	r.drv.setAnswer(func(Endpoint) ([]Reading, error) {
		return []Reading{{Name: "uptimeSeconds", Value: Number(float64(time.Now().UnixNano()))}}, nil
	})
	var err error
	r.db, err = store.Open(dir, nil)
	require.NoError(t, err)
	profile := &Profile{Name: "acme-display", Protocol: "snmp", Points: []Point{{Name: "powerState", Type: TypeEnum}}}
	r.g, err = New(Options{Ranks: testRanks, Store: r.db, Pollers: map[string]Poller{"snmp": r.drv}, Profiles: oneProfile{profile},
		PollInterval: time.Hour, Sink: SinkFuncs{
			OnEvent: func(e Event) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() },
			OnAudit: func(e AuditEntry) { r.mu.Lock(); r.audits = append(r.audits, e); r.mu.Unlock() },
			OnPatch: func(p Patch) { r.mu.Lock(); r.patches = append(r.patches, p); r.mu.Unlock() }}})
	require.NoError(t, err)
	return r
}

func (r *eventRig) sent() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// TestEvents: conditions raised, repeated and cleared in the twin; momentary events; what goes up
// (claimed devices only), what is audited (warning and up, changes only), a poll at once; the event
// log and the twin's conditions survive a restart.
func TestEvents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := newEventRig(t, dir)
	id := r.g.Observe(display)
	polls := r.drv.polls.Load()

	// Unclaimed: recorded and kept, nothing goes up.
	e, err := r.g.RecordEvent(ctx, Event{DeviceID: id, Name: "coverOpen", Severity: SeverityWarning, Condition: true, Instance: "1",
		Protocol: "snmp", TrapOID: ".1.3.6.1.2.1.43.18.2.0.1", Source: "127.0.0.1:40000"})
	require.NoError(t, err)
	require.Len(t, e.ID, 24)
	require.True(t, e.Active)
	require.Empty(t, r.sent(), "nothing of an unclaimed device goes up")
	tw, _ := r.g.Twin(id)
	require.Len(t, tw.Events, 1)
	require.True(t, tw.Events[0].Active)

	_, err = r.g.Claim(ctx, display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)
	r.g.waitEventPolls()
	polls = r.drv.polls.Load()

	// Raised, with a value it implies.
	on, err := r.g.RecordEvent(ctx, Event{DeviceID: id, Name: "onBattery", Severity: SeverityCritical, Condition: true, Protocol: "snmp",
		TrapOID: ".1.3.6.1.2.1.33.2.1", Source: "127.0.0.1:40000", Set: map[string]Value{"powerState": String("battery")}})
	require.NoError(t, err)
	r.g.waitEventPolls()
	require.Greater(t, r.drv.polls.Load(), polls, "an event polls the device at once")
	require.Len(t, r.sent(), 1)
	require.Equal(t, "onBattery", r.sent()[0].Name)
	r.mu.Lock()
	require.Equal(t, "battery", r.patches[len(r.patches)-2].Values["powerState"].Str, "the implied value goes up before the poll's")
	require.Equal(t, "event", r.audits[len(r.audits)-1].Action)
	require.Equal(t, "onBattery", r.audits[len(r.audits)-1].New)
	audits := len(r.audits)
	r.mu.Unlock()

	// Repeated while active: counted, sent, not audited again.
	_, err = r.g.RecordEvent(ctx, Event{DeviceID: id, Name: "onBattery", Severity: SeverityCritical, Condition: true, Protocol: "snmp"})
	require.NoError(t, err)
	tw, _ = r.g.Twin(id)
	c := tw.Events[len(tw.Events)-1]
	require.Equal(t, 2, c.Count)
	require.Equal(t, on.ID, c.EventID)
	r.mu.Lock()
	require.Len(t, r.audits, audits)
	r.mu.Unlock()

	// Cleared; a momentary info event is not audited.
	off, err := r.g.RecordEvent(ctx, Event{DeviceID: id, Name: "powerRestored", Severity: SeverityInfo, Clears: []string{"onBattery"}, Protocol: "snmp"})
	require.NoError(t, err)
	require.False(t, off.Active)
	tw, _ = r.g.Twin(id)
	c = tw.Events[len(tw.Events)-1]
	require.False(t, c.Active)
	require.False(t, c.Cleared.IsZero())
	r.mu.Lock()
	require.Len(t, r.audits, audits)
	r.mu.Unlock()

	es, err := r.g.Events("", time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, es, 4)
	require.Equal(t, []bool{true, false, false, false}, []bool{es[0].Active, es[1].Active, es[2].Active, es[3].Active},
		"coverOpen still active; onBattery ended")
	es, err = r.g.Events(id, on.Time, 2)
	require.NoError(t, err)
	require.Len(t, es, 2)
	require.Equal(t, "powerRestored", es[1].Name)

	// A restart: the log and the conditions are back.
	require.NoError(t, r.g.Flush())
	r.g.waitEventPolls()
	require.NoError(t, r.db.Close())
	r2 := newEventRig(t, dir)
	defer r2.db.Close()
	es2, err := r2.g.Events("", time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, es2, 4)
	require.Equal(t, es[1].ID, es2[3].ID)
	require.True(t, es2[0].Active)
	tw, _ = r2.g.Twin(id)
	require.Len(t, tw.Events, 2)

	_, err = r2.g.RecordEvent(ctx, Event{DeviceID: "mac-000000000000", Name: "x"})
	require.Error(t, err, "no such device")
}

func TestPruneConditions(t *testing.T) {
	now := time.Now()
	var cs []Condition
	for i := range maxConditions + 5 {
		cs = append(cs, Condition{Name: "c", Instance: string(rune('a' + i)), Active: i%2 == 0, Cleared: now.Add(time.Duration(i) * time.Minute)})
	}
	cs = append(cs, Condition{Name: "old", Cleared: now.Add(-2 * keepCleared)})
	cs = pruneConditions(cs, now)
	require.Len(t, cs, maxConditions)
	for _, c := range cs {
		require.NotEqual(t, "old", c.Name)
	}
}
