package profile

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/protocol"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// DefaultProtocol is the protocol of a profile that names none: profile files predate the others.
const DefaultProtocol = "snmp"

// Codecs are the protocols' profile decoders, by protocol name (protocol.Spec.Profile of each driver).
type Codecs map[string]protocol.ProfileCodec

// rawProfile is one [[profile]] as written, before extends is resolved, with what later errors need to
// point at it.
type rawProfile struct {
	prof    gateway.Profile // own fields only; Kind and Manufacturer empty when not written
	extends []string
	doc     *tomlx.Doc
	key     string   // its key path, "profile[2]"
	extKeys []string // the key path of each extends element
	// setKeys is, for each own event, the key path of its set table ("" without one): its values are
	// checked against the points once extends is resolved.
	setKeys []string
}

// errorf makes a placed error about raw, at key (a path inside its document).
func (r *rawProfile) errorf(key string, format string, args ...any) *Error {
	return r.doc.NewError(key, false, format, args...)
}

var (
	profileNameRE = regexp.MustCompile(`^[a-z0-9-]+$`)
	memberNameRE  = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
)

// kinds are the device families a profile may name; every twin has one. "generic", the name of
// "other" before there were more kinds, is still read.
var kinds = []string{"ups", "pdu", "sensor", "printer", "projector", "display", "codec", "switch", "meter", "inverter", "other"}

// units are the unit codes a point may carry: UCUM case-sensitive codes (as SenML, RFC 8428, uses
// them), so that a consumer can convert without guessing.
var units = []string{
	"%", "%RH", "Cel", "V", "A", "W", "kW", "VA", "kVA", "var", "Wh", "kWh", "Hz",
	"ms", "s", "min", "h", "d", "B", "bit/s", "Pa", "dB", "dBm", "lx", "cd/m2", "1/min",
}

// unitHints maps spellings people write to the code to use instead.
var unitHints = map[string]string{
	"°C": "Cel", "C": "Cel", "degC": "Cel", "celsius": "Cel", "Celsius": "Cel",
	"percent": "%", "pct": "%", "volt": "V", "volts": "V", "amp": "A", "amps": "A", "watt": "W", "watts": "W",
	"sec": "s", "secs": "s", "second": "s", "seconds": "s", "minutes": "min", "mins": "min",
	"hour": "h", "hours": "h", "hr": "h", "hrs": "h", "days": "d", "rpm": "1/min", "nit": "cd/m2", "nits": "cd/m2",
	"bytes": "B", "bps": "bit/s",
}

// decoder turns one document into raw profiles.
type decoder struct {
	doc    *tomlx.Doc
	codecs Codecs
	proto  string // the protocol of the profile being decoded
	codec  protocol.ProfileCodec
}

// parseFile parses and checks one file. It returns the profiles it could make sense of even when there
// are errors, so that later checks (extends, duplicates) still run over them. Built-in profiles of a
// protocol without a codec are left out: a build, or a driver's test, without that driver.
func parseFile(source string, data []byte, codecs Codecs) ([]*rawProfile, []*Error) {
	doc, err := tomlx.Parse(source, data)
	if err != nil {
		var es tomlx.Errors
		errors.As(err, &es)
		return nil, es
	}
	d := &decoder{doc: doc, codecs: codecs}
	root := doc.Table()
	root.Known("profile")
	var raws []*rawProfile
	if !root.Has("profile") {
		doc.Add(&Error{Line: 1, Col: 1, Msg: "no profiles: a file holds one or more [[profile]] tables"})
	} else if _, ok := root.M["profile"].(map[string]any); ok {
		doc.Errorf("profile", "must be an array of tables: write [[profile]], not [profile]")
	} else {
		for _, t := range root.Tables("profile") {
			if r := d.profile(t); r != nil {
				raws = append(raws, r)
			}
		}
	}
	es, _ := doc.Err().(tomlx.Errors)
	return raws, es
}

func (d *decoder) protocols() []string {
	names := make([]string, 0, len(d.codecs))
	for n := range d.codecs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (d *decoder) profile(t tomlx.Table) *rawProfile {
	r := &rawProfile{doc: d.doc, key: t.Path}
	p := &r.prof
	p.Source = d.doc.Source
	t.Known("name", "description", "kind", "protocol", "manufacturer", "extends", "match", "identity", "point", "method", "event")
	d.proto = DefaultProtocol
	if proto, ok := t.String("protocol"); ok {
		d.proto = proto
	}
	if _, known := d.codecs[d.proto]; !known {
		if strings.HasPrefix(d.doc.Source, embeddedPrefix) {
			return nil // a built-in profile of a protocol this build (or test) has no driver for
		}
		t.Errorf("protocol", "unknown protocol %q (known: %s)", d.proto, strings.Join(d.protocols(), ", "))
	}
	p.Protocol = d.proto
	d.codec = d.codecs[d.proto]

	if name, ok := t.String("name"); ok {
		if !profileNameRE.MatchString(name) {
			t.Errorf("name", "profile name %q: use lower-case letters, digits and hyphens", name)
		}
		p.Name = name
	} else if !t.Has("name") {
		t.Errorf("", "profile has no name")
	}
	p.Description, _ = t.String("description")
	if kind, ok := t.String("kind"); ok {
		if kind == "generic" {
			kind = "other"
		}
		if !slices.Contains(kinds, kind) {
			t.Errorf("kind", "unknown kind %q (known: %s)", kind, strings.Join(kinds, ", "))
		} else {
			p.Kind = kind
		}
	}
	if m, ok := t.String("manufacturer"); ok {
		if strings.TrimSpace(m) == "" {
			t.Errorf("manufacturer", "manufacturer is empty: leave it out")
		}
		p.Manufacturer = m
	}
	ext, extKeys := t.Strings("extends")
	for i, e := range ext {
		if slices.Contains(r.extends, e) {
			d.doc.Errorf(extKeys[i], "%q is listed twice in extends", e)
			continue
		}
		r.extends = append(r.extends, e)
		r.extKeys = append(r.extKeys, extKeys[i])
	}
	if d.codec == nil {
		return r // an unknown protocol: its sections mean nothing
	}
	if m, ok := t.Sub("match"); ok {
		d.known(m, d.codec.MatchKeys(), "match")
		p.Match = d.codec.Match(m)
	}
	if m, ok := t.Sub("identity"); ok {
		d.known(m, d.codec.IdentityKeys(), "identity")
		p.Identity = d.codec.Identity(m)
	}
	first := map[string]string{}
	for _, pt := range t.Tables("point") {
		point, ok := d.point(pt)
		if !ok {
			continue
		}
		if prev, dup := first[point.Name]; dup {
			l, _ := d.doc.Pos(prev)
			pt.Errorf("name", "duplicate point %q (first at line %d)", point.Name, l)
			continue
		}
		first[point.Name] = pt.Key("name")
		p.Points = append(p.Points, point)
	}
	first = map[string]string{}
	for _, mt := range t.Tables("method") {
		method, ok := d.method(mt)
		if !ok {
			continue
		}
		if prev, dup := first[method.Name]; dup {
			l, _ := d.doc.Pos(prev)
			mt.Errorf("name", "duplicate method %q (first at line %d)", method.Name, l)
			continue
		}
		first[method.Name] = mt.Key("name")
		p.Methods = append(p.Methods, method)
	}
	if t.Has("event") {
		ec, ok := d.codec.(protocol.EventCodec)
		if !ok {
			t.KeyErrorf("event", "protocol %q has no events: a %s device sends nothing on its own", d.proto, d.proto)
			return r
		}
		for _, et := range t.Tables("event") {
			if ev, ok := d.event(et, ec); ok {
				p.Events = append(p.Events, ev)
				setKey := ""
				if et.Has("set") {
					setKey = et.Key("set")
				}
				r.setKeys = append(r.setKeys, setKey)
			}
		}
	}
	return r
}

// eventKeys are the protocol-neutral keys of an event.
var eventKeys = []string{"name", "severity", "description", "set"}

// event decodes one [[profile.event]]: the neutral keys here, the protocol's through its codec.
func (d *decoder) event(t tomlx.Table, ec protocol.EventCodec) (gateway.EventRule, bool) {
	var e gateway.EventRule
	d.known(t, slices.Concat(eventKeys, ec.EventKeys()), "event")
	// Missing keys are one message: the table's errors are kept one per key.
	var missing []string
	for _, k := range []string{"name", "severity"} {
		if !t.Has(k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("", "event has no %s (severity: %s)", strings.Join(missing, " and no "), strings.Join(gateway.Severities, ", "))
	}
	name, ok := t.String("name")
	if ok && !memberNameRE.MatchString(name) {
		t.Errorf("name", "event name %q is not camelCase (a lower-case letter, then letters and digits)", name)
		ok = false
	}
	e.Name = name
	if sev, present := t.String("severity"); present {
		if gateway.SeverityRank(sev) < 0 {
			t.Errorf("severity", "unknown severity %q (known: %s)", sev, strings.Join(gateway.Severities, ", "))
			ok = false
		}
		e.Severity = sev
	} else {
		ok = false
	}
	e.Description, _ = t.String("description")
	if st, present := t.Sub("set"); present {
		if len(st.M) == 0 {
			st.Errorf("", "set is empty: leave it out")
		}
		e.Set = map[string]gateway.Value{}
		for _, k := range st.Keys() {
			switch v := st.M[k].(type) {
			case string:
				e.Set[k] = gateway.String(v)
			case int64:
				e.Set[k] = gateway.Number(float64(v))
			case float64:
				e.Set[k] = gateway.Number(v)
			case bool:
				e.Set[k] = gateway.Bool(v)
			default:
				st.Errorf(k, "must be a string, number or boolean, got %s", tomlx.Describe(v, true))
			}
		}
	}
	match, clear := ec.Event(t, fmt.Sprintf("event %q", name))
	if match == nil {
		return e, false
	}
	e.Match, e.Clear = match, clear
	return e, ok
}

// checkSet reports an event's set value that names no point of the profile, or does not suit the
// point's type.
func checkSet(p *gateway.Profile, set map[string]gateway.Value, report func(name, format string, args ...any)) {
	for _, name := range slices.Sorted(maps.Keys(set)) {
		v := set[name]
		pt := p.Point(name)
		if pt == nil {
			report(name, "set names %q, which is not a point of profile %q", name, p.Name)
			continue
		}
		switch {
		case pt.Type == gateway.TypeEnum:
			if v.Kind != gateway.KindString || !slices.Contains(slices.Collect(maps.Values(pt.Enum)), v.Str) {
				names := slices.Sorted(maps.Values(pt.Enum))
				report(name, "point %q is an enum: set it to one of %s", name, strings.Join(names, ", "))
			}
		case pt.Type == gateway.TypeBool:
			if v.Kind != gateway.KindBool {
				report(name, "point %q is a bool: set it to true or false", name)
			}
		case pt.Type.Numeric():
			if v.Kind != gateway.KindNumber {
				report(name, "point %q is a number (%s): set it to a number", name, pt.Type)
			}
		default:
			if v.Kind != gateway.KindString {
				report(name, "point %q is of type %q: set it to a string", name, pt.Type)
			}
		}
	}
}

// known reports the unknown keys of a protocol section, saying so when a key belongs to another
// protocol ("oid is for protocol = \"snmp\" profiles").
func (d *decoder) known(t tomlx.Table, keys []string, section string) {
	for _, k := range t.Keys() {
		if slices.Contains(keys, k) {
			continue
		}
		if other := d.keyProtocol(k, section); other != "" {
			t.KeyErrorf(k, "%s is for protocol = %q profiles; this one is %s", k, other, d.proto)
			continue
		}
		t.Unknown(k, keys)
	}
}

// keyProtocol names another protocol that has key in section ("point", "method", "match",
// "identity"); "" when none does.
func (d *decoder) keyProtocol(key, section string) string {
	for _, name := range d.protocols() {
		if name == d.proto {
			continue
		}
		c := d.codecs[name]
		var keys []string
		switch section {
		case "point":
			keys = c.AddressKeys(false)
		case "method":
			keys = c.AddressKeys(true)
		case "match":
			keys = c.MatchKeys()
		case "identity":
			keys = c.IdentityKeys()
		case "event":
			if ec, ok := c.(protocol.EventCodec); ok {
				keys = ec.EventKeys()
			}
		}
		if slices.Contains(keys, key) {
			return name
		}
	}
	return ""
}

// pointKeys are the protocol-neutral keys of a point.
var pointKeys = []string{"type", "scale", "offset", "unit", "absent", "enum", "bits", "writable", "min", "max", "max_len"}

func (d *decoder) point(t tomlx.Table) (gateway.Point, bool) {
	var p gateway.Point
	d.known(t, slices.Concat([]string{"name"}, d.codec.AddressKeys(false), pointKeys), "point")
	name, ok := t.String("name")
	switch {
	case !ok:
		if !t.Has("name") {
			t.Errorf("", "point has no name")
		}
	case !memberNameRE.MatchString(name):
		t.Errorf("name", "point name %q is not camelCase (a lower-case letter, then letters and digits)", name)
		ok = false
	}
	p.Name = name
	p.Address = d.codec.Address(t, fmt.Sprintf("point %q", name), false)
	typeOK := false
	if s, present := t.String("type"); present {
		p.Type = gateway.ValueType(s)
		typeOK = p.Type.Valid()
		if !typeOK {
			t.Errorf("type", "unknown type %q (known: %s)", s, typeList())
		}
	} else if !t.Has("type") {
		if p.Type = d.codec.DefaultType(p.Address); p.Type != "" {
			typeOK = true
		} else if p.Address != nil {
			t.Errorf("", "point %q has no type", name)
		}
	}
	numeric := p.Type.Numeric()

	if f, present := t.Number("scale"); present {
		switch {
		case f == 0:
			t.Errorf("scale", "scale 0 is meaningless: leave scale out for 1")
		case typeOK && !numeric:
			t.Errorf("scale", "scale applies to numbers, not to type %q", p.Type)
		}
		p.Scale = f
	}
	if f, present := t.Number("offset"); present {
		if typeOK && !numeric {
			t.Errorf("offset", "offset applies to numbers, not to type %q", p.Type)
		}
		p.Offset = f
	}
	if u, present := t.String("unit"); present {
		switch {
		case slices.Contains(units, u):
			p.Unit = u
		case unitHints[u] != "":
			t.Errorf("unit", "unit %q: write %q (units are UCUM codes)", u, unitHints[u])
		default:
			t.Errorf("unit", "unknown unit %q (known: %s)", u, strings.Join(units, " "))
		}
	}
	if e, present := t.Sub("enum"); present {
		p.Enum = d.enum(e)
		if typeOK && p.Type != gateway.TypeEnum {
			t.KeyErrorf("enum", "enum is only for type \"enum\", not %q", p.Type)
		}
	} else if !t.Has("enum") && p.Type == gateway.TypeEnum {
		t.Errorf("type", "type \"enum\" needs an enum table: enum = { 1 = \"on\", 2 = \"off\" }")
	}
	if e, present := t.Sub("bits"); present {
		p.Bits = d.enum(e)
		for n := range p.Bits {
			if n < 0 || n > 65535 {
				e.KeyErrorf(strconv.FormatInt(n, 10), "bit %d: bits count from 0 (the first octet's most significant bit)", n)
			}
		}
		if typeOK && p.Type != gateway.TypeBits {
			t.KeyErrorf("bits", "bits is only for type \"bits\", not %q", p.Type)
		}
	} else if !t.Has("bits") && p.Type == gateway.TypeBits {
		t.Errorf("type", "type \"bits\" needs a bits table: bits = { 0 = \"lowPaper\", 1 = \"noPaper\" }")
	}
	if v, present := t.M["absent"]; present {
		list, isList := v.([]any)
		if !isList {
			t.Errorf("absent", "must be an array of numbers, got %s", tomlx.Describe(v, true))
		}
		for _, e := range list {
			switch n := e.(type) {
			case int64:
				p.Absent = append(p.Absent, float64(n))
			case float64:
				p.Absent = append(p.Absent, n)
			default:
				t.Errorf("absent", "must be an array of numbers, got %s in it", tomlx.Describe(e, true))
			}
		}
		if typeOK && !numeric && p.Type != gateway.TypeEnum && p.Type != gateway.TypeBool {
			t.Errorf("absent", "absent lists raw numbers: not for type %q", p.Type)
		}
	}
	if w, present := t.Bool("writable"); present {
		p.Writable = w
		if w && p.Type == gateway.TypeBits {
			t.Errorf("writable", "a bits point cannot be writable")
		}
		if w && (p.Type == gateway.TypeCounter || p.Type == gateway.TypeTimeticks) {
			t.Errorf("writable", "a %s point cannot be writable", p.Type)
		}
	}
	for _, k := range []string{"min", "max"} {
		f, present := t.Number(k)
		if !present {
			continue
		}
		switch {
		case !p.Writable:
			t.KeyErrorf(k, "%s limits writes: it needs writable = true", k)
		case typeOK && !numeric:
			t.KeyErrorf(k, "%s applies to numbers, not to type %q", k, p.Type)
		}
		if k == "min" {
			p.Min = &f
		} else {
			p.Max = &f
		}
	}
	if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
		t.Errorf("min", "min %v is greater than max %v", *p.Min, *p.Max)
	}
	if n, present := t.Int("max_len"); present {
		switch {
		case n < 1 || n > 65535:
			t.Errorf("max_len", "max_len %d is out of range 1..65535", n)
		case !p.Writable:
			t.KeyErrorf("max_len", "max_len limits writes: it needs writable = true")
		case typeOK && p.Type != gateway.TypeString:
			t.KeyErrorf("max_len", "max_len applies to strings, not to type %q", p.Type)
		default:
			p.MaxLen = int(n)
		}
	}
	if p.Address != nil {
		d.codec.CheckPoint(t, &p)
	}
	return p, ok
}

func typeList() string {
	return "int, uint, counter, float, string, timeticks, bool, enum, mac, ip, oid, bits"
}

// enum decodes { 1 = "on", 2 = "standby" } (or a bits table): integer keys, distinct non-empty names.
func (d *decoder) enum(t tomlx.Table) map[int64]string {
	what := t.Path[strings.LastIndexByte(t.Path, '.')+1:] // "enum" or "bits"
	if len(t.M) == 0 {
		t.Errorf("", "%s is empty", what)
		return nil
	}
	out := make(map[int64]string, len(t.M))
	names := map[string]int64{}
	keys := t.Keys()
	// In the order written, so that a repeat is reported where it repeats.
	slices.SortStableFunc(keys, func(a, b string) int {
		la, ca := d.doc.KeyPos(t.Key(a))
		lb, cb := d.doc.KeyPos(t.Key(b))
		return cmp.Or(cmp.Compare(la, lb), cmp.Compare(ca, cb))
	})
	for _, k := range keys {
		n, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			t.KeyErrorf(k, "%s key %q is not an integer", what, k)
			continue
		}
		v, ok := t.M[k].(string)
		if !ok {
			t.Errorf(k, "%s value for %s must be a string, not %s", what, k, tomlx.Describe(t.M[k], false))
			continue
		}
		if _, dup := out[n]; dup {
			t.KeyErrorf(k, "%s key %q repeats %d", what, k, n)
			continue
		}
		if v == "" {
			t.Errorf(k, "%s name for %d is empty", what, n)
			continue
		}
		if prev, dup := names[v]; dup {
			t.Errorf(k, "%s name %q is used for both %d and %d", what, v, prev, n)
			continue
		}
		names[v] = n
		out[n] = v
	}
	return out
}

// method decodes one [[profile.method]].
func (d *decoder) method(t tomlx.Table) (gateway.Method, bool) {
	var m gateway.Method
	d.known(t, slices.Concat([]string{"name"}, d.codec.AddressKeys(true), []string{"type", "value"}), "method")
	name, ok := t.String("name")
	switch {
	case !ok:
		if !t.Has("name") {
			t.Errorf("", "method has no name")
		}
	case !memberNameRE.MatchString(name):
		t.Errorf("name", "method name %q is not camelCase (a lower-case letter, then letters and digits)", name)
		ok = false
	}
	m.Name = name
	m.Address = d.codec.Address(t, fmt.Sprintf("method %q", name), true)
	typeOK := false
	if s, present := t.String("type"); present {
		m.Type = gateway.ValueType(s)
		typeOK = m.Type.Valid()
		switch {
		case !typeOK:
			t.Errorf("type", "unknown type %q (known: %s)", s, typeList())
		case m.Type == gateway.TypeCounter:
			t.Errorf("type", "a method cannot set a counter")
			typeOK = false
		}
	} else if !t.Has("type") {
		t.Errorf("", "method %q has no type", name)
	}
	switch v := t.M["value"].(type) {
	case nil:
		t.Errorf("", "method %q has no value", name)
	case string:
		m.Value = v
	case int64:
		m.Value = strconv.FormatInt(v, 10)
	default:
		t.Errorf("value", "must be a string or an integer, got %s", tomlx.Describe(v, true))
		return m, ok
	}
	if typeOK && t.M["value"] != nil {
		if err := checkValue(m.Type, m.Value); err != nil {
			t.Errorf("value", "value %q: %v", m.Value, err)
		}
	}
	return m, ok
}

// checkValue reports whether s can be written as a value of type t.
func checkValue(t gateway.ValueType, s string) error {
	var err error
	switch t {
	case gateway.TypeInt, gateway.TypeEnum, gateway.TypeBool:
		_, err = strconv.ParseInt(s, 10, 32)
		if err != nil {
			return fmt.Errorf("type %q sets a 32-bit integer", t)
		}
	case gateway.TypeUint, gateway.TypeTimeticks:
		_, err = strconv.ParseUint(s, 10, 32)
		if err != nil {
			return fmt.Errorf("type %q sets an unsigned 32-bit integer", t)
		}
	case gateway.TypeFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return errors.New(`type "float" sets a finite number`)
		}
	case gateway.TypeOID:
		if _, err := gateway.ParseOID(s); err != nil {
			return fmt.Errorf(`type "oid" sets an oid, and this one %v`, err)
		}
	case gateway.TypeIP:
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return errors.New(`type "ip" sets a dotted IPv4 address`)
		}
	case gateway.TypeMAC:
		hw, err := net.ParseMAC(s)
		if err != nil || len(hw) != 6 {
			return errors.New(`type "mac" sets six octets, aa:bb:cc:dd:ee:ff`)
		}
	}
	return nil
}
