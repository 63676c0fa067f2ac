// Package gateway is edgegw's core: the inventory of devices, their twins, the poll scheduler and the
// value types that drivers and the uplink exchange with it. It imports no driver, no uplink and no
// protocol library; drivers implement the small interfaces declared here.
package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// Identity is what a device says about itself. Empty fields are unknown. MAC is always in the canonical
// lower-case colon form ("00:11:22:aa:bb:cc") or empty.
type Identity struct {
	MAC          string `json:"mac,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Firmware     string `json:"firmware,omitempty"`
	Hardware     string `json:"hardware,omitempty"`
	Hostname     string `json:"hostname,omitempty"`
	IP           string `json:"ip,omitempty"`
	// Kind is the device family (ups, pdu, sensor, printer, projector, display, codec, switch, meter,
	// inverter, other), from the profile or the standard MIBs.
	Kind string `json:"kind,omitempty"`
	// Network is what the device says about its own network settings, where it says them.
	Network Network `json:"network,omitzero"`
	// SysObjectID and SysDescr are SNMP's self-description, kept because profiles match on them.
	SysObjectID string `json:"sysObjectId,omitempty"`
	SysDescr    string `json:"sysDescr,omitempty"`
}

// Network is a device's own view of its network settings (IP-MIB, IP-FORWARD-MIB, or a vendor's MIB).
// Empty fields are unknown.
type Network struct {
	// IPv4 and IPv6 are addresses with their prefix length ("192.0.2.10/24", "2001:db8::10/64"): the
	// one the gateway reached, or else the device's first global one.
	IPv4 string `json:"ipv4,omitempty"`
	IPv6 string `json:"ipv6,omitempty"`
	// DefaultGateway is the next hop of the device's default route.
	DefaultGateway string `json:"defaultGateway,omitempty"`
	// Addressing is "dhcp" or "static" where the device says which.
	Addressing string `json:"addressing,omitempty"`
}

// Sighting is what one protocol saw at one address during a discovery pass.
type Sighting struct {
	Protocol string `json:"protocol"`
	// Address is where the device answered, e.g. "127.0.0.1:11161".
	Address string `json:"address"`
	// Credential names the driver's credential set that worked ("discovery.snmp[0]"). It is a reference,
	// never a secret, so it may be stored and shown.
	Credential string    `json:"credential,omitempty"`
	Identity   Identity  `json:"identity"`
	Profile    string    `json:"profile,omitempty"`
	Seen       time.Time `json:"seen"`
	// Tried lists, field by field, the places the driver looked for the identity and what each gave,
	// for `profile test` and for a claim that finds no serial. It is not stored.
	Tried []IdentityAttempt `json:"-"`
}

// IdentityAttempt is one place a driver looked for an identity field.
type IdentityAttempt struct {
	Field  string `json:"field"`  // serial, model, manufacturer, firmware, hardware, mac
	Source string `json:"source"` // where: "ENTITY-MIB entPhysicalSerialNum.1", "profile apc-ups .1.3.6.1.4.1.318.1.1.1.1.2.3.0"
	Value  string `json:"value"`  // what it gave, "" for nothing usable
	Note   string `json:"note,omitempty"`
	Used   bool   `json:"used,omitempty"` // the value the identity kept
}

// TriedFor returns the attempts made for one field.
func (s *Sighting) TriedFor(field string) []IdentityAttempt {
	var out []IdentityAttempt
	for _, a := range s.Tried {
		if a.Field == field {
			out = append(out, a)
		}
	}
	return out
}

// Endpoint is how a driver reaches one device for polling.
type Endpoint struct {
	Protocol   string `json:"protocol"`
	Address    string `json:"address"`
	Credential string `json:"credential,omitempty"`
}

// Endpoint returns where the sighting can be polled again.
func (s Sighting) Endpoint() Endpoint {
	return Endpoint{Protocol: s.Protocol, Address: s.Address, Credential: s.Credential}
}

func (e Endpoint) String() string { return e.Protocol + "://" + e.Address }

// Discoverer finds devices. Discover runs one pass over the driver's configured targets, calls found for
// every device that answered and failed for every target that should have answered but did not (a wrong
// community, a garbled reply). It returns when the pass is done or ctx is cancelled. found and failed may
// be called from several goroutines at once.
type Discoverer interface {
	Discover(ctx context.Context, found func(Sighting), failed func(TargetError)) error
}

// Poller reads a device's points. It returns the readings it got; a reading whose value could not be read
// carries Err. A non-nil error means the device did not answer at all (it counts as a missed poll).
type Poller interface {
	Poll(ctx context.Context, ep Endpoint, points []Point) ([]Reading, error)
}

// Address says where a profile's point or method lives on a device: an SNMP OID, a Modbus register, an
// mDNS TXT key. Its driver defines it (and decodes it from the profile); the core only passes it
// through and shows it.
type Address interface {
	String() string
}

// TargetError is a discovery failure for one address. Err names the device and address already.
type TargetError struct {
	Protocol string
	Address  string
	Err      error
}

func (e TargetError) Error() string { return e.Err.Error() }
func (e TargetError) Unwrap() error { return e.Err }

// ValueType is the type of a profile point.
type ValueType string

// The point types a profile may name.
const (
	TypeInt       ValueType = "int"       // INTEGER, Integer32: a signed number
	TypeUint      ValueType = "uint"      // Gauge32, Unsigned32
	TypeCounter   ValueType = "counter"   // Counter32/Counter64
	TypeFloat     ValueType = "float"     // a number, also parsed from a string ("23.5")
	TypeString    ValueType = "string"    // OCTET STRING shown as text
	TypeTimeticks ValueType = "timeticks" // hundredths of a second, reported in seconds
	TypeBool      ValueType = "bool"      // TruthValue: 1 true, 2 false; or non-zero
	TypeEnum      ValueType = "enum"      // integer mapped to a string through Enum
	TypeMAC       ValueType = "mac"       // six octets, shown as aa:bb:cc:dd:ee:ff
	TypeIP        ValueType = "ip"        // IpAddress or four octets, shown dotted
	TypeOID       ValueType = "oid"       // OBJECT IDENTIFIER, shown dotted
	TypeBits      ValueType = "bits"      // BITS: the names of the bits that are set, comma-separated
)

// Valid reports whether t is one of the known types.
func (t ValueType) Valid() bool {
	switch t {
	case TypeInt, TypeUint, TypeCounter, TypeFloat, TypeString, TypeTimeticks, TypeBool, TypeEnum, TypeMAC, TypeIP, TypeOID, TypeBits:
		return true
	}
	return false
}

// Numeric reports whether values of t are numbers that scale and offset apply to.
func (t ValueType) Numeric() bool {
	switch t {
	case TypeInt, TypeUint, TypeCounter, TypeFloat, TypeTimeticks:
		return true
	}
	return false
}

// Point is one value a profile polls (and maybe writes).
type Point struct {
	// Name is the twin property, camelCase, unique within the profile ("temperatureCelsius").
	Name string `json:"name"`
	// Address is where the value lives, in the terms of the profile's protocol.
	Address Address   `json:"address"`
	Type    ValueType `json:"type"`
	// Scale multiplies the raw number (0 means 1); Offset is added after scaling.
	Scale  float64 `json:"scale,omitempty"`
	Offset float64 `json:"offset,omitempty"`
	Unit   string  `json:"unit,omitempty"`
	// Absent lists raw numbers that mean "no value" (many MIBs use -1 for "not supported"): such a
	// reading is left out of the twin instead of being reported as a number.
	Absent []float64 `json:"absent,omitempty"`
	// Enum maps raw integers to names for TypeEnum.
	Enum map[int64]string `json:"enum,omitempty"`
	// Bits names the bits of a TypeBits value; bit 0 is the most significant bit of the first octet, as
	// in SNMP's BITS. A set bit without a name is reported as "bitN".
	Bits map[int64]string `json:"bits,omitempty"`
	// Writable marks a setting the cloud may change, within Min/Max (numbers), MaxLen (strings) or Enum.
	Writable bool     `json:"writable,omitempty"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	MaxLen   int      `json:"maxLen,omitempty"`
}

// Method is an action a profile declares (reboot, input select): writing Value, of Type, at Address.
type Method struct {
	Name    string    `json:"name"`
	Address Address   `json:"address"`
	Type    ValueType `json:"type"`
	Value   string    `json:"value"`
}

// IdentityFields are the identity fields a profile may say where to read.
var IdentityFields = []string{"serial", "model", "manufacturer", "firmware", "hardware", "mac"}

// Profile is a device model's description: how to recognise it and what to poll.
type Profile struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Kind is the device family: ups, pdu, sensor, printer, projector, display, codec, switch, meter,
	// inverter or other.
	Kind string `json:"kind,omitempty"`
	// Protocol is the protocol whose driver reads the profile's points (its Spec's name).
	Protocol string `json:"protocol"`
	// Manufacturer is used when the device does not say its own.
	Manufacturer string `json:"manufacturer,omitempty"`
	// Match says which devices the profile is for, and Identity where they keep their identity, in the
	// terms of the protocol (its driver defines both); a Match of nil makes the profile a base that
	// never matches by itself.
	Match    any      `json:"match,omitempty"`
	Identity any      `json:"identity,omitempty"`
	Points   []Point  `json:"points"`
	Methods  []Method `json:"methods,omitempty"`
	// Events name the notifications the profile's devices send on their own (SNMP traps), in
	// precedence order: the profile's own, then its bases'.
	Events []EventRule `json:"events,omitempty"`
	// Source is the file the profile came from ("embedded:generic.toml" or a path), for messages.
	Source string `json:"source,omitempty"`
}

// Point returns the named point, or nil.
func (p *Profile) Point(name string) *Point {
	for i := range p.Points {
		if p.Points[i].Name == name {
			return &p.Points[i]
		}
	}
	return nil
}

// Kind of a Value.
type Kind uint8

// Value kinds.
const (
	KindNone Kind = iota
	KindNumber
	KindString
	KindBool
)

// Value is a typed reading: a number, a string or a boolean. The zero Value is "no value" and encodes
// as JSON null.
type Value struct {
	Kind Kind
	Num  float64
	Str  string
	Bool bool
}

// Number, String and Bool make Values.
func Number(f float64) Value { return Value{Kind: KindNumber, Num: f} }
func String(s string) Value  { return Value{Kind: KindString, Str: s} }
func Bool(b bool) Value      { return Value{Kind: KindBool, Bool: b} }

// Equal reports whether two values are the same.
func (v Value) Equal(o Value) bool {
	if v.Kind != o.Kind {
		return false
	}
	switch v.Kind {
	case KindNumber:
		return v.Num == o.Num || (math.IsNaN(v.Num) && math.IsNaN(o.Num))
	case KindString:
		return v.Str == o.Str
	case KindBool:
		return v.Bool == o.Bool
	}
	return true
}

func (v Value) String() string {
	switch v.Kind {
	case KindNumber:
		return strconv.FormatFloat(v.Num, 'f', -1, 64)
	case KindString:
		return v.Str
	case KindBool:
		return strconv.FormatBool(v.Bool)
	}
	return ""
}

// MarshalJSON encodes the value as a JSON number, string, boolean or null. NaN and infinities, which
// JSON cannot hold, become null.
func (v Value) MarshalJSON() ([]byte, error) {
	switch v.Kind {
	case KindNumber:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return []byte("null"), nil
		}
		return strconv.AppendFloat(nil, v.Num, 'f', -1, 64), nil
	case KindString:
		return json.Marshal(v.Str)
	case KindBool:
		return strconv.AppendBool(nil, v.Bool), nil
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (v *Value) UnmarshalJSON(b []byte) error {
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	switch t := x.(type) {
	case nil:
		*v = Value{}
	case float64:
		*v = Number(t)
	case string:
		*v = String(t)
	case bool:
		*v = Bool(t)
	default:
		return fmt.Errorf("value must be a number, string, boolean or null, not %s", b)
	}
	return nil
}

// Reading is one polled point.
type Reading struct {
	// Name is the point's name, with "[INDEX]" for a table row.
	Name string
	// Source is where the value came from (the OID instance), and Raw the value as the device sent it,
	// for `edgegw profile test` and diagnostics.
	Source string
	Raw    string
	Value  Value
	Unit   string
	// Err is why this point has no value (noSuchObject, a type the profile did not expect).
	Err error
}

// Collect runs one pass of a discoverer and gathers what it found and what failed, without an
// inventory: for the CLI's one-off commands and for driver tests.
func Collect(ctx context.Context, d Discoverer) (DiscoveryResult, error) {
	var mu sync.Mutex
	var res DiscoveryResult
	err := d.Discover(ctx, func(s Sighting) {
		mu.Lock()
		res.Sightings = append(res.Sightings, s)
		mu.Unlock()
	}, func(e TargetError) {
		mu.Lock()
		res.Errors = append(res.Errors, e)
		mu.Unlock()
	})
	return res, err
}
