package gateway

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
)

// fullDisk is a Store whose writes fail, as a full or broken disk does; reads see what it held.
type fullDisk struct {
	*memStore
	full bool
}

var errNoSpace = errors.New("no space left on device")

func (d *fullDisk) Write(fn func(w store.Writer) error) error {
	if d.full {
		return errNoSpace
	}
	return d.memStore.Write(fn)
}

// A claim the store does not take is not in effect: the caller gets the error, and the claims, the
// twin and what went up are as before.
func TestClaimNotStoredIsNotInEffect(t *testing.T) {
	ctx := context.Background()
	disk := &fullDisk{memStore: newMemStore()}
	var upTwins []Twin
	g, err := New(Options{Ranks: testRanks, Store: disk, Pollers: map[string]Poller{"snmp": &liveDriver{serial: "SIM-1"}},
		Sink: SinkFuncs{OnTwin: func(tw Twin) { upTwins = append(upTwins, tw) }}})
	require.NoError(t, err)
	id := g.Observe(display)
	require.NoError(t, g.Flush())

	disk.full = true
	_, err = g.Claim(ctx, "02:ed:67:00:00:01", "SIM-1", "", "cli")
	require.ErrorIs(t, err, errNoSpace)
	require.Empty(t, g.Claims())
	tw, _ := g.Twin(id)
	require.Equal(t, ClaimUnclaimed, tw.Claim.State)
	require.Empty(t, upTwins, "nothing goes up for a claim that is not in effect")

	rs := g.ClaimMany(ctx, []ClaimRow{{Line: 2, MAC: "02:ed:67:00:00:01", Serial: "SIM-1"}}, "csv")
	require.Contains(t, rs[0].Error, "no space left")
	require.Empty(t, g.Claims())

	// Space again: the same claim goes through.
	disk.full = false
	c, err := g.Claim(ctx, "02:ed:67:00:00:01", "SIM-1", "", "cli")
	require.NoError(t, err)
	require.Equal(t, ClaimClaimed, c.State)
	require.Len(t, upTwins, 1)

	// An unclaim the store refuses leaves the claim standing.
	disk.full = true
	_, err = g.Unclaim(id, "cli")
	require.ErrorIs(t, err, errNoSpace)
	tw, _ = g.Twin(id)
	require.Equal(t, ClaimClaimed, tw.Claim.State)
	require.Len(t, g.Claims(), 1)

	// Space again: the unclaim by device id goes through.
	disk.full = false
	c, err = g.Unclaim(id, "cli")
	require.NoError(t, err)
	require.Equal(t, "02:ed:67:00:00:01", c.MAC)
	tw, _ = g.Twin(id)
	require.Equal(t, ClaimUnclaimed, tw.Claim.State)
	require.Empty(t, g.Claims())
}

// The MAC index follows twins: built on restore, moved when a twin's MAC changes, and claims find
// their device through it.
func TestMACIndex(t *testing.T) {
	s := newTwinSet()
	s.upsert("a", func() *Twin { return &Twin{DeviceID: "a"} }, func(t *Twin, _ bool) { t.Identity.MAC = "02:00:00:00:00:01" })
	s.upsert("b", func() *Twin { return &Twin{DeviceID: "b"} }, func(t *Twin, _ bool) { t.Identity.MAC = "02:00:00:00:00:01" })
	require.Len(t, s.withMAC("02:00:00:00:00:01"), 2)

	s.update("a", func(t *Twin) { t.Identity.MAC = "02:00:00:00:00:02" })
	require.Equal(t, "b", s.withMAC("02:00:00:00:00:01")[0].DeviceID)
	require.Len(t, s.withMAC("02:00:00:00:00:01"), 1)
	require.Equal(t, "a", s.withMAC("02:00:00:00:00:02")[0].DeviceID)

	s.update("b", func(t *Twin) { t.Identity.MAC = "" })
	require.Empty(t, s.withMAC("02:00:00:00:00:01"))
	require.NotContains(t, s.byMAC, "02:00:00:00:00:01", "an emptied MAC leaves no entry behind")

	// Restored from the store, the index is whole again.
	st := newMemStore()
	_, err := s.flush(st, 1)
	require.NoError(t, err)
	r := newTwinSet()
	require.NoError(t, r.restore(st))
	require.Equal(t, "a", r.withMAC("02:00:00:00:00:02")[0].DeviceID)

	// A claim finds the device by MAC after a restart.
	g, err := New(Options{Ranks: testRanks, Store: st, Pollers: map[string]Poller{"snmp": &liveDriver{serial: "SIM-1"}}})
	require.NoError(t, err)
	id := g.Observe(display)
	require.NoError(t, g.Flush())
	g2, err := New(Options{Ranks: testRanks, Store: st, Pollers: map[string]Poller{"snmp": &liveDriver{serial: "SIM-1"}}})
	require.NoError(t, err)
	c, err := g2.Claim(context.Background(), display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)
	require.Equal(t, id, c.DeviceID)
	require.Equal(t, ClaimClaimed, c.State)
}

// A device sighted while its claim is being worked out (after the claim found no device, before it was
// recorded) is not left pending until the next discovery: recording the claim looks again, and claiming
// it again checks it at once instead of saying "unchanged".
func TestClaimRacingDiscovery(t *testing.T) {
	ctx := context.Background()
	g, err := New(Options{Ranks: testRanks, Pollers: map[string]Poller{"snmp": &liveDriver{serial: "SIM-1"}}})
	require.NoError(t, err)
	c, changed, err := g.evaluateClaim(ctx, "02:ed:67:00:00:01", "SIM-1", "", "cli")
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, ClaimPending, c.State, "no device yet")
	id := g.Observe(display) // discovery checks the sighting against no claim
	_, err = g.recordClaims(ctx, []*Claim{&c}, "cli")
	require.NoError(t, err)
	got, _ := g.claims.get(c.MAC)
	require.Equal(t, ClaimClaimed, got.State)
	tw, _ := g.Twin(id)
	require.Equal(t, ClaimClaimed, tw.Claim.State)

	// Left pending the old way (recorded without the second look): claiming again checks it now.
	g2, err := New(Options{Ranks: testRanks, Pollers: map[string]Poller{"snmp": &liveDriver{serial: "SIM-1"}}})
	require.NoError(t, err)
	c, _, err = g2.evaluateClaim(ctx, "02:ed:67:00:00:01", "SIM-1", "", "cli")
	require.NoError(t, err)
	g2.Observe(display)
	_, err = g2.setClaims([]*Claim{&c}, "cli")
	require.NoError(t, err)
	again, err := g2.Claim(ctx, "02:ed:67:00:00:01", "SIM-1", "", "cli")
	require.NoError(t, err)
	require.Equal(t, ClaimClaimed, again.State)
}
