package gateway

import (
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

// merge folds a sighting into a twin (new or existing) and reports whether the identity changed.
func merge(t *Twin, s Sighting, now time.Time) (identityChanged bool) {
	before := t.Identity
	beforeEps := len(t.Endpoints)
	id := &t.Identity.Identity
	// A later sighting's non-empty field wins: it is the freshest word of the device itself.
	set := func(dst *string, v string) {
		if v != "" && *dst != v {
			*dst = v
		}
	}
	set(&id.MAC, s.Identity.MAC)
	set(&id.Serial, s.Identity.Serial)
	set(&id.Manufacturer, s.Identity.Manufacturer)
	set(&id.Model, s.Identity.Model)
	set(&id.Firmware, s.Identity.Firmware)
	set(&id.Hardware, s.Identity.Hardware)
	set(&id.Hostname, s.Identity.Hostname)
	set(&id.IP, s.Identity.IP)
	set(&id.SysObjectID, s.Identity.SysObjectID)
	set(&id.SysDescr, s.Identity.SysDescr)
	if s.Profile != "" {
		t.Profile = s.Profile
	}

	ep := EndpointRef{Endpoint: s.Endpoint(), Profile: s.Profile, LastSeen: now}
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
	return identityChanged || before.Identity != t.Identity.Identity || beforeEps != len(t.Endpoints)
}
