package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
)

// failingDisk is a Store that can be made to fail every write as a full disk does, and tells so
// (Failer); reads see what it holds.
type failingDisk struct {
	*memStore
	mu   sync.Mutex
	full bool
}

func (d *failingDisk) set(full bool) { d.mu.Lock(); d.full = full; d.mu.Unlock() }

func (d *failingDisk) Failing() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.full {
		return fmt.Errorf("%w: memory: no space left on device", store.ErrFull)
	}
	return nil
}

func (d *failingDisk) Write(fn func(w store.Writer) error) error {
	if err := d.Failing(); err != nil {
		return err
	}
	return d.memStore.Write(fn)
}

func (d *failingDisk) Probe() error { return d.Failing() }

// outboxSink is a Committer over the same store, as the uplink's outbox is: what it committed is what
// the cloud will get.
type outboxSink struct {
	st  Store
	mu  sync.Mutex
	out []Outgoing
}

func (s *outboxSink) Commit(out Outgoing, write func(w store.Writer) error) error {
	if err := s.st.Write(write); err != nil {
		return err
	}
	s.mu.Lock()
	s.out = append(s.out, out)
	s.mu.Unlock()
	return nil
}
func (s *outboxSink) Twin(Twin) error                                    { return errors.New("not used") }
func (s *outboxSink) Patch(Patch) error                                  { return errors.New("not used") }
func (s *outboxSink) Audit(AuditEntry) error                             { return errors.New("not used") }
func (s *outboxSink) Event(Event) error                                  { return errors.New("not used") }
func (s *outboxSink) Readings(string, time.Time, map[string]Value) error { return nil }

// sent returns the full twins' and patches' versions of dev in commit order, and every audit action.
func (s *outboxSink) sent(dev string) (versions []string, audits []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.out {
		for _, t := range o.Twins {
			if t.DeviceID == dev {
				versions = append(versions, fmt.Sprintf("full %d", t.Reported.Version))
			}
		}
		for _, p := range o.Patches {
			if p.DeviceID == dev {
				versions = append(versions, fmt.Sprintf("patch %d", p.Version))
			}
		}
		for _, e := range o.Audits {
			audits = append(audits, e.Action)
		}
	}
	return
}

// risingWriter is a device with serial SIM-1 whose backlightPercent rises by one each poll, so every
// poll makes a patch.
func risingWriter() *fakeWriter {
	w := &fakeWriter{}
	w.serial = "SIM-1"
	var n float64
	w.setAnswer(func(Endpoint) ([]Reading, error) {
		n++
		return []Reading{{Name: "backlightPercent", Value: Number(n)}}, nil
	})
	return w
}

// TestFullStoreNothingHalfApplied: while the store cannot write, operations fail to their caller with
// nothing of them in effect (a claim, an unclaim, a setting or a method never reaches the device),
// and the gateway keeps polling; once the store writes again the twin whose patches could not be kept
// goes up in full with a version newer than any sent, and the audit entries the store could not take
// are written and sent. A claim on a full disk used to print "claimed" while its audit entries and full
// twin were lost, and the cloud later got patches of a device whose full twin it never had.
func TestFullStoreNothingHalfApplied(t *testing.T) {
	ctx := context.Background()
	disk := &failingDisk{memStore: newMemStore()}
	sink := &outboxSink{st: disk}
	minB, maxB := 0.0, 100.0
	prof := &Profile{Name: "acme-display", Protocol: "snmp", Points: []Point{
		{Name: "backlightPercent", Address: testAddr(".1.3.6.1.4.1.99999.1.1.4.0"), Type: TypeInt, Writable: true, Min: &minB, Max: &maxB},
	}, Methods: []Method{{Name: "reboot", Address: testAddr(".1.3.6.1.4.1.99999.1.1.9.0"), Type: TypeInt, Value: "1"}}}
	w := risingWriter()
	g, err := New(Options{Ranks: testRanks, Store: disk, Sink: sink, Pollers: map[string]Poller{"snmp": w}, Profiles: oneProfile{prof}})
	require.NoError(t, err)
	id := g.Observe(display)
	other := display
	other.Identity.MAC, other.Address = "02:ed:67:00:00:02", "127.0.0.2:16100"
	otherID := g.Observe(other)
	_, err = g.Claim(ctx, display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)
	require.NoError(t, g.PollNow(ctx, id))
	versions, audits := sink.sent(id)
	require.Equal(t, []string{"full 0", "patch 1"}, versions)
	require.Equal(t, []string{"claimed"}, audits)

	disk.set(true)
	_, err = g.Claim(ctx, other.Identity.MAC, "SIM-1", "", "cli")
	require.ErrorIs(t, err, store.ErrFull)
	require.ErrorIs(t, err, ErrNotStored)
	require.Len(t, g.Claims(), 1, "the claim is not in effect")
	tw, _ := g.Twin(otherID)
	require.Equal(t, ClaimUnclaimed, tw.Claim.State)
	_, err = g.Unclaim(id, "cloud")
	require.ErrorIs(t, err, ErrNotStored)
	tw, _ = g.Twin(id)
	require.Equal(t, ClaimClaimed, tw.Claim.State, "the unclaim is not in effect")
	_, err = g.ApplyDesired(ctx, DesiredCommand{DeviceID: id, Version: 1, Desired: map[string]Value{"backlightPercent": Number(50)}}, "cloud")
	require.ErrorIs(t, err, ErrNotStored)
	_, err = g.InvokeMethod(ctx, MethodCommand{DeviceID: id, Name: "reboot"}, "cloud")
	require.ErrorIs(t, err, ErrNotStored)
	w.wmu.Lock()
	require.Empty(t, w.writes, "nothing written to the device")
	w.wmu.Unlock()

	// Polling goes on; what the store cannot take waits.
	for range 3 {
		require.NoError(t, g.PollNow(ctx, id))
	}
	tw, _ = g.Twin(id)
	require.Equal(t, int64(4), tw.Reported.Version, "the twin keeps up in memory")
	g.Audit(AuditEntry{DeviceID: id, MAC: display.Identity.MAC, Action: "connectivity", Old: "online", New: "offline", By: "poll"})
	g.catchUp() // still full: nothing
	versions, audits = sink.sent(id)
	require.Equal(t, []string{"full 0", "patch 1"}, versions, "nothing committed while full")
	require.Len(t, audits, 1)

	disk.set(false)
	g.catchUp()
	versions, audits = sink.sent(id)
	require.Equal(t, []string{"full 0", "patch 1", "full 4"}, versions, "sent again in full, newer than any version sent")
	require.Equal(t, []string{"claimed", "connectivity"}, audits, "the kept audit entry is written and sent")
	log, err := g.AuditLog(id, time.Time{})
	require.NoError(t, err)
	require.Len(t, log, 2)
	resync, unsaved := g.sent.waiting()
	require.Zero(t, resync)
	require.Zero(t, unsaved)

	// The operations go through again.
	_, err = g.Claim(ctx, other.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)
}

// TestRestartSendsTwinAgain: a twin written less often than its patches (a crash lost its last write)
// restarts behind the version the cloud was sent; it takes that version, and goes up in full with the
// next one, so the cloud never sees the version go backwards. A claimed twin never handed to the sink
// (claimed while the cloud was off) goes up in full too.
func TestRestartSendsTwinAgain(t *testing.T) {
	ctx := context.Background()
	disk := &failingDisk{memStore: newMemStore()}
	w := &fakeWriter{}
	w.serial = "SIM-1"
	var n float64
	w.setAnswer(func(Endpoint) ([]Reading, error) { n++; return []Reading{{Name: "x", Value: Number(n)}}, nil })
	opts := Options{Ranks: testRanks, Store: disk, Pollers: map[string]Poller{"snmp": w}, Profiles: oneProfile{&Profile{Name: "acme-display", Protocol: "snmp"}}}
	opts.Sink = &outboxSink{st: disk}
	g, id := claimedDisplay(t, opts)
	require.NoError(t, g.PollNow(ctx, id))
	require.NoError(t, g.Flush()) // the twin on disk: version 1
	for range 3 {
		require.NoError(t, g.PollNow(ctx, id)) // patches 2..4 committed, the twin not written again
	}

	sink2 := &outboxSink{st: disk}
	opts.Sink = sink2
	g2, err := New(opts) // as after a crash
	require.NoError(t, err)
	tw, _ := g2.Twin(id)
	require.Equal(t, int64(4), tw.Reported.Version, "the version the cloud has, not the older one written")
	g2.catchUp()
	versions, _ := sink2.sent(id)
	require.Equal(t, []string{"full 5"}, versions)
	require.NoError(t, g2.PollNow(ctx, id))
	versions, _ = sink2.sent(id)
	require.Equal(t, []string{"full 5", "patch 6"}, versions)

	// Claimed while nothing went up: sent in full once something does.
	noSink := opts
	noSink.Sink = nil
	st := &failingDisk{memStore: newMemStore()}
	noSink.Store = st
	g3, id3 := claimedDisplay(t, noSink)
	require.NoError(t, g3.Flush())
	sink3 := &outboxSink{st: st}
	noSink.Sink = sink3
	g4, err := New(noSink)
	require.NoError(t, err)
	g4.catchUp()
	versions, _ = sink3.sent(id3)
	require.Equal(t, []string{"full 1"}, versions)
}

// claimedDisplay makes a gateway with opts that has discovered the display and claimed it.
func claimedDisplay(t *testing.T, opts Options) (*Gateway, string) {
	t.Helper()
	g, err := New(opts)
	require.NoError(t, err)
	id := g.Observe(display)
	_, err = g.Claim(context.Background(), display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)
	return g, id
}

// TestFullStoreEventGoesUpInFull: an event of a claimed device that the store cannot take changes the
// twin's conditions all the same; with no value to set (most traps) there is no patch, yet the raised
// condition must reach the cloud: the twin goes up in full once the store writes again.
func TestFullStoreEventGoesUpInFull(t *testing.T) {
	disk := &failingDisk{memStore: newMemStore()}
	sink := &outboxSink{st: disk}
	opts := Options{Ranks: testRanks, Store: disk, Sink: sink, Pollers: map[string]Poller{"snmp": risingWriter()},
		Profiles: oneProfile{&Profile{Name: "acme-display", Protocol: "snmp"}}}
	g, id := claimedDisplay(t, opts)
	versions, _ := sink.sent(id)
	require.Equal(t, []string{"full 0"}, versions)

	disk.set(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no poll after the event: only the event is to go up
	_, err := g.RecordEvent(ctx, Event{DeviceID: id, Name: "coverOpen", Severity: SeverityWarning, Condition: true, Protocol: "snmp"})
	require.NoError(t, err)
	resync, _ := g.sent.waiting()
	require.Equal(t, 1, resync, "the twin is to go up in full")

	disk.set(false)
	g.catchUp()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	last := sink.out[len(sink.out)-1]
	require.Len(t, last.Twins, 1)
	require.Equal(t, id, last.Twins[0].DeviceID)
	require.Len(t, last.Twins[0].Events, 1)
	require.Equal(t, "coverOpen", last.Twins[0].Events[0].Name)
	require.True(t, last.Twins[0].Events[0].Active)
}

// probeLiesDisk is a failingDisk whose probe says the store writes again while its writes still fail.
type probeLiesDisk struct{ *failingDisk }

func (probeLiesDisk) Probe() error { return nil }

// TestLostAuditCountKept: a catch-up whose audit write fails again keeps the count of the audit entries
// lost (beyond maxUnsaved) with the entries, so the catch-up that writes them still warns of the loss.
func TestLostAuditCountKept(t *testing.T) {
	disk := probeLiesDisk{&failingDisk{memStore: newMemStore()}}
	g, err := New(Options{Ranks: testRanks, Store: disk, Sink: &outboxSink{st: disk}})
	require.NoError(t, err)
	es := make([]AuditEntry, maxUnsaved+3)
	for i := range es {
		es[i] = AuditEntry{Time: time.Unix(int64(i), 0), DeviceID: "mac-020000000001", Action: "connectivity", By: "poll"}
	}
	g.sent.keep(es)
	require.Equal(t, 3, g.sent.lost)

	disk.set(true)
	g.catchUp() // the probe passes, the write fails
	_, unsaved := g.sent.waiting()
	require.Equal(t, maxUnsaved, unsaved, "the entries are kept again")
	require.Equal(t, 3, g.sent.lost, "and the count of those lost with them")

	disk.set(false)
	g.catchUp()
	_, unsaved = g.sent.waiting()
	require.Zero(t, unsaved)
	require.Zero(t, g.sent.lost)
}
