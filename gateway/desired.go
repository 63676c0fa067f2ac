package gateway

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Per-property outcomes of a desired patch.
const (
	DesiredApplied  = "applied"
	DesiredRejected = "rejected"
	DesiredFailed   = "failed"
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

// ApplyDesired validates a desired patch against the device's profile (the setting exists, is
// writable, has the right type, range or enum), writes the valid ones with the device's driver, reads
// them back, and records the outcome: desired and reported in the twin, one audit entry per change with
// the old and new value. A patch whose $version is not newer than the last one applied is refused.
func (g *Gateway) ApplyDesired(ctx context.Context, c DesiredCommand, by string) (DesiredResult, error) {
	res := DesiredResult{DeviceID: c.DeviceID, Version: c.Version, Properties: map[string]PropertyStatus{}}
	g.mu.Lock()
	t, ok := g.twins[c.DeviceID]
	if !ok {
		g.mu.Unlock()
		return res, fmt.Errorf("%w: %s", ErrNoDevice, c.DeviceID)
	}
	if t.Claim.State != ClaimClaimed {
		g.mu.Unlock()
		return res, fmt.Errorf("device %s is %s: only claimed devices take settings", c.DeviceID, t.Claim.State)
	}
	if c.Version <= t.Desired.Version {
		v := t.Desired.Version
		g.mu.Unlock()
		return res, fmt.Errorf("desired $version %d is not newer than %d, already applied", c.Version, v)
	}
	profileName, mac := t.Profile, t.Identity.MAC
	eps := slices.Clone(t.Endpoints)
	old := maps.Clone(t.Reported.Values)
	if old == nil {
		old = map[string]Value{}
	}
	g.mu.Unlock()

	var prof *Profile
	if g.opts.Profiles != nil {
		prof = g.opts.Profiles.Get(profileName)
	}
	type job struct {
		name string
		pt   Point
		v    Value
	}
	var jobs []job
	for _, name := range slices.Sorted(maps.Keys(c.Desired)) {
		v := c.Desired[name]
		var pt *Point
		if prof != nil {
			pt = prof.Point(name)
		}
		if reason := checkDesired(pt, name, v); reason != "" {
			res.Properties[name] = PropertyStatus{Status: DesiredRejected, Reason: reason}
			continue
		}
		jobs = append(jobs, job{name, *pt, v})
	}
	var writer Writer
	var ep Endpoint
	for _, e := range eps {
		if w, ok := g.opts.Pollers[e.Protocol].(Writer); ok {
			writer, ep = w, e.Endpoint
			break
		}
	}
	applied := map[string]Value{}
	var audits []AuditEntry
	for _, j := range jobs {
		if writer == nil {
			res.Properties[j.name] = PropertyStatus{Status: DesiredFailed, Reason: "no driver of this device can write settings"}
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if _, known := old[j.name]; !known {
			// Not polled yet: read the value the device holds now, so the audit has the real old value.
			if p, ok := g.opts.Pollers[ep.Protocol]; ok {
				if rs, err := p.Poll(wctx, ep, []Point{j.pt}); err == nil && len(rs) == 1 && rs[0].Err == nil {
					old[j.name] = rs[0].Value
				}
			}
		}
		back, err := writer.Write(wctx, ep, j.pt, j.v)
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

	g.mu.Lock()
	var patch *Patch
	if t, ok := g.twins[c.DeviceID]; ok {
		if t.Desired.Values == nil {
			t.Desired.Values = map[string]Value{}
		}
		maps.Copy(t.Desired.Values, c.Desired)
		t.Desired.Version = c.Version
		t.DesiredStatus = DesiredStatus{Version: c.Version, Properties: res.Properties}
		patch = t.Reported.apply(c.DeviceID, applied)
		g.dirty[c.DeviceID] = true
	}
	g.mu.Unlock()
	g.auditMany(audits)
	if patch != nil && g.opts.OnPatch != nil {
		g.opts.OnPatch(*patch)
	}
	return res, nil
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
