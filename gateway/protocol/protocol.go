// Package protocol is the contract between the gateway and its protocol drivers. A driver package brings
// everything protocol-specific about itself as one Spec: its name, how much its word on a device's
// identity counts, its [discovery.NAME] configuration tables, its NAME:// target URLs, its parts of a
// device profile, and how to build it. cmd/edgegw lists the specs once; configuration, profiles, target
// URLs, identity precedence and the daemon's wiring all read them from that list, so a new protocol is
// one folder under drivers/ and one line there, and the core (gateway/) names no protocol.
package protocol

import (
	"log/slog"
	"net/url"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// Spec is one protocol, as its driver package describes it.
type Spec struct {
	// Name names the protocol everywhere: sightings and endpoints, twins, a profile's `protocol = `,
	// the [discovery.NAME] configuration table and NAME:// target URLs. Lower case.
	Name string
	// Rank orders protocols when they disagree about a device's identity: a field comes from the
	// lowest-ranked protocol that says it (SNMP reads the hardware's own serial; a TXT record is free
	// text). It also orders the endpoints a claim's serial check tries.
	Rank int
	// Config reads the protocol's [discovery.NAME] tables. Its Name is Name.
	Config config.TableCodec
	// Tables read the driver's own top-level tables, if it has any (SNMP's [traps]); each has Top set.
	// New gets what they decoded in Options.Top.
	Tables []config.TableCodec
	// Target turns a --target URL of this scheme into one table of the kind Config decodes; index
	// numbers it among the targets ("target[2]"), which becomes its credential reference. Errors never
	// repeat the URL's user information (an SNMP community, a password).
	Target func(u *url.URL, index int) (config.Table, error)
	// Profile reads the protocol's parts of a device profile.
	Profile ProfileCodec
	// New builds the driver. It is called with the tables the configuration holds for the protocol,
	// possibly none: a driver with no tables discovers nothing.
	New func(o Options) (Driver, error)
}

// Options are what every driver is built with.
type Options struct {
	// Tables are the protocol's configuration tables, as its TableCodec decoded them.
	Tables []config.Table
	// Top are the driver's own top-level tables (Spec.Tables), by name; absent when not configured.
	Top map[string][]config.Table
	// GatewayID is the gateway's id ([gateway] id), for what a driver must derive from it (SNMP's
	// engine id as a notification receiver); empty for one-off commands.
	GatewayID string
	// Profiles are the loaded profiles (all protocols'; a driver matches devices to its own).
	Profiles gateway.Profiles
	// MaxAddresses bounds one discovery pass over all of the driver's tables.
	MaxAddresses int
	// Concurrency bounds requests in flight, discovery and polling together.
	Concurrency int
	// ProbeRate caps the probes per second of a sweep over prefix targets (discovery.probe_rate); zero
	// means the driver's default.
	ProbeRate int
	// Progress, when set, is told how far a discovery pass has got.
	Progress func(done, total int)
	// Logger receives the driver's log; never nil.
	Logger *slog.Logger
}

// Driver is a built protocol driver: it finds devices and reads their points. Optional abilities are
// the gateway's interfaces, asserted: gateway.Writer, gateway.Reidentifier, gateway.Listener.
type Driver interface {
	gateway.Discoverer
	gateway.Poller
	Close() error
}

// ProfileCodec reads the protocol-specific parts of a device profile file. Each method reports problems
// through the tomlx table it is given, so every message has the file, line and column; the profile
// loader does everything protocol-neutral (names, types, units, scaling, writability, extends).
type ProfileCodec interface {
	// AddressKeys are the keys that say where a point (method false) or a method lives ("oid",
	// "table", ...).
	AddressKeys(method bool) []string
	// Address decodes them from t; what names the point or method for messages ("point \"power\"").
	// It reports a missing or bad address itself and returns nil then.
	Address(t tomlx.Table, what string, method bool) gateway.Address
	// DefaultType is the value type of a point whose profile names none; "" when a type is required.
	DefaultType(a gateway.Address) gateway.ValueType
	// CheckPoint checks a decoded point against the protocol's own rules (a table walk cannot be
	// written; input registers are read-only).
	CheckPoint(t tomlx.Table, p *gateway.Point)
	// MatchKeys are the keys of [profile.match]; Match decodes them. A nil result means the profile
	// has no condition: it is a base that never matches by itself.
	MatchKeys() []string
	Match(t tomlx.Table) any
	// IdentityKeys are the keys of [profile.identity]; Identity decodes them.
	IdentityKeys() []string
	Identity(t tomlx.Table) any
	// MergeIdentity merges a base's identity (from) into what the profile has so far (dst, nil at
	// first), as extends does: the bases in order, the profile's own last.
	MergeIdentity(dst, from any) any
}

// EventCodec is a ProfileCodec whose protocol has notifications that devices send on their own (SNMP
// traps): it reads the protocol's keys of a profile's [[profile.event]] tables. The profile loader
// reads the neutral ones (name, severity, description, set); a protocol without it has no events.
type EventCodec interface {
	// EventKeys are the protocol's keys of an event ("trap", "when", "clear", ...).
	EventKeys() []string
	// Event decodes which notifications are the event (match) and which end it (clear, nil for a
	// momentary event); what names it for messages ("event \"onBattery\""). It reports problems
	// through t and returns a nil match then.
	Event(t tomlx.Table, what string) (match, clear any)
}
