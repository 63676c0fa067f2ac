package gateway

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
)

// liveDriver answers Reidentify with whatever serial the test sets, as a device would.
type liveDriver struct {
	fakeDriver
	mu     sync.Mutex
	serial string
	fail   error
}

func (d *liveDriver) Reidentify(ctx context.Context, ep Endpoint) (Sighting, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return Sighting{}, d.fail
	}
	s := display
	s.Identity.Serial = d.serial
	if d.serial == "" {
		s.Tried = []IdentityAttempt{{Field: "serial", Source: "ENTITY-MIB", Note: "no chassis, stack or serial row"},
			{Field: "serial", Source: "profile acme-display .1.3.6.1.4.1.99999.9.0", Note: "no such object"}}
	}
	return s, nil
}

type claimRig struct {
	g       *Gateway
	drv     *liveDriver
	twins   []Twin
	audits  []AuditEntry
	patches []Patch
	mu      sync.Mutex
}

func newClaimRig(t *testing.T) *claimRig {
	r := &claimRig{drv: &liveDriver{serial: "SIM-1"}}
	r.drv.setAnswer(func(Endpoint) ([]Reading, error) {
		return []Reading{{Name: "uptimeSeconds", Value: Number(float64(time.Now().UnixNano()))}}, nil
	})
	db, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	r.g, err = New(Options{Ranks: testRanks, Store: db, Pollers: map[string]Poller{"snmp": r.drv}, Profiles: oneProfile{&Profile{Name: "acme-display", Protocol: "snmp"}},
		Sink: SinkFuncs{
			OnTwin:  func(tw Twin) { r.mu.Lock(); r.twins = append(r.twins, tw); r.mu.Unlock() },
			OnAudit: func(e AuditEntry) { r.mu.Lock(); r.audits = append(r.audits, e); r.mu.Unlock() },
			OnPatch: func(p Patch) { r.mu.Lock(); r.patches = append(r.patches, p); r.mu.Unlock() }}})
	require.NoError(t, err)
	return r
}

func TestClaimHandshake(t *testing.T) {
	ctx := context.Background()
	r := newClaimRig(t)
	id := r.g.Observe(display)

	// Wrong serial: rejected, the real serial not revealed, nothing goes up.
	c, err := r.g.Claim(ctx, "02-ED-67-00-00-01", "WRONG", "", "cli")
	require.NoError(t, err)
	require.Equal(t, ClaimRejected, c.State)
	require.NotContains(t, c.Reason, "SIM-1")
	require.NoError(t, r.g.PollNow(ctx, id))
	r.mu.Lock()
	require.Empty(t, r.twins)
	require.Empty(t, r.patches, "nothing of an unclaimed device goes up")
	r.mu.Unlock()

	// Right serial (case and spaces forgiven): claimed, default group, full twin up.
	c, err = r.g.Claim(ctx, "02ed.6700.0001", " sim-1 ", "", "cli")
	require.NoError(t, err)
	require.Equal(t, ClaimClaimed, c.State)
	require.Equal(t, DefaultGroup, c.Group)
	require.Equal(t, id, c.DeviceID)
	tw, _ := r.g.Twin(id)
	require.Equal(t, ClaimClaimed, tw.Claim.State)
	r.mu.Lock()
	require.Len(t, r.twins, 1)
	r.mu.Unlock()
	require.NoError(t, r.g.PollNow(ctx, id))
	r.mu.Lock()
	require.NotEmpty(t, r.patches, "a claimed device's changes go up")
	r.mu.Unlock()

	// The same claim again changes nothing.
	again, err := r.g.Claim(ctx, "02:ed:67:00:00:01", "SIM-1", "", "cli")
	require.NoError(t, err)
	require.Equal(t, c.Updated, again.Updated)

	// Hardware swapped: the same MAC now answers another serial -> mismatch, data stops.
	swapped := display
	swapped.Identity.Serial = "SIM-9"
	r.g.Observe(swapped)
	tw, _ = r.g.Twin(id)
	require.Equal(t, ClaimMismatch, tw.Claim.State)
	r.mu.Lock()
	n := len(r.patches)
	r.mu.Unlock()
	require.NoError(t, r.g.PollNow(ctx, id))
	r.mu.Lock()
	require.Len(t, r.patches, n, "a mismatched device's data stops going up")
	r.mu.Unlock()

	// The audit log has the story with old and new states.
	log, err := r.g.AuditLog(id, time.Time{})
	require.NoError(t, err)
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	require.Equal(t, []string{"claim rejected", "claimed", "identity mismatch"}, actions)
	require.Equal(t, "rejected", log[1].Old)
	require.Equal(t, "claimed", log[1].New)

	// Unclaim.
	_, err = r.g.Unclaim("02:ed:67:00:00:01", "cli")
	require.NoError(t, err)
	tw, _ = r.g.Twin(id)
	require.Equal(t, ClaimUnclaimed, tw.Claim.State)
	_, err = r.g.Unclaim("02:ed:67:00:00:01", "cli")
	require.ErrorIs(t, err, ErrNoClaim)
}

func TestPendingClaim(t *testing.T) {
	ctx := context.Background()
	r := newClaimRig(t)
	c, err := r.g.Claim(ctx, "02:ed:67:00:00:01", "SIM-1", "Lobby", "csv")
	require.NoError(t, err)
	require.Equal(t, ClaimPending, c.State)
	require.False(t, c.Expires.IsZero())
	id := r.g.Observe(display) // the device appears
	tw, _ := r.g.Twin(id)
	require.Equal(t, ClaimClaimed, tw.Claim.State)
	require.Equal(t, "Lobby", tw.Claim.Group)

	// A device that does not answer the live check stays pending.
	r.drv.mu.Lock()
	r.drv.fail = errors.New("snmp 127.0.0.1:16100: no answer")
	r.drv.mu.Unlock()
	other := display
	other.Identity.MAC = "02:ed:67:00:00:02"
	r.g.Observe(other)
	c, err = r.g.Claim(ctx, "02:ed:67:00:00:02", "SIM-1", "", "cli")
	require.NoError(t, err)
	require.Equal(t, ClaimPending, c.State)
	require.Contains(t, c.Reason, "did not answer")

	// Expiry.
	_, err = r.g.Claim(ctx, "02:ed:67:00:00:03", "X", "", "cli")
	require.NoError(t, err)
	r.g.expireClaims(time.Now().Add(8 * 24 * time.Hour))
	for _, c := range r.g.Claims() {
		if c.MAC == "02:ed:67:00:00:03" {
			require.Equal(t, ClaimRejected, c.State)
			require.Contains(t, c.Reason, "expired")
		}
	}
}

func TestClaimInputChecks(t *testing.T) {
	r := newClaimRig(t)
	for _, bad := range [][2]string{{"ff:ff:ff:ff:ff:ff", "S"}, {"01:00:5e:00:00:01", "S"}, {"00:00:00:00:00:00", "S"}, {"zz", "S"}, {"02:ed:67:00:00:01", "  "}} {
		_, err := r.g.Claim(context.Background(), bad[0], bad[1], "", "cli")
		require.Error(t, err, bad)
	}
}

func TestClaimsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, nil)
	require.NoError(t, err)
	g, err := New(Options{Ranks: testRanks, Store: db})
	require.NoError(t, err)
	_, err = g.Claim(context.Background(), "02:ed:67:00:00:07", "S7", "G", "cli")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	db, err = store.Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	g, err = New(Options{Ranks: testRanks, Store: db})
	require.NoError(t, err)
	cs := g.Claims()
	require.Len(t, cs, 1)
	require.Equal(t, ClaimPending, cs[0].State)
	log, err := g.AuditLog("", time.Time{})
	require.NoError(t, err)
	require.Len(t, log, 1)
}

// TestClaimWithoutSerialSaysWhereItLooked: a device that reports no serial cannot be claimed, and the
// refusal names the places the driver tried, so that writing the missing profile is quick.
func TestClaimWithoutSerialSaysWhereItLooked(t *testing.T) {
	r := newClaimRig(t)
	r.g.Observe(display)
	r.drv.mu.Lock()
	r.drv.serial = ""
	r.drv.mu.Unlock()
	c, err := r.g.Claim(context.Background(), "02:ed:67:00:00:01", "SIM-1", "", "cli")
	require.NoError(t, err)
	require.Equal(t, ClaimRejected, c.State)
	require.Contains(t, c.Reason, "does not report a serial number (tried ENTITY-MIB: no chassis, stack or serial row; "+
		"profile acme-display .1.3.6.1.4.1.99999.9.0: no such object)")
	require.Contains(t, c.Reason, "edgegw profile test")
}

// TestWrongSerialLeavesStandingClaim: a rejected attempt (wrong serial) on a claimed device leaves the
// claim as it was, is audited, and the device keeps going up. It used to turn the claim to rejected.
func TestWrongSerialLeavesStandingClaim(t *testing.T) {
	ctx := context.Background()
	r := newClaimRig(t)
	id := r.g.Observe(display)
	c, err := r.g.Claim(ctx, "02:ed:67:00:00:01", "SIM-1", "Lobby", "cli")
	require.NoError(t, err)
	require.Equal(t, ClaimClaimed, c.State)

	for _, claim := range []func() (Claim, error){
		func() (Claim, error) { return r.g.Claim(ctx, "02:ed:67:00:00:01", "WRONG", "", "cloud") },
		func() (Claim, error) {
			res := r.g.ClaimMany(ctx, []ClaimRow{{Line: 2, MAC: "02:ed:67:00:00:01", Serial: "WRONG"}}, "csv")
			return res[0].Claim, nil
		},
	} {
		c, err = claim()
		require.NoError(t, err)
		require.Equal(t, ClaimRejected, c.State, "the attempt is refused")
		require.Contains(t, c.Reason, "standing claim (claimed) is unchanged")
		list := r.g.Claims()
		require.Len(t, list, 1)
		require.Equal(t, ClaimClaimed, list[0].State, "the claim stands")
		require.Equal(t, "Lobby", list[0].Group)
		tw, _ := r.g.Twin(id)
		require.Equal(t, ClaimClaimed, tw.Claim.State)
	}
	log, err := r.g.AuditLog(id, time.Time{})
	require.NoError(t, err)
	var attempts int
	for _, e := range log {
		if e.Action == "claim attempt rejected" {
			attempts++
			require.Equal(t, ClaimClaimed, e.Old)
			require.Equal(t, ClaimClaimed, e.New)
		}
	}
	require.Equal(t, 2, attempts, "both attempts are audited")
}
