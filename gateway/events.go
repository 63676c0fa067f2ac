package gateway

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/clock"
)

// Events are what devices report on their own, between polls: an SNMP trap or inform that a UPS went on
// battery. A driver that receives them (a Listener) finds the device by the sender's address
// (DeviceAt), names the event from the device's profile, and hands it to RecordEvent. The gateway keeps
// them in the state store (bucket "events"), keeps the conditions they raise in the twin's `events`,
// audits those of severity warning and up, sends them up when the device is claimed (Sink.Event), and polls
// the device at once so that its reported values catch up.

// Severities of an event, lowest first.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Severities lists the severities in order.
var Severities = []string{SeverityInfo, SeverityWarning, SeverityCritical}

// SeverityRank orders severities: info 0, warning 1, critical 2; -1 for an unknown one.
func SeverityRank(s string) int { return slices.Index(Severities, s) }

// EventRule is one [[profile.event]] of a profile: a notification a device may send, with its name.
type EventRule struct {
	// Name is the event's name, camelCase ("onBattery").
	Name string `json:"name"`
	// Severity is info, warning or critical.
	Severity    string `json:"severity"`
	Description string `json:"description,omitempty"`
	// Match says which notifications are this event, and Clear which end it, in the terms of the
	// profile's protocol (its driver decodes and applies both). A rule with a Clear raises a condition
	// that stays active until a notification Clear matches; one without is a momentary event.
	Match any `json:"match"`
	Clear any `json:"clear,omitempty"`
	// Set are reported values the event implies, applied as it arrives (the poll it triggers confirms
	// them): outputSource = "battery" for onBattery. Each names a point of the profile.
	Set map[string]Value `json:"set,omitempty"`
}

// Varbind is one value a notification carried, as text.
type Varbind struct {
	OID   string `json:"oid"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Event is one thing a device reported on its own.
type Event struct {
	// ID is unique and sorts by time: 24 hex digits.
	ID       string    `json:"id"`
	DeviceID string    `json:"deviceId"`
	Name     string    `json:"name"`
	Severity string    `json:"severity"`
	Time     time.Time `json:"time"`
	// Source is where the notification came from ("127.0.10.3:161"); for an SNMPv1 trap relayed by
	// another host, the sender, while the device was found by the trap's agent address.
	Source string `json:"source"`
	// TrapOID identifies the notification: the SNMP trap OID (snmpTrapOID.0, or the RFC 3584
	// translation of a v1 trap).
	TrapOID string `json:"trapOid"`
	// Active says the condition this event raised is still active: set while the device has not sent
	// the event that clears it. False for momentary events and for the clearing event itself.
	Active bool `json:"active"`
	// Condition marks an event that raises (or repeats) a condition lasting until a clearing event.
	Condition bool `json:"condition,omitempty"`
	// Instance tells conditions of one name apart (the interface of a linkDown: its ifIndex).
	Instance string `json:"instance,omitempty"`
	// Clears names the conditions this event ends: "onBattery", or "linkDown[3]" for one instance.
	Clears      []string `json:"clears,omitempty"`
	Description string   `json:"description,omitempty"`
	// Protocol is the notification's protocol ("snmp"); Mapped is false for a notification no profile
	// names (then Name is the driver's generic name and Severity info).
	Protocol string    `json:"protocol"`
	Mapped   bool      `json:"mapped"`
	Varbinds []Varbind `json:"varbinds,omitempty"`
	// Set are the reported values the event implies (EventRule.Set); applied, not stored.
	Set map[string]Value `json:"-"`
}

// Condition is one entry of a twin's `events`: a condition a device raised, active until the event that
// clears it, kept for a while after.
type Condition struct {
	Name     string `json:"name"`
	Instance string `json:"instance,omitempty"`
	Severity string `json:"severity"`
	Active   bool   `json:"active"`
	// Since is when the condition was raised; Cleared when it ended.
	Since   time.Time `json:"since"`
	Cleared time.Time `json:"cleared,omitzero"`
	// Last is the latest event that raised it again while active, Count how many did in all.
	Last  time.Time `json:"last"`
	Count int       `json:"count"`
	// EventID is the event that raised it; TrapOID that event's notification.
	EventID string `json:"eventId"`
	TrapOID string `json:"trapOid,omitempty"`
}

// Bounds of the event state.
const (
	// maxConditions bounds a twin's `events`; cleared conditions go first.
	maxConditions = 32
	// keepCleared is how long a cleared condition stays in the twin.
	keepCleared = 24 * time.Hour
	// indexRefresh and indexRefreshMiss bound how often the address index is rebuilt while sightings
	// come in: at most once a second, or every 100 ms when a lookup missed (a device that just moved).
	indexRefresh     = time.Second
	indexRefreshMiss = 100 * time.Millisecond
	// maxStoredEvents bounds the event log; the oldest tenth goes when it is reached.
	maxStoredEvents = 100_000
)

// bucketEvents holds the event log: key = 8-byte big-endian unix nanoseconds + 4-byte sequence (the
// event's ID is its hex), value = JSON Event.
const bucketEvents = "events"

// EventSink is where a Listener delivers what devices send on their own. *Gateway is one.
type EventSink interface {
	// DeviceAt names the device that sends from addr over protocol, and the profile of its endpoint of
	// that protocol; false when no device has that address, or more than one could be meant.
	DeviceAt(protocol string, addr netip.AddrPort) (DeviceRef, bool)
	// RecordEvent records an event of a known device and returns it as recorded (ID, Time, Active).
	RecordEvent(ctx context.Context, e Event) (Event, error)
}

// DeviceRef is a device as DeviceAt found it.
type DeviceRef struct {
	ID string
	// Profile is the profile of the device's endpoint of the protocol asked about, or else the twin's.
	Profile string
}

// Listener is a driver that receives notifications devices send on their own (SNMP traps and informs).
// Listen receives until ctx is cancelled (then it returns nil) or it cannot go on (an error: the
// address is taken, the port needs a privilege).
type Listener interface {
	Listen(ctx context.Context, sink EventSink) error
}

// ListenerStats is what a Listener counts, for `edgegw events --stats` and troubleshooting.
type ListenerStats struct {
	Protocol string `json:"protocol"`
	// Address is where it listens ("" before it does); EngineID its SNMPv3 engine id, in hex.
	Address  string `json:"address"`
	EngineID string `json:"engineId,omitempty"`
	// Counts by name: received, accepted, rate_limited, bad_community, unknown_source, ...
	Counts map[string]uint64 `json:"counts"`
}

// StatsReporter is a Listener that counts what it received.
type StatsReporter interface {
	ListenerStats() ListenerStats
}

var _ EventSink = (*Gateway)(nil)

// events is the gateway's event state besides the twins: the address index, the event log's sequence,
// the polls that events asked for. It has its own lock; twin conditions live in the twins, under g.mu.
type events struct {
	mu sync.Mutex
	// stale marks the address index out of date (a sighting came in); it is rebuilt at the next lookup.
	stale bool
	// exact maps an endpoint's address to the device, by protocol; byIP the devices of an IP address.
	exact map[string]map[netip.AddrPort]DeviceRef
	byIP  map[netip.Addr][]ipOwner
	// built is when the index was last built; refreshEvery and refreshOnMiss bound how often it is
	// rebuilt (indexRefresh, indexRefreshMiss; tests set them to zero).
	built                       time.Time
	refreshEvery, refreshOnMiss time.Duration
	seq                         uint32
	// stored counts the stored events, for the bound.
	stored int
	// polling holds the devices whose event-triggered poll is pending or running.
	polling map[string]bool
	wg      sync.WaitGroup
}

// ipOwner is a device that has an IP address: through an endpoint of protocol (Protocol set) or only in
// its identity.
type ipOwner struct {
	ref      DeviceRef
	protocol string
}

// addressesChanged marks the address index stale: called when a sighting may have moved an address.
func (g *Gateway) addressesChanged() {
	g.ev.mu.Lock()
	g.ev.stale = true
	g.ev.mu.Unlock()
}

// DeviceAt finds the device that sends from addr: the device whose endpoint of protocol is that very
// address and port; else the one device with an endpoint of protocol on that IP address; else the one
// device whose identity names that IP address. Several candidates are no answer: an event must not land
// on the wrong twin.
func (g *Gateway) DeviceAt(protocol string, addr netip.AddrPort) (DeviceRef, bool) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	g.rebuildIndex(false)
	ref, ok := g.lookup(protocol, addr)
	if !ok && g.rebuildIndex(true) {
		ref, ok = g.lookup(protocol, addr)
	}
	return ref, ok
}

// lookup answers DeviceAt from the index as it is.
func (g *Gateway) lookup(protocol string, addr netip.AddrPort) (DeviceRef, bool) {
	g.ev.mu.Lock()
	defer g.ev.mu.Unlock()
	if ref, ok := g.ev.exact[protocol][addr]; ok {
		return ref, true
	}
	owners := g.ev.byIP[addr.Addr()]
	pick := func(match func(ipOwner) bool) (DeviceRef, bool, bool) {
		var found DeviceRef
		n := 0
		for _, o := range owners {
			if match(o) && o.ref.ID != found.ID {
				found = o.ref
				n++
			}
		}
		return found, n == 1, n > 1
	}
	if ref, one, many := pick(func(o ipOwner) bool { return o.protocol == protocol }); one {
		return ref, true
	} else if many {
		return DeviceRef{}, false
	}
	ref, one, _ := pick(func(ipOwner) bool { return true })
	return ref, one
}

// rebuildIndex rebuilds the address index from the twins when it is stale, at most once per
// indexRefresh (a discovery pass marks it stale at every sighting; a rebuild copies every twin), or,
// after a lookup missed (miss), once per indexRefreshMiss. It reports whether it rebuilt.
func (g *Gateway) rebuildIndex(miss bool) bool {
	g.ev.mu.Lock()
	wait := g.ev.refreshEvery
	if miss {
		wait = g.ev.refreshOnMiss
	}
	if !g.ev.stale && g.ev.exact != nil || g.ev.exact != nil && time.Since(g.ev.built) < wait {
		g.ev.mu.Unlock()
		return false
	}
	g.ev.stale = false
	g.ev.mu.Unlock()
	exact := map[string]map[netip.AddrPort]DeviceRef{}
	byIP := map[netip.Addr][]ipOwner{}
	for _, t := range g.twins.all() {
		id := t.DeviceID
		for _, ep := range t.Endpoints {
			ref := DeviceRef{ID: id, Profile: ep.Profile}
			if ref.Profile == "" {
				ref.Profile = t.Profile
			}
			ap, ip, ok := parseHostPort(ep.Address)
			if !ok {
				continue
			}
			if ap.IsValid() {
				if exact[ep.Protocol] == nil {
					exact[ep.Protocol] = map[netip.AddrPort]DeviceRef{}
				}
				exact[ep.Protocol][ap] = ref
			}
			byIP[ip] = append(byIP[ip], ipOwner{ref: ref, protocol: ep.Protocol})
		}
		for _, s := range []string{t.Identity.IP, t.Identity.Network.IPv4, t.Identity.Network.IPv6} {
			s, _, _ = strings.Cut(s, "/")
			if ip, err := netip.ParseAddr(s); err == nil {
				byIP[ip.Unmap()] = append(byIP[ip.Unmap()], ipOwner{ref: DeviceRef{ID: id, Profile: t.Profile}})
			}
		}
	}
	g.ev.mu.Lock()
	g.ev.exact, g.ev.byIP, g.ev.built = exact, byIP, time.Now()
	g.ev.mu.Unlock()
	return true
}

// parseHostPort reads an endpoint address: "ip:port" (ap valid) or a bare IP; host names are not
// resolved here (a trap names no host).
func parseHostPort(s string) (ap netip.AddrPort, ip netip.Addr, ok bool) {
	if a, err := netip.ParseAddrPort(s); err == nil {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		return a, a.Addr(), true
	}
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPort{}, a.Unmap(), true
	}
	return netip.AddrPort{}, netip.Addr{}, false
}

// RecordEvent records one event of a known device: its conditions in the twin are raised or cleared,
// the values it implies are reported, it is stored, audited when its severity is warning or higher and
// it changed a condition (a repeat of an active one is not), sent up when the device is claimed, and the
// device is polled at once (one such poll per device at a time).
func (g *Gateway) RecordEvent(ctx context.Context, e Event) (Event, error) {
	if e.DeviceID == "" || e.Name == "" {
		return e, errors.New("an event needs a device and a name")
	}
	if SeverityRank(e.Severity) < 0 {
		e.Severity = SeverityInfo
	}
	if e.Time.IsZero() {
		e.Time = clock.Now()
	}
	e.Time = e.Time.UTC()
	key := g.eventKey(e.Time)
	e.ID = hex.EncodeToString([]byte(key))

	var (
		changed []string // what changed in the conditions, for the audit
		patch   *Patch
		claimed bool
		mac     string
	)
	e.Active = e.Condition
	// The device's stripe from the twin's change to the commit of its patch (commit.go).
	unlock := g.devs.lock(e.DeviceID)
	ok := g.twins.update(e.DeviceID, func(t *Twin) {
		for _, name := range e.Clears {
			for i := range t.Events {
				c := &t.Events[i]
				if c.Active && condName(c.Name, c.Instance) == name {
					c.Active, c.Cleared = false, e.Time
					changed = append(changed, "cleared "+condName(c.Name, c.Instance))
				}
			}
		}
		if e.Condition {
			i := slices.IndexFunc(t.Events, func(c Condition) bool { return c.Name == e.Name && c.Instance == e.Instance })
			switch {
			case i >= 0 && t.Events[i].Active:
				c := &t.Events[i]
				c.Last = e.Time
				c.Count++
				if SeverityRank(e.Severity) > SeverityRank(c.Severity) {
					c.Severity = e.Severity
				}
			default:
				if i >= 0 {
					t.Events = slices.Delete(t.Events, i, i+1)
				}
				t.Events = append(t.Events, Condition{Name: e.Name, Instance: e.Instance, Severity: e.Severity, Active: true,
					Since: e.Time, Last: e.Time, Count: 1, EventID: e.ID, TrapOID: e.TrapOID})
				changed = append(changed, "raised "+condName(e.Name, e.Instance))
			}
		}
		t.Events = pruneConditions(t.Events, e.Time)
		if len(e.Set) > 0 {
			patch = t.Reported.apply(e.DeviceID, e.Set)
		}
		claimed = t.Claim.State == ClaimClaimed
		mac = t.Identity.MAC
	})
	if !ok {
		unlock()
		return e, fmt.Errorf("no device %s", e.DeviceID)
	}
	// The event, and what goes up of it (the event, the patch its values make): one transaction.
	var out Outgoing
	if claimed {
		out.Events = []Event{e}
		if patch != nil {
			out.Patches = []Patch{*patch}
		}
	}
	write, err := g.eventWriter(key, e)
	if err == nil {
		err = g.commit(out, write)
	}
	unlock()
	if err == nil {
		g.eventStored()
	} else {
		if claimed {
			// The conditions it raised or cleared, and its values, go up with the full twin once the
			// store writes.
			g.sent.markResync(e.DeviceID)
		}
		if !storeErr(err) {
			g.log.Error("could not store an event", "device", e.DeviceID, "event", e.Name, "err", err)
		}
	}
	lvl := slog.LevelInfo
	if SeverityRank(e.Severity) >= SeverityRank(SeverityWarning) {
		lvl = slog.LevelWarn
	}
	g.log.Log(ctx, lvl, "device event", "device", e.DeviceID, "event", e.Name, "severity", e.Severity,
		"instance", e.Instance, "source", e.Source, "trap_oid", e.TrapOID, "active", e.Active, "clears", strings.Join(e.Clears, ","))
	if SeverityRank(e.Severity) >= SeverityRank(SeverityWarning) && (len(changed) > 0 || !e.Condition) {
		detail := e.Description
		if len(changed) > 0 {
			detail = strings.Join(changed, "; ")
		}
		g.Audit(AuditEntry{Time: e.Time, DeviceID: e.DeviceID, MAC: mac, Action: "event", New: condName(e.Name, e.Instance),
			By: e.Protocol, Detail: fmt.Sprintf("%s %s from %s: %s", e.Severity, e.TrapOID, e.Source, detail)})
	}
	g.pollSoon(ctx, e.DeviceID)
	return e, nil
}

func condName(name, instance string) string {
	if instance == "" {
		return name
	}
	return name + "[" + instance + "]"
}

// pruneConditions drops cleared conditions older than keepCleared, then the oldest cleared ones (and
// last, the oldest active ones) beyond maxConditions.
func pruneConditions(cs []Condition, now time.Time) []Condition {
	cs = slices.DeleteFunc(cs, func(c Condition) bool { return !c.Active && now.Sub(c.Cleared) > keepCleared })
	for len(cs) > maxConditions {
		oldest := -1
		for i, c := range cs {
			if !c.Active && (oldest < 0 || c.Cleared.Before(cs[oldest].Cleared)) {
				oldest = i
			}
		}
		if oldest < 0 {
			oldest = 0 // all active: the oldest raised goes
		}
		cs = slices.Delete(cs, oldest, oldest+1)
	}
	return cs
}

// pollSoon polls the device outside its schedule, at most once at a time per device: a burst of events
// from one device asks for one poll.
func (g *Gateway) pollSoon(ctx context.Context, id string) {
	if ctx.Err() != nil {
		return
	}
	g.ev.mu.Lock()
	if g.ev.polling == nil {
		g.ev.polling = map[string]bool{}
	}
	if g.ev.polling[id] {
		g.ev.mu.Unlock()
		return
	}
	g.ev.polling[id] = true
	g.ev.wg.Add(1)
	g.ev.mu.Unlock()
	go func() {
		defer g.ev.wg.Done()
		defer func() {
			g.ev.mu.Lock()
			delete(g.ev.polling, id)
			g.ev.mu.Unlock()
		}()
		if err := g.PollNow(ctx, id); err != nil && ctx.Err() == nil {
			g.log.Debug("poll after an event failed", "device", id, "err", err)
		}
	}()
}

// waitEventPolls waits for the polls that events started.
func (g *Gateway) waitEventPolls() { g.ev.wg.Wait() }

// eventKey makes a store key for an event at t: 8-byte nanoseconds and a 4-byte sequence.
func (g *Gateway) eventKey(t time.Time) string {
	g.ev.mu.Lock()
	g.ev.seq++
	seq := g.ev.seq
	g.ev.mu.Unlock()
	var k [12]byte
	binary.BigEndian.PutUint64(k[:8], uint64(t.UnixNano()))
	binary.BigEndian.PutUint32(k[8:], seq)
	return string(k[:])
}

// eventWriter is the write that keeps an event in the store, for a transaction of the caller's.
func (g *Gateway) eventWriter(key string, e Event) (func(w store.Writer) error, error) {
	e.Set = nil
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return func(w store.Writer) error { return w.Put(bucketEvents, key, b) }, nil
}

// eventStored counts a stored event, and prunes the stored ones beyond maxStoredEvents.
func (g *Gateway) eventStored() {
	g.ev.mu.Lock()
	g.ev.stored++
	full := g.ev.stored > maxStoredEvents
	g.ev.mu.Unlock()
	if full {
		g.pruneEvents(time.Time{}, maxStoredEvents/10)
	}
}

// pruneEvents deletes stored events older than before, and then the oldest n more.
func (g *Gateway) pruneEvents(before time.Time, n int) {
	cut := before.UnixNano()
	var old []string
	total := 0
	g.opts.Store.ForEach(bucketEvents, func(key string, _ []byte) error {
		total++
		// Keys sort by time: the old ones come first, then the oldest n of the rest.
		switch {
		case len(key) == 12 && !before.IsZero() && int64(binary.BigEndian.Uint64([]byte(key[:8]))) < cut:
			old = append(old, key)
		case n > 0:
			old = append(old, key)
			n--
		}
		return nil
	})
	err := g.opts.Store.Write(func(w store.Writer) error {
		for _, k := range old {
			if err := w.Delete(bucketEvents, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		g.log.Error("could not delete old events", "err", err)
		return
	}
	g.ev.mu.Lock()
	g.ev.stored = total - len(old)
	g.ev.mu.Unlock()
	if len(old) > 0 {
		g.log.Info("old events deleted", "count", len(old))
	}
}

// restoreEvents counts the stored events and deletes those past the audit retention.
func (g *Gateway) restoreEvents(now time.Time) {
	g.pruneEvents(now.Add(-g.opts.AuditRetention), 0)
}

// Events returns the events since since (zero: all), of one device if deviceID is set, oldest first;
// at most limit of the newest (zero: all). Active says whether the condition an event raised is still
// active now.
func (g *Gateway) Events(deviceID string, since time.Time, limit int) ([]Event, error) {
	var out []Event
	keep := func(e Event) {
		if (deviceID == "" || e.DeviceID == deviceID) && (since.IsZero() || !e.Time.Before(since)) {
			out = append(out, e)
		}
	}
	err := g.opts.Store.ForEach(bucketEvents, func(key string, value []byte) error {
		if len(key) == 12 && !since.IsZero() && int64(binary.BigEndian.Uint64([]byte(key[:8]))) < since.UnixNano() {
			return nil
		}
		var e Event
		if err := json.Unmarshal(value, &e); err != nil {
			return fmt.Errorf("event %x: %w", key, err)
		}
		keep(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	conds := map[string][]Condition{}
	for i := range out {
		e := &out[i]
		e.Active = false
		if !e.Condition {
			continue
		}
		cs, seen := conds[e.DeviceID]
		if !seen {
			if t, ok := g.twins.get(e.DeviceID); ok {
				cs = t.Events
			}
			conds[e.DeviceID] = cs
		}
		for _, c := range cs {
			if c.Active && c.Name == e.Name && c.Instance == e.Instance && !e.Time.Before(c.Since) {
				e.Active = true
			}
		}
	}
	return out, nil
}
