package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/clock"
)

// Claim states (DESIGN.md, Claiming).
const (
	ClaimUnclaimed = "unclaimed"
	ClaimPending   = "pending"
	ClaimClaimed   = "claimed"
	ClaimRejected  = "rejected"
	ClaimMismatch  = "mismatch"
)

// DefaultGroup is where claimed devices land unless a group is given.
const DefaultGroup = "Unassociated Devices"

// bucketClaims holds one JSON Claim per MAC.
const bucketClaims = "claims"

// Claim is an operator's claim on a device: the MAC finds it, the serial read live from it is the
// handshake.
type Claim struct {
	MAC      string    `json:"mac"`
	Serial   string    `json:"serial"`
	Group    string    `json:"group"`
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	DeviceID string    `json:"deviceId,omitempty"`
	By       string    `json:"by,omitempty"` // "cli", "csv", "cloud"
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// Expires is when a pending claim gives up.
	Expires time.Time `json:"expires,omitzero"`
}

// Reidentifier reads a device's identity again, live: the serial handshake of a claim.
type Reidentifier interface {
	Reidentify(ctx context.Context, ep Endpoint) (Sighting, error)
}

// ErrNoClaim is an unclaim of a MAC or device nobody claimed.
var ErrNoClaim = errors.New("no claim")

// claimBook is every claim by MAC, kept in the store. Its map lock guards lookups; change serialises
// whole changes (the book, the twins' claim sections and the audit together), so two of them never
// interleave. Lock order: change, then the book's or the twins' lock, never the other way.
type claimBook struct {
	st     Store
	change sync.Mutex

	mu    sync.Mutex
	byMAC map[string]*Claim
}

func newClaimBook(st Store) *claimBook {
	return &claimBook{st: st, byMAC: map[string]*Claim{}}
}

// restore loads the claims from the store.
func (b *claimBook) restore() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st.ForEach(bucketClaims, func(key string, value []byte) error {
		var c Claim
		if err := json.Unmarshal(value, &c); err != nil {
			return fmt.Errorf("claim %s: %w", key, err)
		}
		b.byMAC[key] = &c
		return nil
	})
}

func (b *claimBook) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byMAC)
}

// get returns the claim on mac.
func (b *claimBook) get(mac string) (Claim, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.byMAC[mac]
	if !ok {
		return Claim{}, false
	}
	return *c, true
}

// ofDevice returns the claim that names the device id: a scan, as only an unclaim by id asks. Where
// claims of two MACs name it, the claimed one, then the one of the lowest MAC.
func (b *claimBook) ofDevice(id string) (Claim, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	better := func(c, than *Claim) bool {
		if claimed := c.State == ClaimClaimed; claimed != (than.State == ClaimClaimed) {
			return claimed
		}
		return c.MAC < than.MAC
	}
	var found *Claim
	for _, c := range b.byMAC {
		if id != "" && c.DeviceID == id && (found == nil || better(c, found)) {
			found = c
		}
	}
	if found == nil {
		return Claim{}, false
	}
	return *found, true
}

// list returns every claim, by MAC.
func (b *claimBook) list() []Claim {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Claim, 0, len(b.byMAC))
	for _, mac := range slices.Sorted(maps.Keys(b.byMAC)) {
		out = append(out, *b.byMAC[mac])
	}
	return out
}

// expired returns the pending claims past their time.
func (b *claimBook) expired(now time.Time) []Claim {
	b.mu.Lock()
	defer b.mu.Unlock()
	var due []Claim
	for _, c := range b.byMAC {
		if c.State == ClaimPending && !c.Expires.IsZero() && now.After(c.Expires) {
			due = append(due, *c)
		}
	}
	return due
}

// previous returns each claim's standing one on its MAC (zero when there is none).
func (b *claimBook) previous(cs []*Claim) []Claim {
	b.mu.Lock()
	defer b.mu.Unlock()
	prev := make([]Claim, len(cs))
	for i, c := range cs {
		if old, ok := b.byMAC[c.MAC]; ok {
			prev[i] = *old
		}
	}
	return prev
}

// write stores claims, for a transaction of the caller's.
func (b *claimBook) write(w store.Writer, cs []*Claim) error {
	for _, c := range cs {
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if err := w.Put(bucketClaims, c.MAC, v); err != nil {
			return err
		}
	}
	return nil
}

// apply puts stored claims in the book: only once the store took them are they in effect. b.change
// must be held.
func (b *claimBook) apply(cs []*Claim) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range cs {
		cp := *c
		b.byMAC[c.MAC] = &cp
	}
}

// forget removes the claim on mac from the book, once the store has forgotten it. b.change must be
// held.
func (b *claimBook) forget(mac string) {
	b.mu.Lock()
	delete(b.byMAC, mac)
	b.mu.Unlock()
}

// Claim claims the device with mac by its serial. If the device is known, its serial is read from it
// live and compared: claimed or rejected. If it is not known yet (or does not answer), the claim is
// pending and is checked again at every discovery until ClaimTTL. Claiming again with the same serial
// and group changes nothing.
//
// A rejected attempt on a MAC that has a standing claim (claimed, pending or mismatch) leaves that
// claim as it was and is only audited: otherwise anyone able to send a claim could knock a claimed
// device off the cloud with a wrong serial.
func (g *Gateway) Claim(ctx context.Context, mac, serial, group, by string) (Claim, error) {
	c, changed, err := g.evaluateClaim(ctx, mac, serial, group, by)
	if err != nil || !changed {
		return c, err
	}
	if g.keepStanding(&c, by) {
		return c, nil
	}
	refused, err := g.recordClaims(ctx, []*Claim{&c}, by)
	if err != nil {
		return c, err
	}
	if refused[0] != nil {
		return Claim{}, refused[0]
	}
	return c, nil
}

// recordClaims records claims (setClaims) and then looks again at those left pending because no device
// had their MAC. A sighting that came in while they were worked out — after the lookup, before they
// were recorded — was checked by discovery against no claim, so it is checked here: either discovery
// sees the claim or this sees the device, never neither.
func (g *Gateway) recordClaims(ctx context.Context, cs []*Claim, by string) (refused []error, err error) {
	refused, err = g.setClaims(cs, by)
	if err != nil {
		return refused, err
	}
	var again []*Claim
	for i, c := range cs {
		if c.State != ClaimPending || c.DeviceID != "" || refused[i] != nil {
			continue
		}
		if _, _, known := g.deviceByMAC(c.MAC); !known {
			continue
		}
		nc, changed, err := g.evaluateClaim(ctx, c.MAC, c.Serial, c.Group, by)
		if err != nil || !changed || g.keepStanding(&nc, by) {
			continue
		}
		*c = nc
		again = append(again, c)
	}
	if _, err := g.setClaims(again, by); err != nil {
		// The pending claims stand; discovery checks them again at its next pass.
		g.log.Warn("could not record the second look at pending claims", "count", len(again), "err", err)
	}
	return refused, nil
}

// keepStanding handles a rejected attempt on a MAC with a standing claim: the attempt is audited, the
// claim stays, and the result says so. It reports whether it did.
func (g *Gateway) keepStanding(c *Claim, by string) bool {
	if c.State != ClaimRejected {
		return false
	}
	standing, ok := g.claims.get(c.MAC)
	if !ok || (standing.State != ClaimClaimed && standing.State != ClaimPending && standing.State != ClaimMismatch) {
		return false
	}
	c.Reason += "; the standing claim (" + standing.State + ") is unchanged"
	g.Audit(AuditEntry{DeviceID: c.DeviceID, MAC: c.MAC, Action: "claim attempt rejected", Old: standing.State,
		New: standing.State, By: by, Detail: c.Reason})
	return true
}

// ClaimResult is the outcome of one row of a bulk claim.
type ClaimResult struct {
	Line  int    `json:"line,omitempty"`
	Claim Claim  `json:"claim"`
	Error string `json:"error,omitempty"`
	// Unchanged is set when the same claim already stood.
	Unchanged bool `json:"unchanged,omitempty"`
	// NotStored is set when the state store could not take the claim (a full disk): it is not in effect.
	NotStored bool `json:"notStored,omitempty"`
	// NotDone is set when the row was not carried out (ErrClaimNotDone): nothing of it was recorded.
	NotDone bool `json:"notDone,omitempty"`
}

// claimWorkers is how many live serial reads a bulk claim runs at once; claimChunk is how many rows
// are recorded per store transaction.
const (
	claimWorkers = 64
	claimChunk   = 1000
)

// ErrClaimNotDone is the error of a bulk-claim row that was not carried out because the claim was cut
// short (client gone, daemon stopping): nothing of it was recorded, and claiming it again does it.
var ErrClaimNotDone = errors.New("not done: the import was interrupted before this row; run it again")

// ClaimMany claims many devices at once (a CSV import, a bulk claim from the cloud). See
// ClaimManyProgress.
func (g *Gateway) ClaimMany(ctx context.Context, rows []ClaimRow, by string) []ClaimResult {
	return g.ClaimManyProgress(ctx, rows, by, nil)
}

// ClaimManyProgress claims many devices at once: rows go in chunks of claimChunk, each chunk's live
// serial checks claimWorkers at a time, then every claim of the chunk with its audit entries and full
// twins in one store transaction (setClaims). Rows beyond the cap on pending claims
// (Options.MaxPending) are refused, each with the reason. When ctx ends (the client went away, the
// daemon is stopping) the chunk under way is dropped whole and the rest are not started: each row is
// either recorded or untouched (its result says ErrClaimNotDone), never half-recorded, so running the
// same import again finishes it, the rows already done coming back Unchanged. progress, when set, is
// called after each chunk with the rows done so far.
func (g *Gateway) ClaimManyProgress(ctx context.Context, rows []ClaimRow, by string, progress func(done, total int)) []ClaimResult {
	out := make([]ClaimResult, len(rows))
	for lo := 0; lo < len(rows); lo += claimChunk {
		hi := min(lo+claimChunk, len(rows))
		if ctx.Err() != nil || !g.claimChunk(ctx, rows[lo:hi], out[lo:hi], by) {
			for i := lo; i < len(rows); i++ {
				out[i] = ClaimResult{Line: rows[i].Line, Claim: Claim{MAC: rows[i].MAC, Serial: rows[i].Serial},
					Error: ErrClaimNotDone.Error(), NotDone: true}
			}
			return out
		}
		if progress != nil {
			progress(hi, len(rows))
		}
	}
	return out
}

// claimChunk evaluates and records one chunk; false when ctx ended before it was recorded.
func (g *Gateway) claimChunk(ctx context.Context, rows []ClaimRow, out []ClaimResult, by string) bool {
	changed := make([]bool, len(rows))
	// Workers over the rows, not a goroutine per row: 100,000 rows would be 100,000 stacks.
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(claimWorkers, len(rows)) {
		wg.Go(func() {
			for i := range next {
				r := rows[i]
				c, ch, err := g.evaluateClaim(ctx, r.MAC, r.Serial, r.Group, by)
				out[i] = ClaimResult{Line: r.Line, Claim: c, Unchanged: err == nil && !ch}
				if err != nil {
					out[i].Error = err.Error()
				}
				changed[i] = err == nil && ch
			}
		})
	}
	for i := range rows {
		next <- i
	}
	close(next)
	wg.Wait()
	// A serial read cut off by ctx looks like a device that did not answer: nothing of this chunk may
	// be recorded from it.
	if ctx.Err() != nil {
		return false
	}
	var batch []*Claim
	var inBatch []int
	for i := range out {
		if changed[i] && !g.keepStanding(&out[i].Claim, by) {
			batch = append(batch, &out[i].Claim)
			inBatch = append(inBatch, i)
		}
	}
	refused, err := g.recordClaims(ctx, batch, by)
	for k, i := range inBatch {
		switch {
		case err != nil:
			out[i].Error = err.Error() // none of them is in effect
			out[i].NotStored = errors.Is(err, ErrNotStored)
		case refused[k] != nil:
			out[i].Claim = Claim{MAC: out[i].Claim.MAC, Serial: out[i].Claim.Serial, Group: out[i].Claim.Group}
			out[i].Error = refused[k].Error()
		}
	}
	return true
}

// evaluateClaim works out what a claim comes to, without recording it. changed is false when the same
// claim already stands.
func (g *Gateway) evaluateClaim(ctx context.Context, mac, serial, group, by string) (c Claim, changed bool, err error) {
	if mac, err = NormalizeMAC(mac); err != nil {
		return Claim{}, false, err
	}
	if serial, err = NormalizeSerial(serial); err != nil {
		return Claim{}, false, err
	}
	group = strings.TrimSpace(group)
	if group == "" {
		group = DefaultGroup
	}
	if utf8.RuneCountInString(group) > MaxSerialLen {
		return Claim{}, false, fmt.Errorf("group is longer than %d characters", MaxSerialLen)
	}
	now := clock.Now()
	id, ep, known := g.deviceByMAC(mac)
	old, had := g.claims.get(mac)
	// Idempotent: the same claim twice changes nothing — except a pending one whose device has been
	// seen since, which is checked now rather than at the next discovery.
	if had && SameSerial(old.Serial, serial) && old.Group == group &&
		(old.State == ClaimClaimed || (old.State == ClaimPending && !known)) {
		return old, false, nil
	}
	c = Claim{MAC: mac, Serial: serial, Group: group, State: ClaimPending, By: by, Created: now, Updated: now,
		Expires: now.Add(g.opts.ClaimTTL)}
	if had {
		c.Created = old.Created
	}

	if !known {
		c.Reason = "no device with this MAC has been discovered yet; checked again at every discovery"
		return c, true, nil
	}
	c.DeviceID = id
	live, tried, err := g.liveSerial(ctx, id, ep)
	switch {
	case err != nil:
		c.Reason = "the device did not answer; the claim is checked again at every discovery: " + err.Error()
	case live == "":
		c.State, c.Expires = ClaimRejected, time.Time{}
		c.Reason = "the device does not report a serial number" + triedText(tried) +
			"; it cannot be claimed by serial until a profile says where this model keeps it (edgegw profile test --target ...)"
	case SameSerial(live, serial):
		c.State, c.Expires = ClaimClaimed, time.Time{}
	default:
		// The device's real serial is not shown: that would hand it to whoever guesses MACs.
		c.State, c.Reason, c.Expires = ClaimRejected, "the serial does not match the one the device reports", time.Time{}
	}
	return c, true, nil
}

// liveSerial reads the serial from the device now, through the first endpoint whose driver can, with
// the places the driver looked for it.
func (g *Gateway) liveSerial(ctx context.Context, id string, ep Endpoint) (string, []IdentityAttempt, error) {
	r, ok := g.opts.Pollers[ep.Protocol].(Reidentifier)
	if !ok {
		t, _ := g.Twin(id)
		return t.Identity.Serial, nil, nil // a driver that cannot re-read: the serial it reported at discovery
	}
	s, err := r.Reidentify(ctx, ep)
	if err != nil {
		return "", nil, err
	}
	return s.Identity.Serial, s.TriedFor("serial"), nil
}

// triedText says where a driver looked for a field, for a claim's reason: " (tried: A: why; B: why)".
func triedText(tried []IdentityAttempt) string {
	if len(tried) == 0 {
		return ""
	}
	const most = 6
	var parts []string
	for i, a := range tried {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(tried)-most))
			break
		}
		part := a.Source
		if a.Note != "" {
			part += ": " + a.Note
		}
		parts = append(parts, part)
	}
	return " (tried " + strings.Join(parts, "; ") + ")"
}

// deviceByMAC finds the device with mac and the endpoint to read its serial from: the one of the
// lowest-ranked protocol (Options.Ranks) whose driver can read it live.
func (g *Gateway) deviceByMAC(mac string) (string, Endpoint, bool) {
	for _, t := range g.twins.withMAC(mac) {
		if len(t.Endpoints) == 0 {
			continue
		}
		eps := ranker(g.opts.Ranks).byPrecedence(t.Endpoints)
		for _, e := range eps {
			if _, ok := g.opts.Pollers[e.Protocol].(Reidentifier); ok {
				return t.DeviceID, e.Endpoint, true
			}
		}
		return t.DeviceID, eps[0].Endpoint, true
	}
	return "", Endpoint{}, false
}

// setClaims records claims: the store first (a claim the disk did not take is not in effect), then
// the book, each device's twin and the audit log, and a full twin up for each newly claimed device.
// Claims beyond the cap on pending ones are left out, each with the error in refused.
func (g *Gateway) setClaims(all []*Claim, by string) (refused []error, err error) {
	if len(all) == 0 {
		return nil, nil
	}
	g.claims.change.Lock()
	refused = g.claims.admit(all, g.opts.MaxPending)
	var cs []*Claim
	for i, c := range all {
		if refused[i] == nil {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		g.claims.change.Unlock()
		return refused, nil
	}
	// The devices' stripes, from the copy of their twins to the commit: full twins and patches of a
	// device reach the outbox in the order of their versions (commit.go).
	var ids []string
	for _, c := range cs {
		if c.DeviceID != "" {
			ids = append(ids, c.DeviceID)
		}
	}
	unlock := g.devs.lock(ids...)
	prevs := g.claims.previous(cs)
	var entries []AuditEntry
	var upIdx []int
	var full []Twin
	for i, c := range cs {
		prev, prevGroup := prevs[i].State, prevs[i].Group
		if prev == "" {
			prev = ClaimUnclaimed
		}
		action := map[string]string{ClaimClaimed: "claimed", ClaimPending: "claim pending", ClaimRejected: "claim rejected",
			ClaimMismatch: "identity mismatch"}[c.State]
		e := AuditEntry{DeviceID: c.DeviceID, MAC: c.MAC, Action: action, Old: prev, New: c.State, By: by,
			Detail: strings.TrimSpace(c.Reason + " group=" + c.Group)}
		if prev == ClaimClaimed && c.State == ClaimClaimed && prevGroup != c.Group {
			e.Action, e.Old, e.New, e.Detail = "moved to another group", prevGroup, c.Group, ""
		}
		entries = append(entries, e)
		if c.State != ClaimClaimed {
			continue
		}
		if t, known := g.twins.get(c.DeviceID); known { // a deep copy: only of the twins that go up
			t.Claim = ClaimStatus{State: c.State, Group: c.Group, ClaimedAt: claimedAt(c)}
			full = append(full, t) // a full twin goes up on claim
			upIdx = append(upIdx, len(entries)-1)
		}
	}
	keys := g.audit.keys(entries) // fills in their times
	var up []AuditEntry
	for _, i := range upIdx {
		up = append(up, entries[i])
	}
	// The claims, their audit entries and what goes up of them: one transaction, or nothing.
	err = g.commit(Outgoing{Twins: full, Audits: up}, func(w store.Writer) error {
		if err := g.claims.write(w, cs); err != nil {
			return err
		}
		return g.audit.writer(entries, keys)(w)
	})
	if err != nil {
		unlock()
		g.claims.change.Unlock()
		g.log.Error("could not store claims; none is in effect", "count", len(cs), "err", err)
		return refused, notStored(fmt.Errorf("store %d claims: %w", len(cs), err))
	}
	g.claims.apply(cs)
	for _, c := range cs {
		g.twins.update(c.DeviceID, func(t *Twin) {
			t.Claim = ClaimStatus{State: c.State, Group: c.Group, ClaimedAt: claimedAt(c)}
		})
	}
	unlock()
	g.claims.change.Unlock()
	g.logAudits(entries)
	return refused, nil
}

func claimedAt(c *Claim) time.Time {
	if c.State == ClaimClaimed {
		return c.Updated
	}
	return time.Time{}
}

// Unclaim releases the device with this MAC or device id. Its data stops going up.
func (g *Gateway) Unclaim(macOrID, by string) (Claim, error) {
	g.claims.change.Lock()
	var c Claim
	var ok bool
	if mac, err := NormalizeMAC(macOrID); err == nil {
		c, ok = g.claims.get(mac)
	} else {
		c, ok = g.claims.ofDevice(macOrID)
	}
	if !ok {
		g.claims.change.Unlock()
		return Claim{}, fmt.Errorf("%w for %s", ErrNoClaim, macOrID)
	}
	es := []AuditEntry{{DeviceID: c.DeviceID, MAC: c.MAC, Action: "unclaimed", Old: c.State, New: ClaimUnclaimed, By: by}}
	keys := g.audit.keys(es)
	err := g.commit(Outgoing{Audits: es}, func(w store.Writer) error {
		if err := w.Delete(bucketClaims, c.MAC); err != nil {
			return err
		}
		return g.audit.writer(es, keys)(w)
	})
	if err != nil {
		g.claims.change.Unlock()
		return c, notStored(fmt.Errorf("forget the claim: %w", err))
	}
	g.claims.forget(c.MAC)
	g.twins.update(c.DeviceID, func(t *Twin) { t.Claim = ClaimStatus{State: ClaimUnclaimed} })
	g.claims.change.Unlock()
	g.logAudits(es)
	c.State = ClaimUnclaimed
	return c, nil
}

// Claims lists every claim, by MAC.
func (g *Gateway) Claims() []Claim { return g.claims.list() }

// checkClaim runs the handshake for a fresh sighting of a claimed or pending device. Called without
// g.mu held.
func (g *Gateway) checkClaim(id string, s Sighting) {
	if s.Identity.MAC == "" {
		return
	}
	cur, ok := g.claims.get(s.Identity.MAC)
	if !ok {
		return
	}
	now := clock.Now()
	next := cur
	next.DeviceID, next.Updated = id, now
	switch cur.State {
	case ClaimPending:
		switch {
		case s.Identity.Serial == "":
			return
		case SameSerial(s.Identity.Serial, cur.Serial):
			next.State, next.Reason, next.Expires = ClaimClaimed, "", time.Time{}
		default:
			next.State, next.Reason, next.Expires = ClaimRejected, "the serial does not match the one the device reports", time.Time{}
		}
	case ClaimClaimed:
		if s.Identity.Serial == "" || SameSerial(s.Identity.Serial, cur.Serial) {
			if cur.DeviceID == id {
				return
			}
		} else {
			// Hardware swapped or MAC spoofed: its data stops going up until it is claimed again.
			next.State, next.Reason = ClaimMismatch, "the device now reports another serial number"
		}
	default:
		return
	}
	if _, err := g.setClaims([]*Claim{&next}, "discovery"); err != nil {
		g.log.Warn("could not record a claim's handshake; tried again at the next discovery", "mac", next.MAC, "err", err)
	}
}

// expireClaims turns pending claims past their time into rejected ones.
func (g *Gateway) expireClaims(now time.Time) {
	for _, c := range g.claims.expired(now) {
		c.State, c.Reason, c.Updated = ClaimRejected, "pending claim expired: no device with this MAC was seen in time", now
		if _, err := g.setClaims([]*Claim{&c}, "expiry"); err != nil {
			g.log.Warn("could not record an expired claim; tried again at the next discovery", "mac", c.MAC, "err", err)
		}
	}
}

// claimed reports whether a device's data may go up.
func (g *Gateway) claimed(id string) bool {
	var ok bool
	g.twins.view(id, func(t *Twin) { ok = t.Claim.State == ClaimClaimed })
	return ok
}
