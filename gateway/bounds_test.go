package gateway

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
)

// macRows makes n claim rows for MACs nobody has seen (locally administered, so never a real device's).
func macRows(n, from int) []ClaimRow {
	rows := make([]ClaimRow, n)
	for i := range rows {
		k := from + i
		rows[i] = ClaimRow{Line: i + 1, MAC: fmt.Sprintf("06:00:%02x:%02x:%02x:%02x", k>>24&0xff, k>>16&0xff, k>>8&0xff, k&0xff),
			Serial: fmt.Sprintf("SN-%08d", k)}
	}
	return rows
}

// TestPendingClaimsCapped: claims for MACs not seen yet are capped (claims.max_pending): beyond the cap
// a claim is refused with a reason that names the setting, whether it comes alone or in an import,
// and nothing of it is kept; the claims under the cap stay pending, and as they expire (or their devices
// show up) room comes back. There was no cap: 100,000 rows for unseen MACs were all kept.
func TestPendingClaimsCapped(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer db.Close()
	g, err := New(Options{Store: db, MaxPending: 5, ClaimTTL: time.Hour})
	require.NoError(t, err)

	res := g.ClaimMany(ctx, macRows(8, 0), "csv")
	var pending, refused int
	for _, r := range res {
		switch {
		case r.Error != "":
			refused++
			require.Contains(t, r.Error, "too many pending claims")
			require.Contains(t, r.Error, "claims.max_pending")
		case r.Claim.State == ClaimPending:
			pending++
		}
	}
	require.Equal(t, 5, pending)
	require.Equal(t, 3, refused)
	require.Len(t, g.Claims(), 5, "refused claims are not kept")

	_, err = g.Claim(ctx, "06:00:00:00:01:00", "SN-X", "", "cli")
	require.ErrorContains(t, err, "too many pending claims (5, claims.max_pending)")

	// The same import again: the five are unchanged, the three still refused; no slot is taken twice.
	res = g.ClaimMany(ctx, macRows(8, 0), "csv")
	unchanged := 0
	for _, r := range res {
		if r.Unchanged {
			unchanged++
		}
	}
	require.Equal(t, 5, unchanged)
	// Changing a pending claim's serial takes no new slot.
	c, err := g.Claim(ctx, macRows(1, 0)[0].MAC, "SN-OTHER", "", "cli")
	require.NoError(t, err)
	require.Equal(t, ClaimPending, c.State)

	// Expiry (as today) frees the slots.
	g.expireClaims(time.Now().Add(2 * time.Hour))
	_, err = g.Claim(ctx, "06:00:00:00:01:00", "SN-X", "", "cli")
	require.NoError(t, err)

	// Survives a restart: the cap counts what was restored.
	g2, err := New(Options{Store: db, MaxPending: 1, ClaimTTL: time.Hour})
	require.NoError(t, err)
	_, err = g2.Claim(ctx, "06:00:00:00:02:00", "SN-Y", "", "cli")
	require.ErrorContains(t, err, "too many pending claims")
}

// TestAuditRetentionOnDisk: entries past audit.retention leave the state file while the daemon runs
// (not only at start), and are never returned by queries meanwhile. They used to be deleted only when
// the gateway started.
func TestAuditRetentionOnDisk(t *testing.T) {
	db, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer db.Close()
	g, err := New(Options{Store: db, AuditRetention: time.Hour, PruneEvery: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.RunPolling(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	old := time.Now().Add(-2 * time.Hour)
	for i := range 300 {
		g.Audit(AuditEntry{Time: old.Add(time.Duration(i) * time.Millisecond), MAC: "06:00:00:00:00:01", Action: "claimed", By: "test"})
	}
	g.Audit(AuditEntry{MAC: "06:00:00:00:00:01", Action: "unclaimed", By: "test"})
	es, err := g.AuditLog("", time.Time{})
	require.NoError(t, err)
	require.Equal(t, 1, len(es), "queries never show entries past retention")
	require.Eventually(t, func() bool {
		n := 0
		require.NoError(t, db.ForEach(bucketAudit, func(string, []byte) error { n++; return nil }))
		return n == 1
	}, 5*time.Second, 20*time.Millisecond, "the old entries leave the file while running")
}

// TestClaimImportMemory: after importing 100,000 claims for MACs never seen, the heap goes back to
// about where it was (the cap keeps 10,000 pending; nothing else of the import is kept). The heap's
// biggest holders before and after are in the test log. The daemon used to grow from 30 to 344 MB and
// stay at 235 MB: every row was kept, and the import ran one goroutine per row.
func TestClaimImportMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a 100,000-row import: a few seconds")
	}
	runtime.MemProfileRate = 16 << 10
	db, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer db.Close()
	g, err := New(Options{Store: db})
	require.NoError(t, err)

	// The rows as the admin API hands them over once it has read the CSV (admin/claimcsv).
	rows := macRows(100000, 1)
	before := heapReport(t, "before the import")
	res := g.ClaimMany(context.Background(), rows, "csv")
	pending := 0
	for _, r := range res {
		if r.Error == "" && r.Claim.State == ClaimPending {
			pending++
		}
	}
	require.Equal(t, DefaultMaxPending, pending)
	rows, res = nil, nil
	after := heapReport(t, "after the import")
	require.Len(t, g.Claims(), DefaultMaxPending) // and keeps g alive through the measurement
	require.Less(t, after-before, int64(24<<20), "the heap is back near its baseline (10,000 pending claims kept)")
}

// heapReport logs the live heap after a collection and its five biggest holders (by allocating
// function), and returns the live heap in bytes.
func heapReport(t *testing.T, when string) int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	recs := make([]runtime.MemProfileRecord, 4096)
	n, ok := runtime.MemProfile(recs, false)
	for !ok {
		recs = make([]runtime.MemProfileRecord, n+256)
		n, ok = runtime.MemProfile(recs, false)
	}
	bySite := map[string]int64{}
	for _, r := range recs[:n] {
		if r.InUseBytes() == 0 {
			continue
		}
		site := "?"
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if !strings.HasPrefix(f.Function, "runtime.") {
				site = f.Function
				break
			}
			if !more {
				break
			}
		}
		bySite[site] += scaledInUse(r)
	}
	sites := make([]string, 0, len(bySite))
	for s := range bySite {
		sites = append(sites, s)
	}
	slices.SortFunc(sites, func(a, b string) int { return int(bySite[b] - bySite[a]) })
	var top []string
	for _, s := range sites[:min(5, len(sites))] {
		top = append(top, fmt.Sprintf("%s %.1f MiB", s, float64(bySite[s])/(1<<20)))
	}
	t.Logf("heap %s: live %.1f MiB, in use %.1f MiB, from the OS %.1f MiB, %d goroutines; biggest holders: %s",
		when, float64(ms.HeapAlloc)/(1<<20), float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20), runtime.NumGoroutine(),
		strings.Join(top, "; "))
	return int64(ms.HeapAlloc)
}

// scaledInUse estimates the live bytes a sampled record stands for, as pprof does (each allocation is
// sampled with probability 1-exp(-size/rate)).
func scaledInUse(r runtime.MemProfileRecord) int64 {
	n, b := r.InUseObjects(), r.InUseBytes()
	if n == 0 || runtime.MemProfileRate <= 1 {
		return b
	}
	avg := float64(b) / float64(n)
	return int64(float64(b) / (1 - math.Exp(-avg/float64(runtime.MemProfileRate))))
}
