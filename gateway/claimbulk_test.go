package gateway

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
)

// cutDriver answers serial reads like liveDriver and cancels the import's context at its n-th read:
// a client that goes away, a daemon that stops, half-way through.
type cutDriver struct {
	liveDriver
	reads  atomic.Int64
	cutAt  int64
	cancel context.CancelFunc
}

func (d *cutDriver) Reidentify(ctx context.Context, ep Endpoint) (Sighting, error) {
	if d.reads.Add(1) == d.cutAt && d.cancel != nil {
		d.cancel()
	}
	if ctx.Err() != nil {
		return Sighting{}, ctx.Err() // as a real read cut off by its context: no answer
	}
	return d.liveDriver.Reidentify(ctx, ep)
}

// bulkSightings are n displays with MACs 02:ed:67:01:xx:xx, each answering the serial SIM-1.
func bulkRows(g *Gateway, n int) []ClaimRow {
	rows := make([]ClaimRow, n)
	for i := range n {
		s := display
		s.Address = fmt.Sprintf("127.0.%d.%d:161", i/250, i%250+1)
		s.Identity.MAC = fmt.Sprintf("02:ed:67:01:%02x:%02x", i>>8, i&0xff)
		g.Observe(s)
		rows[i] = ClaimRow{Line: i + 2, MAC: s.Identity.MAC, Serial: "SIM-1", Group: "Campus"}
	}
	return rows
}

// TestClaimImportInterruptedAndRepeated: an import cut off half-way (its context cancelled in the
// middle of the second chunk) leaves every row either recorded — the claim and its audit entry, on
// disk — or untouched and reported not done; after a restart, the same import finishes the rest and
// changes nothing of what was done.
func TestClaimImportInterruptedAndRepeated(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, nil)
	require.NoError(t, err)
	drv := &cutDriver{liveDriver: liveDriver{serial: "SIM-1"}, cutAt: claimChunk + claimChunk/3}
	drv.setAnswer(func(Endpoint) ([]Reading, error) { return nil, nil })
	g, err := New(Options{Ranks: testRanks, Store: db, Pollers: map[string]Poller{"snmp": drv}})
	require.NoError(t, err)
	n := 2*claimChunk + claimChunk/2
	rows := bulkRows(g, n)
	require.NoError(t, g.Flush())

	ctx, cancel := context.WithCancel(context.Background())
	drv.cancel = cancel
	var progress []int
	res := g.ClaimManyProgress(ctx, rows, "csv", func(done, total int) {
		require.Equal(t, n, total)
		progress = append(progress, done)
	})
	require.Equal(t, []int{claimChunk}, progress, "the first chunk was recorded, the second was cut")
	done := map[string]bool{}
	for i, r := range res {
		if i < claimChunk {
			require.Empty(t, r.Error, "row %d", i)
			require.Equal(t, ClaimClaimed, r.Claim.State, "row %d", i)
			done[r.Claim.MAC] = true
			continue
		}
		require.True(t, r.NotDone, "row %d", i)
		require.Equal(t, ErrClaimNotDone.Error(), r.Error)
	}
	check := func(g *Gateway, want map[string]bool) {
		t.Helper()
		claims := g.Claims()
		require.Len(t, claims, len(want), "only the recorded rows are claims")
		for _, c := range claims {
			require.True(t, want[c.MAC], "%s is claimed but was not done", c.MAC)
			require.Equal(t, ClaimClaimed, c.State, "no row was half-done into pending")
		}
		log, err := g.AuditLog("", time.Time{})
		require.NoError(t, err)
		audited := map[string]int{}
		for _, e := range log {
			if e.Action == "claimed" {
				audited[e.MAC]++
			}
		}
		require.Len(t, audited, len(want), "every recorded claim has its audit entry, and only those")
		for mac, k := range audited {
			require.Equal(t, 1, k, "%s audited once", mac)
		}
	}
	check(g, done)

	// The daemon stops and starts again on the same state: the same rows are claimed.
	require.NoError(t, g.Flush())
	require.NoError(t, db.Close())
	db, err = store.Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	drv2 := &cutDriver{liveDriver: liveDriver{serial: "SIM-1"}}
	drv2.setAnswer(func(Endpoint) ([]Reading, error) { return nil, nil })
	g, err = New(Options{Ranks: testRanks, Store: db, Pollers: map[string]Poller{"snmp": drv2}})
	require.NoError(t, err)
	check(g, done)

	// The same import again finishes it: what was done is unchanged, the rest is claimed.
	res = g.ClaimMany(context.Background(), rows, "csv")
	all := map[string]bool{}
	for i, r := range res {
		require.Empty(t, r.Error, "row %d", i)
		require.False(t, r.NotDone)
		require.Equal(t, ClaimClaimed, r.Claim.State)
		require.Equal(t, done[r.Claim.MAC], r.Unchanged, "row %d: unchanged exactly when done before", i)
		all[r.Claim.MAC] = true
	}
	check(g, all)
	require.Equal(t, int64(n-claimChunk), drv2.reads.Load(), "rows done before are not read again")
}

// TestClaimOfDevice: unclaim by device id finds the claim that names the device, following a claim
// moving to another device (the same MAC seen as a new device), and not finding removed claims.
func TestClaimOfDevice(t *testing.T) {
	b := newClaimBook(newMemStore())
	b.change.Lock()
	defer b.change.Unlock()
	b.apply([]*Claim{{MAC: "02:00:00:00:00:01", DeviceID: "a", State: ClaimClaimed}})
	c, ok := b.ofDevice("a")
	require.True(t, ok)
	require.Equal(t, "02:00:00:00:00:01", c.MAC)
	b.apply([]*Claim{{MAC: "02:00:00:00:00:01", DeviceID: "b", State: ClaimClaimed}})
	_, ok = b.ofDevice("a")
	require.False(t, ok, "the old device no longer names the claim")
	c, ok = b.ofDevice("b")
	require.True(t, ok)
	require.Equal(t, "b", c.DeviceID)
	b.forget("02:00:00:00:00:01")
	_, ok = b.ofDevice("b")
	require.False(t, ok)

	// Claims of two MACs name one device: forgetting one leaves the other found; the claimed one
	// is found first.
	b.apply([]*Claim{{MAC: "02:00:00:00:00:01", DeviceID: "c", State: ClaimPending},
		{MAC: "02:00:00:00:00:02", DeviceID: "c", State: ClaimClaimed}})
	c, ok = b.ofDevice("c")
	require.True(t, ok)
	require.Equal(t, "02:00:00:00:00:02", c.MAC)
	b.forget("02:00:00:00:00:02")
	c, ok = b.ofDevice("c")
	require.True(t, ok, "the other claim still names the device")
	require.Equal(t, "02:00:00:00:00:01", c.MAC)
	_, ok = b.ofDevice("")
	require.False(t, ok)
}

// TestClaimManyCommand: a bulk claim from the cloud is carried out as an import, one result per row.
func TestClaimManyCommand(t *testing.T) {
	r := newClaimRig(t)
	id := r.g.Observe(display)
	res, err := r.g.HandleCommand(context.Background(), ClaimManyCommand{Rows: []ClaimRow{
		{Line: 0, MAC: display.Identity.MAC, Serial: "SIM-1", Group: "Lobby"},
		{Line: 1, MAC: "02:ed:67:00:00:99", Serial: "X"},
	}})
	require.NoError(t, err)
	out := res.(ClaimManyResult)
	require.Len(t, out.Results, 2)
	require.Equal(t, ClaimRowResult{MAC: display.Identity.MAC, State: ClaimClaimed, DeviceID: id}, out.Results[0])
	require.Equal(t, ClaimPending, out.Results[1].State)
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(t, r.twins, 1, "the claimed device's full twin went up")
}

// TestClaimManyCommandWithBadRows: rows the uplink could not read are answered in their places with
// why, and the rows between them are carried out.
func TestClaimManyCommandWithBadRows(t *testing.T) {
	r := newClaimRig(t)
	id := r.g.Observe(display)
	res, err := r.g.HandleCommand(context.Background(), ClaimManyCommand{
		Rows: []ClaimRow{{Line: 1, MAC: display.Identity.MAC, Serial: "SIM-1"}, {Line: 3, MAC: "02:ed:67:00:00:99", Serial: "X"}},
		Bad:  map[int]BadClaimRow{0: {MAC: "nope", Error: "claims[0]: bad"}, 2: {MAC: "ff:ff:ff:ff:ff:ff", Error: "claims[2]: broadcast"}},
	})
	require.NoError(t, err)
	out := res.(ClaimManyResult)
	require.Equal(t, []ClaimRowResult{
		{MAC: "nope", Error: "claims[0]: bad"},
		{MAC: display.Identity.MAC, State: ClaimClaimed, DeviceID: id},
		{MAC: "ff:ff:ff:ff:ff:ff", Error: "claims[2]: broadcast"},
		{MAC: "02:ed:67:00:00:99", State: ClaimPending, Reason: out.Results[3].Reason},
	}, out.Results)
}

// TestLazyTwinWrites: a twin that only polls changed is written within lazyEvery, a share at a time,
// but its reported $version is on disk at the next flush, so a crash never takes a version back; a
// connectivity change and Flush write at once.
func TestLazyTwinWrites(t *testing.T) {
	st := newMemStore()
	s := newTwinSet()
	now := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return now }
	for i := range 100 {
		id := fmt.Sprintf("d%03d", i)
		s.upsert(id, func() *Twin { return &Twin{DeviceID: id} }, func(*Twin, bool) {})
	}
	_, err := s.flush(st, 1)
	require.NoError(t, err)
	for i := range 100 {
		s.updatePoll(fmt.Sprintf("d%03d", i), func(t *Twin) bool { t.Reported.Version = 5; return false })
	}
	require.Len(t, s.lazy, 100)
	_, err = s.flush(st, 0.1)
	require.NoError(t, err)
	require.Len(t, s.lazy, 100-11, "a tenth (and one) written whole")
	notYet := maps.Clone(s.lazy)
	// A crash now: the store has every version.
	r := newTwinSet()
	require.NoError(t, r.restore(st))
	for id, tw := range r.twins {
		require.Equal(t, int64(5), tw.Reported.Version, id)
	}
	// lazyEvery on, every twin is polled again: those still waiting are written, all of them (not
	// a share in map order, which left some unwritten for many times lazyEvery); those written a
	// moment ago wait.
	now = now.Add(lazyEvery)
	for i := range 100 {
		s.updatePoll(fmt.Sprintf("d%03d", i), func(t *Twin) bool { t.Reported.Version = 6; return false })
	}
	_, err = s.flush(st, 0.1)
	require.NoError(t, err)
	require.Len(t, s.lazy, 11)
	for id := range s.lazy {
		require.NotContains(t, notYet, id, "a twin lazy for lazyEvery is written")
	}
	// A connectivity change is written at once.
	s.updatePoll("d000", func(t *Twin) bool { t.Connectivity.State = StateOffline; return true })
	require.True(t, s.dirty["d000"])
	_, err = s.flush(st, 1)
	require.NoError(t, err)
	require.Empty(t, s.lazy)
	require.Empty(t, s.dirty)
}
