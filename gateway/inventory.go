package gateway

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"slices"
	"strings"
	"time"
)

// DeviceID derives a device's stable id from a sighting. With a MAC it is "mac-" and the 12 hex digits.
// Without one it is the protocol and a hash of what identifies the device over that protocol (its serial
// and model when it says them, else its address), and idSource is "protocol".
func DeviceID(s Sighting) (id, idSource string) {
	if hw, err := net.ParseMAC(s.Identity.MAC); err == nil && len(hw) == 6 {
		return "mac-" + hex.EncodeToString(hw), "mac"
	}
	var key string
	if s.Identity.Serial != "" {
		key = strings.Join([]string{s.Protocol, "serial", s.Identity.Manufacturer, s.Identity.Model, s.Identity.Serial}, "\x00")
	} else {
		key = strings.Join([]string{s.Protocol, "address", s.Address}, "\x00")
	}
	sum := sha256.Sum256([]byte(key))
	return s.Protocol + "-" + hex.EncodeToString(sum[:6]), "protocol"
}

// ranker orders protocols by Options.Ranks.
type ranker map[string]int

func (r ranker) rank(protocol string) int {
	if n, ok := r[protocol]; ok {
		return n
	}
	return 1 << 30
}

// byPrecedence returns the endpoints in rank order.
func (r ranker) byPrecedence(eps []EndpointRef) []EndpointRef {
	out := slices.Clone(eps)
	slices.SortStableFunc(out, func(a, b EndpointRef) int {
		return cmp.Or(r.rank(a.Protocol)-r.rank(b.Protocol), strings.Compare(a.Protocol, b.Protocol))
	})
	return out
}

// Conflict is two protocols of one device disagreeing on an identity field (a serial, a model): worth
// an operator's look, since it may be two devices behind one MAC or a misconfigured one.
type Conflict struct {
	Field, Protocol, Value, OtherProtocol, OtherValue string
}

// merge folds a sighting into a twin (new or existing) and reports whether the identity changed and
// which identity fields now disagree between protocols (serial only: models and firmware are often
// spelled differently by each protocol of one device).
func (r ranker) merge(t *Twin, s Sighting, now time.Time) (identityChanged bool, conflicts []Conflict) {
	before := t.Identity
	beforeEps := len(t.Endpoints)

	ep := EndpointRef{Endpoint: s.Endpoint(), Profile: s.Profile, LastSeen: now, Identity: s.Identity}
	i := slices.IndexFunc(t.Endpoints, func(e EndpointRef) bool { return e.Protocol == s.Protocol })
	if i < 0 {
		t.Endpoints = append(t.Endpoints, ep)
	} else {
		if t.Endpoints[i].Address != ep.Address || t.Endpoints[i].Credential != ep.Credential {
			identityChanged = true
		}
		t.Endpoints[i] = ep
	}
	slices.SortFunc(t.Endpoints, func(a, b EndpointRef) int { return strings.Compare(a.Protocol, b.Protocol) })

	// Each field from the highest-ranked protocol that says it; a field no endpoint says keeps its
	// value (twins stored before endpoints carried their identity).
	id := &t.Identity.Identity
	fields := func(x *Identity) []*string {
		return []*string{&x.MAC, &x.Serial, &x.Manufacturer, &x.Model, &x.Firmware, &x.Hardware, &x.Hostname, &x.IP,
			&x.SysObjectID, &x.SysDescr}
	}
	ranked := r.byPrecedence(t.Endpoints)
	for f, dst := range fields(id) {
		for k := range ranked {
			if v := *fields(&ranked[k].Identity)[f]; v != "" {
				*dst = v
				break
			}
		}
	}
	// The kind and the network facts: from the highest-ranked protocol that knows them ("other" is
	// what a protocol says when it does not know).
	id.Kind, id.Network = "", Network{}
	for _, e := range ranked {
		if k := e.Identity.Kind; k != "" && k != "other" && id.Kind == "" {
			id.Kind = k
		}
		if id.Network == (Network{}) {
			id.Network = e.Identity.Network
		}
	}
	if id.Kind == "" && (before.Kind != "" || s.Identity.Kind != "") {
		id.Kind = "other"
	}
	t.Profile = ""
	for _, e := range ranked {
		if e.Profile != "" {
			t.Profile = e.Profile
			break
		}
	}
	if t.Profile == "" {
		t.Profile = s.Profile
	}
	for _, e := range ranked {
		if e.Protocol != s.Protocol && e.Identity.Serial != "" && s.Identity.Serial != "" && !SameSerial(e.Identity.Serial, s.Identity.Serial) {
			conflicts = append(conflicts, Conflict{Field: "serial", Protocol: s.Protocol, Value: s.Identity.Serial,
				OtherProtocol: e.Protocol, OtherValue: e.Identity.Serial})
		}
	}

	t.Identity.Protocols = t.Identity.Protocols[:0]
	t.Identity.Addresses = t.Identity.Addresses[:0]
	for _, e := range t.Endpoints {
		t.Identity.Protocols = append(t.Identity.Protocols, e.Protocol)
		t.Identity.Addresses = append(t.Identity.Addresses, e.Protocol+"://"+e.Address)
	}
	if t.FirstSeen.IsZero() {
		t.FirstSeen = now
	}
	t.LastSeen = now
	changed := identityChanged || before.Identity != t.Identity.Identity || beforeEps != len(t.Endpoints)
	return changed, conflicts
}
