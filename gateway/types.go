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
	"strings"
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

// ProfileMatcher picks the profile for a device from what it said about itself. Drivers use it during
// discovery: they read ProbeOIDs (one GET), then call Match with the device's identity and which of
// those OIDs the device answered, then read the identity OIDs the chosen profile names. Match returns
// nil when no profile fits.
type ProfileMatcher interface {
	ProbeOIDs() []string
	Match(id Identity, present func(oid string) bool) *Profile
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
	// OID is the SNMP object, numeric with a leading dot (".1.3.6.1.2.1.1.3.0"). Later protocols add
	// their own address fields.
	OID string `json:"oid,omitempty"`
	// Table marks OID as a table column: every row found by walking it is reported as Name[INDEX], INDEX
	// being the row's instance suffix ("3", "1.1.1").
	Table bool `json:"table,omitempty"`
	// RowSuffix keeps only the table rows whose index ends in these arcs ("1" keeps "3.1", "2.1"), and
	// drops them from the property's index: for tables that key each row by the quantity it measures
	// (Raritan's PDU2-MIB sensor type). Empty keeps every row.
	RowSuffix string `json:"rowSuffix,omitempty"`
	// WhereOID and WhereIn keep only the table rows whose value in the column WhereOID, at the same row
	// index, is one of WhereIn: a sensor table that mixes kinds of sensor in one column (Raritan's
	// external sensors, keyed by externalSensorType).
	WhereOID string  `json:"whereOid,omitempty"`
	WhereIn  []int64 `json:"whereIn,omitempty"`
	// DecimalsOID holds a count of decimal digits d (for a table point, a column read at the same row
	// index): the raw number is divided by 10^d before Scale applies.
	DecimalsOID string    `json:"decimalsOid,omitempty"`
	Type        ValueType `json:"type"`
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
	// Register is the point's Modbus address and encoding (profiles with protocol "modbus").
	Register *Register `json:"register,omitempty"`
	// TXT is the mDNS TXT key the value comes from, compared case-insensitively (protocol "mdns").
	TXT string `json:"txt,omitempty"`
}

// Modbus tables (the four data kinds of the Modbus data model).
const (
	TableHolding  = "holding"  // holding registers, FC3 read, FC6/16 write
	TableInput    = "input"    // input registers, FC4
	TableCoil     = "coil"     // coils, FC1 read, FC5/15 write
	TableDiscrete = "discrete" // discrete inputs, FC2
)

// Register formats: how the 16-bit words of a Modbus point encode its value.
const (
	FormatU16    = "u16"
	FormatI16    = "i16"
	FormatU32    = "u32"
	FormatI32    = "i32"
	FormatU64    = "u64"
	FormatI64    = "i64"
	FormatF32    = "f32"
	FormatF64    = "f64"
	FormatString = "string" // Count registers of text, two bytes each, NULs and trailing spaces trimmed
)

// Register is where a Modbus point lives and how its registers encode the value.
type Register struct {
	// Table is TableHolding, TableInput, TableCoil or TableDiscrete.
	Table string `json:"table"`
	// Address is the 0-based PDU address of the first register (or bit). With Model it is the offset
	// in the SunSpec model's block instead, counted from the first register after the model's ID and L.
	Address uint16 `json:"address"`
	// Format is one of the Format* constants; empty for coils and discrete inputs (one bit).
	Format string `json:"format,omitempty"`
	// Count is how many registers a FormatString spans.
	Count int `json:"count,omitempty"`
	// WordOrder is "big" (default: most significant register first) or "little".
	WordOrder string `json:"wordOrder,omitempty"`
	// ByteOrder is "big" (default: most significant byte first within a register) or "little".
	ByteOrder string `json:"byteOrder,omitempty"`
	// ScaleFactor, when set, is the address (same table, same Model) of a SunSpec scale factor: a
	// signed 16-bit power of ten applied to the raw value (0x8000 means "not implemented").
	ScaleFactor *uint16 `json:"scaleFactor,omitempty"`
	// Model is a SunSpec model id (1 common, 101 inverter, ...): the driver finds where the device
	// put that model by walking the model list from "SunS". Zero means Address is absolute.
	Model int `json:"model,omitempty"`
}

// Words is how many 16-bit registers the register's format spans (1 for coils and discrete inputs:
// one bit).
func (r *Register) Words() int {
	switch r.Format {
	case FormatU32, FormatI32, FormatF32:
		return 2
	case FormatU64, FormatI64, FormatF64:
		return 4
	case FormatString:
		return r.Count
	}
	return 1
}

// Method is an action a profile declares (reboot, input select): a SET of Value on OID, or a write
// of Value to Register.
type Method struct {
	Name     string    `json:"name"`
	OID      string    `json:"oid,omitempty"`
	Register *Register `json:"register,omitempty"`
	Type     ValueType `json:"type"`
	Value    string    `json:"value"`
}

// Match says which devices a profile is for. Every condition that is set must hold: the device's
// sysObjectID starts with one of SysObjectIDs (compared on whole arcs), its sysDescr matches the regular
// expression SysDescr, and it answers every OID in Present. A profile with no condition matches nothing
// by itself (it is a base that others extend).
type Match struct {
	SysObjectIDs []string `json:"sysObjectIds,omitempty"`
	SysDescr     string   `json:"sysDescr,omitempty"`
	Present      []string `json:"present,omitempty"`
	// Services are mDNS service types ("_pjlink._tcp"): an mDNS profile matches a device that
	// announces any of them.
	Services []string `json:"services,omitempty"`
	// VendorName and ProductCode are regular expressions on a Modbus device's Read Device
	// Identification objects 0 and 1; SunSpecModels are SunSpec model ids the device must have.
	VendorName    string `json:"vendorName,omitempty"`
	ProductCode   string `json:"productCode,omitempty"`
	SunSpecModels []int  `json:"sunspecModels,omitempty"`
}

// IdentityOIDs says where a profile's devices keep their identity, read at discovery. For SNMP,
// Sources holds, per profile key ("serial", "serial_from_sys_descr", ...), the places tried in order;
// the first that gives a usable value wins and beats what the standard MIBs said. Fallback is tried
// after the standard MIBs (generic sysDescr grammars, say).
type IdentityOIDs struct {
	// Sources is keyed by the profile's identity keys: a field ("serial", "model", "manufacturer",
	// "firmware", "hardware", "mac") or a field's "_from_sys_descr" key. Chain gives one field's
	// sources in the order they are tried.
	Sources map[string][]IdentitySource `json:"sources,omitempty"`
	// Fallback is keyed by field; a profile's fallback sources come before its bases'.
	Fallback map[string][]IdentitySource `json:"fallback,omitempty"`
	// Registers name Modbus registers holding identity, keyed by field: "serial", "model",
	// "manufacturer", "firmware", "hardware", "mac" (a string, or 6 bytes in 3 registers).
	Registers map[string]Register `json:"registers,omitempty"`
	// TXT names the mDNS TXT keys holding identity, keyed by field as Registers, each a list of keys
	// tried in order (case-insensitive).
	TXT map[string][]string `json:"txt,omitempty"`
}

// String says where a source reads, for `profile test` and claim errors.
func (s IdentitySource) String() string {
	var b strings.Builder
	switch {
	case s.SysDescr:
		b.WriteString("sysDescr")
	case s.SysObjectID:
		b.WriteString("sysObjectID")
	case s.OID != "" && s.Next:
		b.WriteString("first object under " + s.OID)
	case s.OID != "":
		b.WriteString(s.OID)
	default:
		b.WriteString(strings.Join(s.OIDs, " + "))
	}
	if s.As != "" {
		b.WriteString(" as " + s.As)
	}
	if s.Regex != "" {
		fmt.Fprintf(&b, " =~ /%s/", s.Regex)
		if s.Replace != "" {
			b.WriteString(" -> " + s.Replace)
		}
	}
	if s.Map != nil {
		fmt.Fprintf(&b, " through a map of %d", len(s.Map))
	}
	return b.String()
}

// Chain returns the sources of one identity field in the order they are tried: the field's own key,
// then its "_from_sys_descr" rules.
func (id *IdentityOIDs) Chain(field string) []IdentitySource {
	own, descr := id.Sources[field], id.Sources[field+"_from_sys_descr"]
	if len(descr) == 0 {
		return own
	}
	return append(append(make([]IdentitySource, 0, len(own)+len(descr)), own...), descr...)
}

// IdentitySource is one place an SNMP agent may keep an identity field, and how to read the value
// out of what is there. Exactly one of OID, OIDs, SysDescr and SysObjectID is set.
type IdentitySource struct {
	// OID is read with GET; with Next, it is a column or subtree and the first object under it is read
	// (a table whose row index differs between units).
	OID  string `json:"oid,omitempty"`
	Next bool   `json:"next,omitempty"`
	// OIDs are read together and their usable values joined with Join (a space when empty): a model
	// made of a family and a rating.
	OIDs []string `json:"oids,omitempty"`
	Join string   `json:"join,omitempty"`
	// SysDescr and SysObjectID take the value from the system group already read.
	SysDescr    bool `json:"sysDescr,omitempty"`
	SysObjectID bool `json:"sysObjectId,omitempty"`
	// As says how an OCTET STRING becomes text: "" (text; other bytes as hex), "mac" (six octets as
	// aa:bb:cc:dd:ee:ff) or "hex".
	As string `json:"as,omitempty"`
	// Regex, when set, must match the value; the value becomes its one group, or Replace expanded
	// with the groups ($1, ${name}).
	Regex   string `json:"regex,omitempty"`
	Replace string `json:"replace,omitempty"`
	// Map turns the value (after Regex) into text; a value the map does not hold gives nothing.
	Map map[string]string `json:"map,omitempty"`
}

// Identity fields that IdentityOIDs.Registers and IdentityOIDs.TXT may name.
var IdentityFields = []string{"serial", "model", "manufacturer", "firmware", "hardware", "mac"}

// Profile is a device model's description: how to recognise it and what to poll.
type Profile struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Kind is the device family: ups, pdu, sensor, printer, projector, display, codec, switch, meter,
	// inverter or other.
	Kind string `json:"kind,omitempty"`
	// Protocol is the protocol the profile's points speak: "snmp" (the default), "modbus" or "mdns".
	Protocol string `json:"protocol,omitempty"`
	// Manufacturer is used when the device does not say its own.
	Manufacturer string       `json:"manufacturer,omitempty"`
	Match        Match        `json:"match"`
	Identity     IdentityOIDs `json:"identity"`
	Points       []Point      `json:"points"`
	Methods      []Method     `json:"methods,omitempty"`
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

// ProtocolName is the profile's protocol, "snmp" when the profile does not say.
func (p *Profile) ProtocolName() string {
	if p.Protocol == "" {
		return "snmp"
	}
	return p.Protocol
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
