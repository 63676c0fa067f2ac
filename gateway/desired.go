package gateway

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Per-property outcomes of a desired patch.
const (
	DesiredApplied  = "applied"
	DesiredRejected = "rejected"
	DesiredFailed   = "failed"
	// DesiredSuperseded is a property a later desired patch named before this one wrote it.
	DesiredSuperseded = "superseded"
)

// PropertyStatus is what became of one desired property.
type PropertyStatus struct {
	Status string `json:"status"`
	// Value is what the device reports after the write (applied only).
	Value *Value `json:"value,omitempty"`
	// Reason says why it was rejected (before anything was written) or how the device failed.
	Reason string `json:"reason,omitempty"`
}

// DesiredResult is the answer to a twin-desired patch: the desired $version it answers and each
// property's outcome.
type DesiredResult struct {
	DeviceID   string                    `json:"deviceId"`
	Version    int64                     `json:"$version"`
	Properties map[string]PropertyStatus `json:"properties"`
}

// ApplyDesired validates a desired patch against the device's profiles (the setting exists, is
// writable, has the right type, range or enum), writes the valid ones with the device's driver, reads
// them back, and records the outcome: desired (only accepted values: applied, or failed on the device)
// and reported in the twin, one audit entry per change, failure and refusal with the old and new value. A patch whose $version is not newer than every one accepted before is
// refused. Patches for one device are written one at a time; a property that a later patch also names
// and that is still waiting to be written is skipped as superseded: the later value is what the cloud
// wants now.
func (g *Gateway) ApplyDesired(ctx context.Context, c DesiredCommand, by string) (DesiredResult, error) {
	res := DesiredResult{DeviceID: c.DeviceID, Version: c.Version, Properties: map[string]PropertyStatus{}}
	t, err := g.claimedTwin(c.DeviceID, "settings")
	if err != nil {
		return res, err
	}
	// A write to a device cannot be undone: not while the outcome could not be recorded.
	if err := g.storeFailing(); err != nil {
		return res, notStored(fmt.Errorf("settings of %s not written: %w", c.DeviceID, err))
	}
	q, err := g.desired.accept(c, t.Desired.Version)
	if err != nil {
		return res, err
	}
	twinProfile, mac, eps, old := t.Profile, t.Identity.MAC, t.Endpoints, t.Reported.Values
	if old == nil {
		old = map[string]Value{}
	}

	type job struct {
		name string
		ep   EndpointRef
		pt   Point
		v    Value
	}
	var jobs []job
	var audits []AuditEntry
	for _, name := range slices.Sorted(maps.Keys(c.Desired)) {
		v := c.Desired[name]
		ep, pt, _ := g.settingAt(eps, twinProfile, name)
		if reason := checkDesired(pt, name, v); reason != "" {
			res.Properties[name] = PropertyStatus{Status: DesiredRejected, Reason: reason}
			audits = append(audits, AuditEntry{DeviceID: c.DeviceID, MAC: mac, Action: "setting rejected", Old: old[name].String(),
				New: v.String(), By: by, Detail: name + ": " + reason})
			continue
		}
		jobs = append(jobs, job{name, ep, *pt, v})
	}

	q.write.Lock()
	applied := map[string]Value{}
	for _, j := range jobs {
		if newer := g.desired.latest(q, j.name); newer > c.Version {
			res.Properties[j.name] = PropertyStatus{Status: DesiredSuperseded,
				Reason: fmt.Sprintf("superseded by desired $version %d before it was written", newer)}
			continue
		}
		writer, ok := g.opts.Pollers[j.ep.Protocol].(Writer)
		if !ok {
			res.Properties[j.name] = PropertyStatus{Status: DesiredFailed, Reason: "no driver of this device can write settings"}
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if _, known := old[j.name]; !known {
			// Not polled yet: read the value the device holds now, so the audit has the real old value.
			if rs, err := g.opts.Pollers[j.ep.Protocol].Poll(wctx, j.ep.Endpoint, []Point{j.pt}); err == nil && len(rs) == 1 && rs[0].Err == nil {
				old[j.name] = rs[0].Value
			}
		}
		back, err := writer.Write(wctx, j.ep.Endpoint, j.pt, j.v)
		cancel()
		if err != nil {
			res.Properties[j.name] = PropertyStatus{Status: DesiredFailed, Reason: err.Error()}
			audits = append(audits, AuditEntry{DeviceID: c.DeviceID, MAC: mac, Action: "setting failed", Old: old[j.name].String(),
				New: j.v.String(), By: by, Detail: j.name + ": " + err.Error()})
			continue
		}
		bv := back
		res.Properties[j.name] = PropertyStatus{Status: DesiredApplied, Value: &bv}
		applied[j.name] = back
		audits = append(audits, AuditEntry{DeviceID: c.DeviceID, MAC: mac, Action: "setting changed", Old: old[j.name].String(),
			New: back.String(), By: by, Detail: j.name})
	}
	q.write.Unlock()

	g.auditMany(audits) // kept in memory and written later if the store fails now
	var patch *Patch
	unlock := g.devs.lock(c.DeviceID)
	defer unlock()
	g.twins.update(c.DeviceID, func(t *Twin) {
		if t.Desired.Values == nil {
			t.Desired.Values = map[string]Value{}
		}
		// Desired holds what the gateway accepted: written, or valid and failed on the device (the
		// cloud's wish stands). Refused values are in the result, the desired status and the audit;
		// superseded ones are named by a newer patch.
		for name, v := range c.Desired {
			if st := res.Properties[name].Status; st == DesiredApplied || st == DesiredFailed {
				t.Desired.Values[name] = v
			}
		}
		t.Desired.Version = max(t.Desired.Version, c.Version)
		if c.Version > t.DesiredStatus.Version {
			t.DesiredStatus = DesiredStatus{Version: c.Version, Properties: res.Properties}
		}
		patch = t.Reported.apply(c.DeviceID, applied)
	})
	if patch != nil {
		if err := g.commit(Outgoing{Patches: []Patch{*patch}}, nil); err != nil {
			g.sent.markResync(c.DeviceID) // the device has the values: the cloud gets them in full later
			g.log.Warn("a setting was written but its report could not be stored; the twin goes up in full once the store writes",
				"device", c.DeviceID, "err", err)
		}
	}
	return res, nil
}

// desiredBook is every device's desired patches in flight, behind its own lock.
type desiredBook struct {
	mu     sync.Mutex
	queues map[string]*desiredQueue
}

// desiredQueue is one device's desired patches in flight: the newest $version accepted, the newest
// version that names each property (both under desiredBook.mu), and the lock that writes them one at
// a time.
type desiredQueue struct {
	accepted int64
	latest   map[string]int64
	write    sync.Mutex
}

func newDesiredBook() *desiredBook { return &desiredBook{queues: map[string]*desiredQueue{}} }

// accept takes patch c into the device's queue if its $version is newer than every one accepted
// before, including twinVersion (the newest the twin holds).
func (b *desiredBook) accept(c DesiredCommand, twinVersion int64) (*desiredQueue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queues[c.DeviceID]
	if q == nil {
		q = &desiredQueue{latest: map[string]int64{}}
		b.queues[c.DeviceID] = q
	}
	if newest := max(twinVersion, q.accepted); c.Version <= newest {
		return nil, fmt.Errorf("desired $version %d is not newer than %d, already accepted", c.Version, newest)
	}
	q.accepted = c.Version
	for name := range c.Desired {
		q.latest[name] = c.Version
	}
	return q, nil
}

// latest is the newest accepted $version that names the property.
func (b *desiredBook) latest(q *desiredQueue, name string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return q.latest[name]
}

// checkDesired validates one desired value against its profile point; "" means valid.
func checkDesired(pt *Point, name string, v Value) string {
	switch {
	case pt == nil:
		return fmt.Sprintf("the device's profile has no setting %q", name)
	case !pt.Writable:
		return fmt.Sprintf("%s is read-only", name)
	}
	switch pt.Type {
	case TypeEnum:
		if v.Kind != KindString {
			return fmt.Sprintf("%s takes one of %s", name, enumNames(pt.Enum))
		}
		for _, n := range pt.Enum {
			if n == v.Str {
				return ""
			}
		}
		return fmt.Sprintf("%s: %q is not one of %s", name, v.Str, enumNames(pt.Enum))
	case TypeString, TypeIP, TypeMAC, TypeOID:
		if v.Kind != KindString {
			return fmt.Sprintf("%s takes a string", name)
		}
		if pt.MaxLen > 0 && len(v.Str) > pt.MaxLen {
			return fmt.Sprintf("%s is at most %d characters", name, pt.MaxLen)
		}
	case TypeBool:
		if v.Kind != KindBool {
			return fmt.Sprintf("%s takes true or false", name)
		}
	default:
		if v.Kind != KindNumber {
			return fmt.Sprintf("%s takes a number", name)
		}
		if pt.Min != nil && v.Num < *pt.Min {
			return fmt.Sprintf("%s: %v is below the minimum %v", name, v.Num, *pt.Min)
		}
		if pt.Max != nil && v.Num > *pt.Max {
			return fmt.Sprintf("%s: %v is above the maximum %v", name, v.Num, *pt.Max)
		}
	}
	return ""
}

func enumNames(e map[int64]string) string {
	names := slices.Sorted(maps.Values(e))
	return fmt.Sprintf("%q", names)
}

// DesiredStatus is the outcome of the last desired patch, kept in the twin.
type DesiredStatus struct {
	Version    int64                     `json:"$version"`
	Properties map[string]PropertyStatus `json:"properties,omitempty"`
}
