package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Twin is one device's document, versioned like an Azure IoT Hub twin. It holds no secret: endpoints
// name their credentials by reference only.
type Twin struct {
	DeviceID string       `json:"deviceId"`
	Identity TwinIdentity `json:"identity"`
	Profile  string       `json:"profile,omitempty"`
	Reported Properties   `json:"reported"`
	Desired  Properties   `json:"desired"`
	// DesiredStatus is the outcome of the last desired patch: its $version and each property's status.
	DesiredStatus DesiredStatus `json:"desiredStatus,omitzero"`
	Connectivity  Connectivity  `json:"connectivity"`
	Claim         ClaimStatus   `json:"claim"`
	Endpoints     []EndpointRef `json:"endpoints"`
	FirstSeen     time.Time     `json:"firstSeen"`
	LastSeen      time.Time     `json:"lastSeen"`
	// Events are the conditions the device raised with events (events.go): active ones, and cleared
	// ones for a day.
	Events []Condition `json:"events,omitempty"`
}

// TwinIdentity is the identity section: what the device says it is and where it answers.
type TwinIdentity struct {
	Identity
	// IDSource says what the device id is derived from: "mac", or "protocol" when no MAC could be learned
	// (then the id is a hash of the protocol identity and may change if the device moves).
	IDSource  string   `json:"idSource"`
	Protocols []string `json:"protocols"`
	Addresses []string `json:"addresses"`
}

// EndpointRef is one protocol address of a device, with the profile that matched there.
type EndpointRef struct {
	Endpoint
	Profile  string    `json:"profile,omitempty"`
	LastSeen time.Time `json:"lastSeen"`
	// Identity is what the device said over this protocol; the twin's identity combines them all.
	Identity Identity `json:"identity,omitzero"`
}

// Connectivity is online/offline, debounced over missed polls.
type Connectivity struct {
	State string `json:"state"` // "unknown", "online" or "offline"
	// Since is when State last changed.
	Since     time.Time `json:"since,omitzero"`
	LastPoll  time.Time `json:"lastPoll,omitzero"`
	LastError string    `json:"lastError,omitempty"`
	// Missed counts polls in a row that got no answer.
	Missed int `json:"missed"`
}

// Connectivity states.
const (
	StateUnknown = "unknown"
	StateOnline  = "online"
	StateOffline = "offline"
)

// ClaimStatus is the claim section: unclaimed, pending, claimed, rejected or mismatch (see Claim).
type ClaimStatus struct {
	State     string    `json:"state"`
	Group     string    `json:"group,omitempty"`
	ClaimedAt time.Time `json:"claimedAt,omitzero"`
}

// Properties are reported or desired values with the document's version. In JSON they are one object:
// {"$version": 4, "uptimeSeconds": 120, ...}.
type Properties struct {
	Version int64
	Values  map[string]Value
}

// MarshalJSON writes the properties as one flat object, keys sorted, $version first.
func (p Properties) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"$version":%d`, p.Version)
	for _, k := range slices.Sorted(maps.Keys(p.Values)) {
		kb, _ := json.Marshal(k)
		vb, err := p.Values[k].MarshalJSON()
		if err != nil {
			return nil, err
		}
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *Properties) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*p = Properties{Values: map[string]Value{}}
	for k, v := range raw {
		if k == "$version" {
			if err := json.Unmarshal(v, &p.Version); err != nil {
				return fmt.Errorf("$version: %w", err)
			}
			continue
		}
		var val Value
		if err := val.UnmarshalJSON(v); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		p.Values[k] = val
	}
	return nil
}

// Patch is a change to a twin's reported properties: the new version and only the values that changed.
type Patch struct {
	DeviceID string
	Version  int64
	Values   map[string]Value
}

// apply sets values that differ and returns the patch, or nil when nothing changed.
func (p *Properties) apply(deviceID string, vals map[string]Value) *Patch {
	var changed map[string]Value
	for k, v := range vals {
		if old, ok := p.Values[k]; ok && old.Equal(v) {
			continue
		}
		if changed == nil {
			changed = map[string]Value{}
		}
		changed[k] = v
	}
	if changed == nil {
		return nil
	}
	if p.Values == nil {
		p.Values = map[string]Value{}
	}
	maps.Copy(p.Values, changed)
	p.Version++
	return &Patch{DeviceID: deviceID, Version: p.Version, Values: changed}
}

// clone returns a deep copy safe to hand out.
func (t *Twin) clone() Twin {
	c := *t
	c.Reported.Values = maps.Clone(t.Reported.Values)
	c.Desired.Values = maps.Clone(t.Desired.Values)
	c.DesiredStatus.Properties = maps.Clone(t.DesiredStatus.Properties)
	c.Endpoints = slices.Clone(t.Endpoints)
	c.Events = slices.Clone(t.Events)
	c.Identity.Protocols = slices.Clone(t.Identity.Protocols)
	c.Identity.Addresses = slices.Clone(t.Identity.Addresses)
	return c
}
