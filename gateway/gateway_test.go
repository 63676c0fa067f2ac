package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
)

// fakeDriver answers discovery with fixed sightings and polls from a function.
type fakeDriver struct {
	sightings []Sighting
	fail      []TargetError
	mu        sync.Mutex
	answer    func(ep Endpoint) ([]Reading, error)
	polls     atomic.Int64
}

func (f *fakeDriver) Discover(ctx context.Context, found func(Sighting), failed func(TargetError)) error {
	for _, s := range f.sightings {
		found(s)
	}
	for _, e := range f.fail {
		failed(e)
	}
	return nil
}

func (f *fakeDriver) Poll(ctx context.Context, ep Endpoint, points []Point) ([]Reading, error) {
	f.polls.Add(1)
	f.mu.Lock()
	a := f.answer
	f.mu.Unlock()
	return a(ep)
}

func (f *fakeDriver) setAnswer(a func(ep Endpoint) ([]Reading, error)) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

type oneProfile struct{ p *Profile }

func (o oneProfile) Get(name string) *Profile { return o.p }
func (o oneProfile) List() []*Profile         { return []*Profile{o.p} }

// testRanks order the test's protocols as the drivers rank them.
var testRanks = map[string]int{"snmp": 10, "modbus": 20, "mdns": 30}

// testAddr is a driver's address of a point, as the core sees it: something it passes through.
type testAddr string

func (a testAddr) String() string { return string(a) }

var display = Sighting{Protocol: "snmp", Address: "127.0.0.1:16100", Credential: "discovery.snmp[0]",
	Profile: "acme-display",
	Identity: Identity{MAC: "02:ed:67:00:00:01", Serial: "SIM-1", Model: "DP55", Manufacturer: "ACME",
		SysObjectID: ".1.3.6.1.4.1.99999.1.55"}}

func TestDeviceID(t *testing.T) {
	id, src := DeviceID(display)
	require.Equal(t, "mac-02ed67000001", id)
	require.Equal(t, "mac", src)

	noMAC := display
	noMAC.Identity.MAC = ""
	id1, src := DeviceID(noMAC)
	require.Equal(t, "protocol", src)
	require.Regexp(t, `^snmp-[0-9a-f]{12}$`, id1)
	moved := noMAC
	moved.Address = "127.0.0.2:161"
	id2, _ := DeviceID(moved)
	require.Equal(t, id1, id2, "a device with a serial keeps its id when its address changes")

	noSerial := noMAC
	noSerial.Identity.Serial = ""
	id3, _ := DeviceID(noSerial)
	require.NotEqual(t, id1, id3)
}

func TestPropertiesJSON(t *testing.T) {
	p := Properties{Version: 3, Values: map[string]Value{"b": String("on"), "a": Number(1.5), "c": Bool(true), "d": {}}}
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.JSONEq(t, `{"$version":3,"a":1.5,"b":"on","c":true,"d":null}`, string(b))
	var back Properties
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, p, back)
}

func TestReportedDeltas(t *testing.T) {
	var p Properties
	patch := p.apply("d", map[string]Value{"a": Number(1), "b": String("x")})
	require.Equal(t, int64(1), patch.Version)
	require.Len(t, patch.Values, 2)
	require.Nil(t, p.apply("d", map[string]Value{"a": Number(1)}), "no change, no version")
	patch = p.apply("d", map[string]Value{"a": Number(2), "b": String("x")})
	require.Equal(t, int64(2), patch.Version)
	require.Equal(t, map[string]Value{"a": Number(2)}, patch.Values, "only what changed travels")
}

func TestOfflineDebounceAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		drv := &fakeDriver{sightings: []Sighting{display}}
		drv.setAnswer(func(Endpoint) ([]Reading, error) {
			return []Reading{{Name: "uptimeSeconds", Value: Number(1)}}, nil
		})
		var patches []Patch
		var mu sync.Mutex
		g, err := New(Options{Ranks: testRanks, Discoverers: []Discoverer{drv}, Pollers: map[string]Poller{"snmp": drv},
			Profiles: oneProfile{&Profile{Name: "acme-display", Protocol: "snmp"}}, PollInterval: 10 * time.Second, OfflineAfter: 3,
			DiscoveryInterval: time.Hour,
			Sink:              SinkFuncs{OnPatch: func(p Patch) { mu.Lock(); patches = append(patches, p); mu.Unlock() }}})
		require.NoError(t, err)
		// Claimed: only claimed devices' changes go up, and they are polled at full rate.
		g.Observe(display)
		c, err := g.Claim(t.Context(), display.Identity.MAC, display.Identity.Serial, "", "test")
		require.NoError(t, err)
		require.Equal(t, ClaimClaimed, c.State)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- g.Run(ctx) }()
		waitPolls := func(n int64) { // fake time: returns once the n-th poll has been recorded
			for drv.polls.Load() < n {
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
		}
		waitPolls(1)
		tw, ok := g.Twin("mac-02ed67000001")
		require.True(t, ok)
		require.Equal(t, StateOnline, tw.Connectivity.State)
		require.Equal(t, int64(1), tw.Reported.Version)

		drv.setAnswer(func(Endpoint) ([]Reading, error) { return nil, errors.New("snmp 127.0.0.1:16100: no answer") })
		waitPolls(3) // two misses: still online
		tw, _ = g.Twin("mac-02ed67000001")
		require.Equal(t, StateOnline, tw.Connectivity.State)
		require.Equal(t, 2, tw.Connectivity.Missed)
		require.Contains(t, tw.Connectivity.LastError, "127.0.0.1:16100")
		waitPolls(4) // third miss
		tw, _ = g.Twin("mac-02ed67000001")
		require.Equal(t, StateOffline, tw.Connectivity.State)

		drv.setAnswer(func(Endpoint) ([]Reading, error) {
			return []Reading{{Name: "uptimeSeconds", Value: Number(50)}}, nil
		})
		waitPolls(5)
		tw, _ = g.Twin("mac-02ed67000001")
		require.Equal(t, StateOnline, tw.Connectivity.State)
		require.Equal(t, 0, tw.Connectivity.Missed)
		require.Equal(t, int64(2), tw.Reported.Version)
		cancel()
		require.NoError(t, <-done)
		mu.Lock()
		require.Len(t, patches, 2)
		mu.Unlock()
	})
}

func TestSchedulerConcurrencyLimitAndNoStacking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var running, peak atomic.Int64
		runs := map[string]int{}
		var mu sync.Mutex
		s := NewScheduler(10*time.Second, 0.1, 3, func(ctx context.Context, key string) {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			mu.Lock()
			runs[key]++
			mu.Unlock()
			if key == "slow" {
				time.Sleep(25 * time.Second) // longer than the interval
			} else {
				time.Sleep(100 * time.Millisecond)
			}
			running.Add(-1)
		})
		for i := range 20 {
			s.Add(string(rune('a' + i)))
		}
		s.Add("slow")
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		time.Sleep(60 * time.Second)
		cancel()
		<-done
		require.LessOrEqual(t, peak.Load(), int64(3))
		mu.Lock()
		defer mu.Unlock()
		for i := range 20 {
			k := string(rune('a' + i))
			require.GreaterOrEqual(t, runs[k], 5, k)
			require.LessOrEqual(t, runs[k], 7, k)
		}
		require.LessOrEqual(t, runs["slow"], 3, "a slow run is not stacked up")
		require.Equal(t, 21, s.Len())
	})
}

func TestSchedulerRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int64
		s := NewScheduler(time.Second, 0, 1, func(ctx context.Context, key string) { n.Add(1) })
		s.AddAt("x", time.Now())
		ctx, cancel := context.WithCancel(t.Context())
		go s.Run(ctx)
		time.Sleep(1500 * time.Millisecond)
		s.Remove("x")
		before := n.Load()
		time.Sleep(5 * time.Second)
		require.Equal(t, before, n.Load())
		require.Equal(t, 0, s.Len())
		cancel()
	})
}

func TestRestartRestoresTwins(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, nil)
	require.NoError(t, err)
	drv := &fakeDriver{sightings: []Sighting{display}}
	drv.setAnswer(func(Endpoint) ([]Reading, error) {
		return []Reading{{Name: "temperatureCelsius", Value: Number(23.5)}, {Name: "powerState", Value: String("on")}}, nil
	})
	g, err := New(Options{Ranks: testRanks, Discoverers: []Discoverer{drv}, Pollers: map[string]Poller{"snmp": drv},
		Profiles: oneProfile{&Profile{Name: "acme-display", Protocol: "snmp"}}, Store: db})
	require.NoError(t, err)
	_, err = g.Discover(t.Context())
	require.NoError(t, err)
	require.NoError(t, g.PollNow(t.Context(), "mac-02ed67000001"))
	require.NoError(t, g.Flush())
	want := g.Twins()
	require.NoError(t, db.Close())

	db, err = store.Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	g2, err := New(Options{Ranks: testRanks, Store: db})
	require.NoError(t, err)
	got := g2.Twins()
	require.Len(t, got, 1)
	// Times lose their monotonic reading through JSON; compare the documents.
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	require.JSONEq(t, string(wb), string(gb))
	require.Equal(t, "23.5", got[0].Reported.Values["temperatureCelsius"].String())
	require.NotContains(t, string(gb), "public", "no credential in a twin")
}

func TestMergeByMACAcrossAddresses(t *testing.T) {
	g, err := New(Options{Ranks: testRanks})
	require.NoError(t, err)
	id := g.Observe(display)
	moved := display
	moved.Address = "127.0.0.9:161"
	moved.Identity.Firmware = "4.3.0"
	require.Equal(t, id, g.Observe(moved))
	tw, _ := g.Twin(id)
	require.Len(t, g.Twins(), 1)
	require.Equal(t, []string{"snmp://127.0.0.9:161"}, tw.Identity.Addresses)
	require.Equal(t, "4.3.0", tw.Identity.Firmware)
	require.Equal(t, "SIM-1", tw.Identity.Serial, "a field the later sighting lacks is kept")
}

// countingDiscoverer fails its target until told otherwise, counting passes.
type countingDiscoverer struct {
	passes atomic.Int64
	ok     atomic.Bool
}

func (d *countingDiscoverer) Discover(ctx context.Context, found func(Sighting), failed func(TargetError)) error {
	d.passes.Add(1)
	if !d.ok.Load() {
		failed(TargetError{Protocol: "snmp", Address: "127.0.0.1:161", Err: errors.New("no answer")})
	}
	return nil
}

// A pass in which a target failed is repeated after 10 s, then 20, 40, ... up to the interval; a pass
// without failures goes back to the interval.
func TestDiscoveryRetriesFailedTargetsSooner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &countingDiscoverer{}
		g, err := New(Options{Discoverers: []Discoverer{d}, DiscoveryInterval: 15 * time.Minute})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { g.RunDiscovery(ctx); close(done) }()
		passesAt := func(after time.Duration) int64 {
			time.Sleep(after)
			synctest.Wait()
			return d.passes.Load()
		}
		require.Equal(t, int64(1), passesAt(0))
		require.Equal(t, int64(2), passesAt(10*time.Second))
		require.Equal(t, int64(2), passesAt(19*time.Second))
		require.Equal(t, int64(3), passesAt(time.Second)) // 20 s after the second
		d.ok.Store(true)
		require.Equal(t, int64(4), passesAt(40*time.Second))
		require.Equal(t, int64(4), passesAt(14*time.Minute), "no failure: back to the interval")
		require.Equal(t, int64(5), passesAt(time.Minute))
		cancel()
		<-done
	})
}
