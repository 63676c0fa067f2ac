package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/edgegw/internal/clock"
)

// Profiles is the loaded profile library (drivers/profile's Library is one): the core finds a device's
// profile by name; each driver matches devices to the profiles of its own protocol.
type Profiles interface {
	Get(name string) *Profile
	List() []*Profile
}

// Options configure a Gateway. Zero values are documented per field.
type Options struct {
	Discoverers []Discoverer
	// Pollers by protocol name.
	Pollers  map[string]Poller
	Profiles Profiles
	// Ranks order protocols by how much their word on a device's identity counts, lowest first
	// (protocol.Spec.Rank): a twin's identity field comes from the lowest-ranked protocol that says it,
	// and a claim reads the serial over it. A protocol without a rank comes after the ranked ones.
	Ranks map[string]int
	// Store keeps twins, claims and the audit log across restarts; nil keeps them in memory only (the
	// discover command).
	Store Store
	// DiscoveryInterval between passes; zero means 15 minutes.
	DiscoveryInterval time.Duration
	// PollInterval per device; zero means 60 s. PollJitter is the fraction of it each run moves at random.
	PollInterval time.Duration
	PollJitter   float64
	// PollConcurrency bounds polls in flight; zero means 64.
	PollConcurrency int
	// OfflineAfter missed polls in a row mark a device offline; zero means 3.
	OfflineAfter int
	// FlushInterval is how often changed twins are written to the store in one transaction; zero means 1 s.
	FlushInterval time.Duration
	// Sink receives what goes to the cloud about claimed devices (the uplink's, in a daemon); nil
	// sends nothing.
	Sink Sink

	// ClaimTTL is how long a pending claim waits for its device; zero means 7 days.
	ClaimTTL time.Duration
	// MaxPending caps the claims waiting for a device not seen yet; beyond it a claim is refused
	// (ErrTooManyPending). Zero means DefaultMaxPending (10,000).
	MaxPending int
	// AuditRetention is how long audit entries are kept; zero means 90 days. Older entries are deleted
	// from the store at New and every PruneEvery (zero means 1 hour) while RunPolling runs, and never
	// shown meanwhile.
	AuditRetention time.Duration
	PruneEvery     time.Duration
	// UnclaimedEvery polls unclaimed devices only every this many intervals; zero means 10.
	UnclaimedEvery int
	// Observer, if set, is told how long polls, discovery passes and store writes take (metrics).
	Observer Observer
	Logger   *slog.Logger
}

// Gateway is the core. It is a facade over parts that each keep their own state behind their own
// lock: the inventory of twins (twinSet), the claims (claimBook), the desired settings in flight
// (desiredBook) and the audit log (auditLog), plus the poll scheduler. No part calls out — to a driver,
// the sink or another part — while it holds its lock; the Gateway's methods do the calling between
// them, so a slow device or disk never blocks a reader.
type Gateway struct {
	opts  Options
	log   *slog.Logger
	sched *Scheduler

	twins   *twinSet
	claims  *claimBook
	desired *desiredBook
	audit   *auditLog
	sent    *sentBook   // what went to the sink, and what must go again (commit.go)
	sinks   bool        // a Sink was given: something goes up
	devs    deviceLocks // keep each device's twin messages in version order
	// ev is what devices report on their own (events.go): the address index, the event log.
	ev events

	statsMu sync.Mutex
	stats   Stats

	// polling is set while RunPolling's scheduler runs (readiness).
	polling atomic.Bool
}

// Stats count the gateway's work since start.
type Stats struct {
	DiscoveryPasses int
	Polls           int
	PollErrors      int
	// PollsLate counts polls that started more than LateAfter after they were due.
	PollsLate     int
	LastDiscovery time.Time
}

// New makes a gateway and restores every twin from the store.
func New(opts Options) (*Gateway, error) {
	if opts.DiscoveryInterval <= 0 {
		opts.DiscoveryInterval = 15 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Minute
	}
	if opts.PollConcurrency <= 0 {
		opts.PollConcurrency = 64
	}
	if opts.OfflineAfter <= 0 {
		opts.OfflineAfter = 3
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.Store == nil {
		opts.Store = newMemStore()
	}
	sinks := opts.Sink != nil
	if opts.Sink == nil {
		opts.Sink = discard{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ClaimTTL <= 0 {
		opts.ClaimTTL = 7 * 24 * time.Hour
	}
	if opts.AuditRetention <= 0 {
		opts.AuditRetention = 90 * 24 * time.Hour
	}
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = time.Hour
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.UnclaimedEvery <= 0 {
		opts.UnclaimedEvery = 10
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	g := &Gateway{opts: opts, log: opts.Logger, twins: newTwinSet(), claims: newClaimBook(opts.Store),
		desired: newDesiredBook(), audit: newAuditLog(opts.Store, opts.AuditRetention, opts.Logger),
		sent: newSentBook(), sinks: sinks}
	g.sched = NewScheduler(opts.PollInterval, opts.PollJitter, opts.PollConcurrency, g.poll)
	if err := g.twins.restore(opts.Store); err != nil {
		return nil, fmt.Errorf("restore twins from %s: %w", opts.Store.Path(), err)
	}
	if err := g.claims.restore(); err != nil {
		return nil, fmt.Errorf("restore claims from %s: %w", opts.Store.Path(), err)
	}
	if err := g.sent.restore(opts.Store); err != nil {
		return nil, fmt.Errorf("restore sent versions from %s: %w", opts.Store.Path(), err)
	}
	// Pruned first: the first start after an upgrade does not index entries only to delete them.
	g.audit.prune(clock.Now())
	if err := g.audit.index(); err != nil { // read from the whole log meanwhile; tried again at the next start
		g.log.Warn("could not index the audit log by device; a device's entries are read from the whole log", "err", err)
	}
	ids := g.twins.ids()
	if len(ids) > 0 {
		g.log.Info("twins restored", "count", len(ids), "claims", g.claims.len())
	}
	g.checkSent(ids)
	g.ev.refreshEvery, g.ev.refreshOnMiss = indexRefresh, indexRefreshMiss
	g.restoreEvents(clock.Now())
	for _, id := range ids {
		g.sched.Add(id)
	}
	return g, nil
}

// DiscoveryResult is what one pass found.
type DiscoveryResult struct {
	Sightings []Sighting
	Errors    []TargetError
}

// Discover runs one pass of every discoverer at once and merges what they saw into the inventory.
func (g *Gateway) Discover(ctx context.Context) (DiscoveryResult, error) {
	var (
		mu  sync.Mutex
		res DiscoveryResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	errs := make([]error, len(g.opts.Discoverers))
	for i, d := range g.opts.Discoverers {
		wg.Go(func() {
			errs[i] = d.Discover(ctx, func(s Sighting) {
				g.Observe(s)
				mu.Lock()
				res.Sightings = append(res.Sightings, s)
				mu.Unlock()
			}, func(e TargetError) {
				g.log.Warn("discovery failed", "protocol", e.Protocol, "target", e.Address, "err", e.Err)
				mu.Lock()
				res.Errors = append(res.Errors, e)
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	slices.SortFunc(res.Sightings, func(a, b Sighting) int { return cmpStr(a.Protocol+a.Address, b.Protocol+b.Address) })
	slices.SortFunc(res.Errors, func(a, b TargetError) int { return cmpStr(a.Protocol+a.Address, b.Protocol+b.Address) })
	found := map[string]int{}
	for _, s := range res.Sightings {
		found[s.Protocol]++
	}
	g.opts.Observer.DiscoveryDone(time.Since(start), found, len(res.Errors))
	g.expireClaims(clock.Now())
	g.statsMu.Lock()
	g.stats.DiscoveryPasses++
	g.stats.LastDiscovery = clock.Now()
	g.statsMu.Unlock()
	return res, errors.Join(errs...)
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Observe merges one sighting into the inventory: a new device gets a twin and a place in the poll
// schedule; a known one is updated. It returns the device id.
func (g *Gateway) Observe(s Sighting) string {
	// A driver that cannot tell the device's kind leaves it to the profile it matched.
	if k := s.Identity.Kind; (k == "" || k == "other") && s.Profile != "" && g.opts.Profiles != nil {
		if p := g.opts.Profiles.Get(s.Profile); p != nil && p.Kind != "" {
			s.Identity.Kind = p.Kind
		}
	}
	id, src := DeviceID(s)
	now := clock.Now()
	var (
		known, changed bool
		conflicts      []Conflict
		oldSerial      string
		full           Twin
		merged         = s
	)
	unlock := g.devs.lock(id)
	g.twins.upsert(id, func() *Twin {
		return &Twin{DeviceID: id,
			Identity:     TwinIdentity{IDSource: src},
			Reported:     Properties{Values: map[string]Value{}},
			Desired:      Properties{Values: map[string]Value{}},
			Connectivity: Connectivity{State: StateOnline, Since: now},
			Claim:        ClaimStatus{State: ClaimUnclaimed},
		}
	}, func(t *Twin, k bool) {
		known, oldSerial = k, t.Identity.Serial
		changed, conflicts = ranker(g.opts.Ranks).merge(t, s, now)
		if (!known || changed) && t.Claim.State == ClaimClaimed {
			full = t.clone()
		}
		// The claim handshake uses the device's serial by protocol precedence, not whatever the latest
		// protocol said: an mDNS TXT record cannot overrule the serial SNMP reads from the hardware.
		merged.Identity.MAC, merged.Identity.Serial = t.Identity.MAC, t.Identity.Serial
	})
	if full.DeviceID != "" {
		if err := g.commit(Outgoing{Twins: []Twin{full}}, nil); err != nil {
			g.sent.markResync(id) // sent in full again once the store writes
			g.log.Debug("could not keep a full twin for the cloud", "device", id, "err", err)
		}
	}
	unlock()
	for _, c := range conflicts {
		g.log.Warn("protocols of one device report different serials", "device", id,
			c.Protocol, c.Value, c.OtherProtocol, c.OtherValue)
		g.Audit(AuditEntry{DeviceID: id, MAC: merged.Identity.MAC, Action: "identity conflict", By: "discovery",
			Old: c.OtherProtocol + ": " + c.OtherValue, New: c.Protocol + ": " + c.Value,
			Detail: c.Field + " differs between " + c.OtherProtocol + " and " + c.Protocol + "; the twin keeps " + merged.Identity.Serial})
	}
	g.checkClaim(id, merged)
	g.addressesChanged()
	switch {
	case !known:
		g.log.Info("device discovered", "device", id, "protocol", s.Protocol, "address", s.Address,
			"manufacturer", s.Identity.Manufacturer, "model", s.Identity.Model, "serial", s.Identity.Serial, "profile", s.Profile)
		g.sched.Add(id)
	case oldSerial != "" && s.Identity.Serial != "" && oldSerial != s.Identity.Serial:
		g.log.Warn("device answers with another serial", "device", id, "old_serial", oldSerial, "new_serial", s.Identity.Serial)
	case changed:
		g.log.Info("device identity changed", "device", id, "protocol", s.Protocol, "address", s.Address)
	}
	return id
}

// Twins returns a copy of every twin, sorted by device id.
func (g *Gateway) Twins() []Twin { return g.twins.all() }

// Twin returns a copy of one twin.
func (g *Gateway) Twin(id string) (Twin, bool) { return g.twins.get(id) }

// Stats returns the work counters.
func (g *Gateway) Stats() Stats {
	g.statsMu.Lock()
	st := g.stats
	g.statsMu.Unlock()
	st.PollsLate = int(g.sched.Late())
	return st
}

// Run is RunDiscovery and RunPolling together, for tools and tests that want the whole gateway in one
// call; a daemon runs them as separate parts so that discovery stops taking devices in before the
// polls drain.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { g.RunDiscovery(ctx) })
	err := g.RunPolling(ctx)
	wg.Wait()
	return err
}

// RunDiscovery discovers at once and then every DiscoveryInterval until ctx ends, sooner after a pass
// in which a target failed. A pass cut short by the cancel is abandoned; what it had found is already
// in the inventory.
func (g *Gateway) RunDiscovery(ctx context.Context) error {
	retry := firstDiscoveryRetry
	for {
		res, err := g.Discover(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			g.log.Warn("discovery pass ended with an error", "err", err)
		}
		// A target that did not answer (a device still booting, a switch port coming up) is tried again
		// sooner than the interval: after 10 s, then twice as long each time, up to the interval.
		wait := g.opts.DiscoveryInterval
		if len(res.Errors) > 0 && retry < wait {
			wait, retry = retry, retry*2
		} else if len(res.Errors) == 0 {
			retry = firstDiscoveryRetry
		}
		g.log.Info("discovery pass done", "found", len(res.Sightings), "failed", len(res.Errors), "devices", g.sched.Len(),
			"next_in", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// firstDiscoveryRetry is how soon a discovery pass with failed targets is repeated, the first time.
const firstDiscoveryRetry = 10 * time.Second

// RunPolling polls every device on its schedule and writes changed twins to the store every
// FlushInterval. On cancel it stops polling, waits for the polls in flight, and writes what is left
// before returning; the error is that final write's.
func (g *Gateway) RunPolling(ctx context.Context) error {
	g.polling.Store(true)
	defer g.polling.Store(false)
	var wg sync.WaitGroup
	wg.Go(func() { g.sched.Run(ctx) })
	wg.Go(func() {
		t := time.NewTicker(g.opts.FlushInterval)
		defer t.Stop()
		prune := time.NewTicker(g.opts.PruneEvery)
		defer prune.Stop()
		for {
			select {
			case <-t.C:
				// Twins only polls changed are written a share at a time, each within lazyEvery.
				if err := g.flush(float64(g.opts.FlushInterval) / float64(lazyEvery)); err != nil && !storeErr(err) {
					g.log.Error("writing twins to the state store failed", "err", err)
				}
				g.catchUp()
			case <-prune.C:
				g.audit.prune(clock.Now())
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Wait()
	g.waitEventPolls()
	if err := g.Flush(); err != nil {
		return fmt.Errorf("final write of twins: %w", err)
	}
	return nil
}

// Flush writes every changed twin to the store in one transaction.
func (g *Gateway) Flush() error { return g.flush(1) }

// flush writes the changed twins, lazily changed ones a share at a time (see twinSet.flush).
func (g *Gateway) flush(share float64) error {
	start := time.Now()
	n, err := g.twins.flush(g.opts.Store, share)
	if n > 0 || err != nil {
		g.opts.Observer.FlushDone(time.Since(start), n, err)
	}
	return err
}

// PollNow polls one device at once, outside its schedule.
func (g *Gateway) PollNow(ctx context.Context, id string) error {
	if _, ok := g.Twin(id); !ok {
		return fmt.Errorf("no device %s", id)
	}
	g.poll(ctx, id)
	t, _ := g.Twin(id)
	if t.Connectivity.LastError != "" && t.Connectivity.Missed > 0 {
		return errors.New(t.Connectivity.LastError)
	}
	return nil
}

// poll reads one device's profile points over each of its protocols and records the outcome.
func (g *Gateway) poll(ctx context.Context, id string) {
	var (
		eps         []EndpointRef
		twinProfile string
		skip        bool
	)
	ok := g.twins.view(id, func(t *Twin) {
		eps, twinProfile = slices.Clone(t.Endpoints), t.Profile
		// Only claimed devices are polled at full rate; the others often enough to keep their twin alive.
		skip = t.Claim.State != ClaimClaimed && !t.Connectivity.LastPoll.IsZero() &&
			clock.Now().Sub(t.Connectivity.LastPoll) < time.Duration(g.opts.UnclaimedEvery-1)*g.opts.PollInterval
	})
	if !ok {
		g.sched.Remove(id)
		return
	}
	if skip {
		return
	}

	vals := map[string]Value{}
	var pollErr error
	polled := false
	for _, ep := range eps {
		poller, ok := g.opts.Pollers[ep.Protocol]
		if !ok {
			continue
		}
		polled = true
		var points []Point
		if p := g.profileFor(ep, twinProfile); p != nil {
			points = p.Points
		}
		start := time.Now()
		rs, err := poller.Poll(ctx, ep.Endpoint, points)
		if ctx.Err() != nil {
			return // shutting down: not the device's fault
		}
		g.opts.Observer.PollDone(ep.Protocol, time.Since(start), err)
		if err != nil {
			pollErr = err
			continue
		}
		for _, r := range rs {
			if r.Err != nil {
				g.log.Debug("point not read", "device", id, "point", r.Name, "err", r.Err)
				continue
			}
			vals[r.Name] = r.Value
		}
	}
	if !polled {
		return
	}
	g.statsMu.Lock()
	g.stats.Polls++
	if pollErr != nil && len(vals) == 0 {
		g.stats.PollErrors++
	}
	g.statsMu.Unlock()
	g.record(id, vals, pollErr)
}

// record applies a poll's outcome: values into reported, connectivity debounced.
func (g *Gateway) record(id string, vals map[string]Value, pollErr error) {
	now := clock.Now()
	var (
		patch            *Patch
		prevState, state string
		lastErr, mac     string
		claimed          bool
	)
	// The device's stripe from the version's change until its patch is committed: patches and full
	// twins of one device reach the outbox in version order.
	unlock := g.devs.lock(id)
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	ok := g.twins.updatePoll(id, func(t *Twin) bool {
		c := &t.Connectivity
		c.LastPoll = now
		prevState = c.State
		if pollErr != nil && len(vals) == 0 {
			c.Missed++
			c.LastError = pollErr.Error()
			if c.Missed >= g.opts.OfflineAfter && c.State != StateOffline {
				c.State, c.Since = StateOffline, now
			}
		} else {
			c.Missed = 0
			c.LastError = ""
			if pollErr != nil {
				c.LastError = pollErr.Error()
			}
			if c.State != StateOnline {
				c.State, c.Since = StateOnline, now
			}
		}
		patch = t.Reported.apply(id, vals)
		lastErr, state = c.LastError, c.State
		claimed = t.Claim.State == ClaimClaimed
		mac = t.Identity.MAC
		return state != prevState // a connectivity change is written at once
	})
	if !ok {
		return
	}
	if claimed && patch != nil {
		if g.log.Enabled(context.Background(), slog.LevelDebug) {
			g.log.Debug("reported", "device", id, "version", patch.Version, "changed", formatValues(patch.Values))
		}
		g.commitPatch(id, *patch)
	}
	unlock()
	unlock = nil

	if state != prevState {
		if state == StateOffline {
			g.log.Warn("device offline", "device", id, "missed_polls", g.opts.OfflineAfter, "err", lastErr)
		} else {
			g.log.Info("device online", "device", id)
		}
		if prevState != StateUnknown && prevState != "" {
			g.Audit(AuditEntry{DeviceID: id, MAC: mac, Action: "connectivity", Old: prevState, New: state, By: "poll", Detail: lastErr})
		}
	}
	if !claimed {
		return // nothing of an unclaimed device goes up
	}
	if len(vals) > 0 {
		g.sendReadings(id, now, vals)
	}
}

// Counts returns how many devices the inventory holds, how many are online and how many are claimed.
func (g *Gateway) Counts() (discovered, online, claimed int) { return g.twins.counts() }
