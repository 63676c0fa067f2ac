package profile

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/edgegw/edgegw/gateway"
)

// rawProfile is one [[profile]] as written, before extends is resolved, with the positions that later
// errors point at.
type rawProfile struct {
	prof      gateway.Profile // own fields only; Kind and Manufacturer empty when not written
	extends   []string
	extendsAt []position // one per extends element
	at        position   // the [[profile]] header
	nameAt    position
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

// decoder turns one decoded TOML document into raw profiles, collecting every problem it finds.
type decoder struct {
	src  string
	ix   *posIndex
	errs []*Error
	// proto is the protocol of the profile being decoded ("snmp", "modbus", "mdns").
	proto string
}

// parseFile parses and checks one file. It returns the profiles it could make sense of even when there
// are errors, so that later checks (extends, duplicates) still run over them.
func parseFile(source string, data []byte) ([]*rawProfile, []*Error) {
	d := &decoder{src: source}
	if !utf8.Valid(data) {
		return nil, []*Error{{Source: source, Line: 1, Col: 1, Msg: "file is not UTF-8"}}
	}
	text := string(data)
	var doc map[string]any
	if _, err := toml.Decode(text, &doc); err != nil {
		d.errs = append(d.errs, syntaxError(source, text, err))
		return nil, d.errs
	}
	d.ix = indexPositions(text)
	var raws []*rawProfile
	for _, k := range sortedKeys(doc) {
		if k != "profile" {
			d.unknownKey([]string{k}, "profile")
		}
	}
	v, ok := doc["profile"]
	if !ok {
		d.errorf(position{1, 1}, "no profiles: a file holds one or more [[profile]] tables")
		return nil, d.errs
	}
	path := []string{"profile"}
	tables, ok := d.tableArray(v, path)
	if !ok {
		return nil, d.errs
	}
	for i, t := range tables {
		raws = append(raws, d.profile(t, sub(path, strconv.Itoa(i))))
	}
	return raws, d.errs
}

// syntaxError turns a toml error into an Error with a position.
func syntaxError(source, text string, err error) *Error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return &Error{Source: source, Line: 1, Col: 1, Msg: "toml: " + err.Error()}
	}
	msg := pe.Message
	if pe.Usage != "" {
		msg += " (" + strings.Join(strings.Fields(pe.Usage), " ") + ")"
	}
	line, col := pe.Position.Line, pe.Position.Col
	if s := pe.Position.Start; s >= 0 && s <= len(text) {
		// Recount from the byte offset: toml's column counts bytes, ours count characters.
		before := text[:s]
		line = strings.Count(before, "\n") + 1
		col = utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	}
	return &Error{Source: source, Line: max(line, 1), Col: max(col, 1), Msg: "toml: " + msg}
}

func sub(path []string, more ...string) []string {
	return append(append(make([]string, 0, len(path)+len(more)), path...), more...)
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (d *decoder) errorf(at position, format string, args ...any) {
	d.errs = append(d.errs, &Error{Source: d.src, Line: at.line, Col: at.col, Msg: fmt.Sprintf(format, args...)})
}

// tableAt is where the table at path begins: its header, or the { of an inline table.
func (d *decoder) tableAt(path []string) position {
	if p, ok := d.ix.vals[pathKey(path)]; ok {
		return p
	}
	return d.ix.key(path)
}

// name describes the table at path for messages: [[profile]], [profile.match], [[profile.point]].
func describe(path []string) string {
	var parts []string
	last := ""
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			last = "array"
			continue
		}
		parts = append(parts, p)
		last = ""
	}
	if len(parts) == 0 {
		return "the top level"
	}
	if last == "array" {
		return "[[" + strings.Join(parts, ".") + "]]"
	}
	return "[" + strings.Join(parts, ".") + "]"
}

func (d *decoder) unknownKey(path []string, allowed ...string) {
	k := path[len(path)-1]
	where := describe(path[:len(path)-1])
	for _, a := range allowed {
		if strings.EqualFold(a, k) {
			d.errorf(d.ix.key(path), "unknown key %q in %s: keys are case-sensitive, write %q", k, where, a)
			return
		}
	}
	if proto := keyProtocol[k]; proto != "" && proto != d.proto {
		d.errorf(d.ix.key(path), "%s is for protocol = %q profiles; this one is %s", k, proto, d.proto)
		return
	}
	d.errorf(d.ix.key(path), "unknown key %q in %s (known: %s)", k, where, strings.Join(allowed, ", "))
}

// fields reports every key of m that is not allowed.
func (d *decoder) fields(m map[string]any, path []string, allowed ...string) {
	for _, k := range sortedKeys(m) {
		if !slices.Contains(allowed, k) {
			d.unknownKey(sub(path, k), allowed...)
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date or time"
	case []any:
		return "an array"
	case []map[string]any:
		return "an array of tables"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

func (d *decoder) wrongType(path []string, want string, v any) {
	d.errorf(d.ix.val(path), "%s must be %s, not %s", path[len(path)-1], want, typeName(v))
}

// str returns m[key] as a string; ok is false when it is absent or not a string (reported).
func (d *decoder) str(m map[string]any, path []string, key string) (string, bool) {
	v, present := m[key]
	if !present {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		d.wrongType(sub(path, key), "a string", v)
	}
	return s, ok
}

// number returns m[key] as a float, from a TOML integer or float.
func (d *decoder) number(m map[string]any, path []string, key string) (float64, bool) {
	v, present := m[key]
	if !present {
		return 0, false
	}
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case float64:
		f = n
	default:
		d.wrongType(sub(path, key), "a number", v)
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.errorf(d.ix.val(sub(path, key)), "%s must be a finite number", key)
		return 0, false
	}
	return f, true
}

func (d *decoder) integer(m map[string]any, path []string, key string) (int64, bool) {
	v, present := m[key]
	if !present {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		d.wrongType(sub(path, key), "an integer", v)
	}
	return n, ok
}

func (d *decoder) boolean(m map[string]any, path []string, key string) (bool, bool) {
	v, present := m[key]
	if !present {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		d.wrongType(sub(path, key), "true or false", v)
	}
	return b, ok
}

// strings returns m[key] as a list of strings, each with its path; bad elements are reported and left
// out.
func (d *decoder) strs(m map[string]any, path []string, key string) ([]string, [][]string) {
	v, present := m[key]
	if !present {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		d.wrongType(sub(path, key), "an array of strings", v)
		return nil, nil
	}
	var out []string
	var paths [][]string
	for i, e := range arr {
		p := sub(path, key, strconv.Itoa(i))
		s, ok := e.(string)
		if !ok {
			d.errorf(d.ix.val(p), "%s must hold strings, not %s", key, typeName(e))
			continue
		}
		out = append(out, s)
		paths = append(paths, p)
	}
	return out, paths
}

func (d *decoder) table(m map[string]any, path []string, key string) (map[string]any, bool) {
	v, present := m[key]
	if !present {
		return nil, false
	}
	t, ok := v.(map[string]any)
	if !ok {
		d.wrongType(sub(path, key), "a table", v)
	}
	return t, ok
}

// tableArray accepts [[x]] tables or an array of inline tables.
func (d *decoder) tableArray(v any, path []string) ([]map[string]any, bool) {
	switch t := v.(type) {
	case []map[string]any:
		return t, true
	case []any:
		out := make([]map[string]any, 0, len(t))
		for i, e := range t {
			m, ok := e.(map[string]any)
			if !ok {
				d.errorf(d.ix.val(sub(path, strconv.Itoa(i))), "%s must hold tables, not %s", path[len(path)-1], typeName(e))
				continue
			}
			out = append(out, m)
		}
		return out, true
	}
	d.errorf(d.ix.key(path), "%s must be an array of tables: write [[%s]]", path[len(path)-1], strings.Join(path, "."))
	return nil, false
}

// oid checks a written OID and returns it normalised: numeric, dotted, with a leading dot.
func (d *decoder) oid(s string, path []string) (string, bool) {
	n, err := normalizeOID(s)
	if err != nil {
		key := path[len(path)-1]
		if _, err := strconv.Atoi(key); err == nil && len(path) > 1 {
			key = path[len(path)-2]
		}
		d.errorf(d.ix.val(path), "%s: oid %q %v", key, s, err)
		return "", false
	}
	return n, true
}

// normalizeOID accepts ".1.3.6.1" or "1.3.6.1" and returns ".1.3.6.1". Each arc is a decimal uint32
// without leading zeros (so that prefixes compare as strings); there are at least two.
func normalizeOID(s string) (string, error) {
	if s == "" {
		return "", errors.New("is empty")
	}
	body := strings.TrimPrefix(s, ".")
	arcs := strings.Split(body, ".")
	if len(arcs) < 2 {
		return "", errors.New("needs at least two arcs")
	}
	for i, a := range arcs {
		if a == "" {
			return "", fmt.Errorf("arc %d is empty", i+1)
		}
		for _, c := range []byte(a) {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("arc %d (%q) is not a number: an OID is numeric, dotted", i+1, a)
			}
		}
		if len(a) > 1 && a[0] == '0' {
			return "", fmt.Errorf("arc %d (%q) has a leading zero", i+1, a)
		}
		if _, err := strconv.ParseUint(a, 10, 32); err != nil {
			return "", fmt.Errorf("arc %d (%s) does not fit in 32 bits", i+1, a)
		}
	}
	return "." + body, nil
}

func (d *decoder) profile(t map[string]any, path []string) *rawProfile {
	r := &rawProfile{at: d.tableAt(path)}
	p := &r.prof
	p.Source = d.src
	d.fields(t, path, "name", "description", "kind", "protocol", "manufacturer", "extends", "match", "identity", "point", "method")
	d.proto = "snmp"
	if proto, ok := d.str(t, path, "protocol"); ok {
		if !slices.Contains(protocols, proto) {
			d.errorf(d.ix.val(sub(path, "protocol")), "unknown protocol %q (known: %s)", proto, strings.Join(protocols, ", "))
		} else {
			d.proto = proto
			if proto != "snmp" {
				p.Protocol = proto
			}
		}
	}

	if name, ok := d.str(t, path, "name"); ok {
		r.nameAt = d.ix.val(sub(path, "name"))
		if !profileNameRE.MatchString(name) {
			d.errorf(r.nameAt, "profile name %q: use lower-case letters, digits and hyphens", name)
		}
		p.Name = name
	} else if _, present := t["name"]; !present {
		d.errorf(r.at, "profile has no name")
	}
	p.Description, _ = d.str(t, path, "description")
	if kind, ok := d.str(t, path, "kind"); ok {
		if kind == "generic" {
			kind = "other"
		}
		if !slices.Contains(kinds, kind) {
			d.errorf(d.ix.val(sub(path, "kind")), "unknown kind %q (known: %s)", kind, strings.Join(kinds, ", "))
		} else {
			p.Kind = kind
		}
	}
	if m, ok := d.str(t, path, "manufacturer"); ok {
		if strings.TrimSpace(m) == "" {
			d.errorf(d.ix.val(sub(path, "manufacturer")), "manufacturer is empty: leave it out")
		}
		p.Manufacturer = m
	}
	ext, extPaths := d.strs(t, path, "extends")
	for i, e := range ext {
		if slices.Contains(r.extends, e) {
			d.errorf(d.ix.val(extPaths[i]), "%q is listed twice in extends", e)
			continue
		}
		r.extends = append(r.extends, e)
		r.extendsAt = append(r.extendsAt, d.ix.val(extPaths[i]))
	}
	if m, ok := d.table(t, path, "match"); ok {
		d.match(m, sub(path, "match"), &p.Match)
	}
	if m, ok := d.table(t, path, "identity"); ok {
		d.identity(m, sub(path, "identity"), &p.Identity)
	}
	if v, ok := t["point"]; ok {
		pp := sub(path, "point")
		tables, _ := d.tableArray(v, pp)
		first := map[string]position{}
		for i, pt := range tables {
			ep := sub(pp, strconv.Itoa(i))
			point, ok := d.point(pt, ep)
			if !ok {
				continue
			}
			at := d.ix.val(sub(ep, "name"))
			if prev, dup := first[point.Name]; dup {
				d.errorf(at, "duplicate point %q (first at line %d)", point.Name, prev.line)
				continue
			}
			first[point.Name] = at
			p.Points = append(p.Points, point)
		}
	}
	if v, ok := t["method"]; ok {
		mp := sub(path, "method")
		tables, _ := d.tableArray(v, mp)
		first := map[string]position{}
		for i, mt := range tables {
			ep := sub(mp, strconv.Itoa(i))
			method, ok := d.method(mt, ep)
			if !ok {
				continue
			}
			at := d.ix.val(sub(ep, "name"))
			if prev, dup := first[method.Name]; dup {
				d.errorf(at, "duplicate method %q (first at line %d)", method.Name, prev.line)
				continue
			}
			first[method.Name] = at
			p.Methods = append(p.Methods, method)
		}
	}
	return r
}

func (d *decoder) match(t map[string]any, path []string, m *gateway.Match) {
	d.fields(t, path, matchKeys[d.proto]...)
	if d.proto != "snmp" {
		d.protoMatch(t, path, m)
		return
	}
	ids, idPaths := d.strs(t, path, "sys_object_ids")
	for i, s := range ids {
		if o, ok := d.oid(s, idPaths[i]); ok {
			m.SysObjectIDs = append(m.SysObjectIDs, o)
		}
	}
	if re, ok := d.str(t, path, "sys_descr"); ok {
		at := d.ix.val(sub(path, "sys_descr"))
		if re == "" {
			d.errorf(at, "sys_descr is empty: leave it out to match any description")
		} else if _, err := regexp.Compile(re); err != nil {
			d.errorf(at, "sys_descr: %v", err)
		} else {
			m.SysDescr = re
		}
	}
	present, presentPaths := d.strs(t, path, "present")
	for i, s := range present {
		if o, ok := d.oid(s, presentPaths[i]); ok && !slices.Contains(m.Present, o) {
			m.Present = append(m.Present, o)
		}
	}
}

// identityFields are the identity fields a profile may say where to read.
var identityFields = []string{"serial", "model", "manufacturer", "firmware", "hardware", "mac"}

// sourceKeys are the keys of one identity source table.
var sourceKeys = []string{"oid", "next", "oids", "join", "sys_descr", "sys_object_id", "as", "regex", "replace", "map"}

func (d *decoder) identity(t map[string]any, path []string, id *gateway.IdentityOIDs) {
	keys := slices.Clone(identityFields)
	for _, f := range identityFields {
		keys = append(keys, f+"_from_sys_descr")
	}
	keys = append(keys, "fallback")
	d.fields(t, path, keys...)
	if d.proto != "snmp" {
		d.protoIdentity(t, path, identityFields, id)
		return
	}
	id.Sources = d.identitySources(t, path, true)
	if fb, ok := d.table(t, path, "fallback"); ok {
		fp := sub(path, "fallback")
		d.fields(fb, fp, identityFields...)
		id.Fallback = d.identitySources(fb, fp, false)
	}
}

// identitySources decodes the identity fields of t (and, when descr, their _from_sys_descr keys) into
// sources keyed as written.
func (d *decoder) identitySources(t map[string]any, path []string, descr bool) map[string][]gateway.IdentitySource {
	out := map[string][]gateway.IdentitySource{}
	for _, f := range identityFields {
		if v, ok := t[f]; ok {
			if src := d.sourceList(v, sub(path, f), f); len(src) > 0 {
				out[f] = src
			}
		}
		k := f + "_from_sys_descr"
		if v, ok := t[k]; ok && descr {
			var exprs []any
			switch x := v.(type) {
			case string:
				exprs = []any{x}
			case []any:
				exprs = x
			default:
				d.wrongType(sub(path, k), "a regular expression or an array of them", v)
			}
			for i, e := range exprs {
				ep := sub(path, k)
				if _, list := v.([]any); list {
					ep = sub(ep, strconv.Itoa(i))
				}
				re, ok := e.(string)
				if !ok {
					d.errorf(d.ix.val(ep), "%s must hold regular expressions, not %s", k, typeName(e))
					continue
				}
				if d.regex(re, "", ep, k) {
					out[k] = append(out[k], gateway.IdentitySource{SysDescr: true, Regex: re})
				}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// sourceList decodes an identity field: an OID, a source table, or an array of either.
func (d *decoder) sourceList(v any, path []string, field string) []gateway.IdentitySource {
	var out []gateway.IdentitySource
	one := func(e any, p []string) {
		switch x := e.(type) {
		case string:
			if o, ok := d.oid(x, p); ok {
				out = append(out, gateway.IdentitySource{OID: o})
			}
		case map[string]any:
			if s, ok := d.source(x, p, field); ok {
				out = append(out, s)
			}
		default:
			d.errorf(d.ix.val(p), "%s must be an OID, a source table ({ oid = ..., regex = ... }) or an array of them, not %s", field, typeName(e))
		}
	}
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			d.errorf(d.ix.val(path), "%s is an empty array: leave it out", field)
		}
		for i, e := range x {
			one(e, sub(path, strconv.Itoa(i)))
		}
	case []map[string]any:
		for i, e := range x {
			one(e, sub(path, strconv.Itoa(i)))
		}
	default:
		one(v, path)
	}
	return out
}

// source decodes one identity source table.
func (d *decoder) source(t map[string]any, path []string, field string) (gateway.IdentitySource, bool) {
	var s gateway.IdentitySource
	d.fields(t, path, sourceKeys...)
	n := len(d.errs)
	from := 0
	if o, ok := d.str(t, path, "oid"); ok {
		from++
		s.OID, _ = d.oid(o, sub(path, "oid"))
	}
	s.Next, _ = d.boolean(t, path, "next")
	if _, ok := t["oids"]; ok {
		from++
		oids, paths := d.strs(t, path, "oids")
		if len(oids) < 2 {
			d.errorf(d.ix.val(sub(path, "oids")), "oids joins two or more OIDs; for one write oid")
		}
		for i, o := range oids {
			if n, ok := d.oid(o, paths[i]); ok {
				s.OIDs = append(s.OIDs, n)
			}
		}
	}
	if j, ok := d.str(t, path, "join"); ok {
		if s.OIDs == nil {
			d.errorf(d.ix.key(sub(path, "join")), "join needs oids")
		}
		s.Join = j
	}
	if b, ok := d.boolean(t, path, "sys_descr"); ok && b {
		from++
		s.SysDescr = true
	}
	if b, ok := d.boolean(t, path, "sys_object_id"); ok && b {
		from++
		s.SysObjectID = true
	}
	if s.Next && s.OID == "" {
		d.errorf(d.ix.key(sub(path, "next")), "next needs oid (the column or subtree whose first object is read)")
	}
	switch {
	case from == 0:
		d.errorf(d.tableAt(path), "identity %s: say where the value is: oid, oids, sys_descr = true or sys_object_id = true", field)
	case from > 1:
		d.errorf(d.tableAt(path), "identity %s: give only one of oid, oids, sys_descr and sys_object_id", field)
	}
	if as, ok := d.str(t, path, "as"); ok {
		if !slices.Contains([]string{"text", "mac", "hex"}, as) {
			d.errorf(d.ix.val(sub(path, "as")), "as %q: use text, mac or hex", as)
		} else if as != "text" {
			s.As = as
		}
	}
	re, hasRe := d.str(t, path, "regex")
	rep, hasRep := d.str(t, path, "replace")
	if hasRep && !hasRe {
		d.errorf(d.ix.key(sub(path, "replace")), "replace needs regex")
	}
	if hasRe && d.regex(re, rep, sub(path, "regex"), "regex") {
		s.Regex, s.Replace = re, rep
	}
	if m, ok := d.table(t, path, "map"); ok {
		mp := sub(path, "map")
		s.Map = map[string]string{}
		for _, k := range sortedKeys(m) {
			v, ok := m[k].(string)
			if !ok || strings.TrimSpace(v) == "" {
				d.errorf(d.ix.val(sub(mp, k)), "map values are non-empty strings")
				continue
			}
			key := k
			if s.SysObjectID {
				n, err := normalizeOID(k)
				if err != nil {
					d.errorf(d.ix.key(sub(mp, k)), "map key %q: with sys_object_id the keys are OIDs: %v", k, err)
					continue
				}
				key = n
			}
			s.Map[key] = v
		}
		if len(s.Map) == 0 && len(m) == 0 {
			d.errorf(d.ix.val(mp), "map is empty: leave it out")
		}
	}
	return s, len(d.errs) == n
}

// regex checks an identity expression: it compiles, and without replace it has exactly one group.
func (d *decoder) regex(re, replace string, path []string, key string) bool {
	at := d.ix.val(path)
	c, err := regexp.Compile(re)
	if err != nil {
		d.errorf(at, "%s: bad regular expression: %v", key, err)
		return false
	}
	if replace == "" && c.NumSubexp() != 1 {
		d.errorf(at, "%s: the expression needs exactly one group (the value), it has %d", key, c.NumSubexp())
		return false
	}
	if replace != "" && c.NumSubexp() == 0 {
		d.errorf(at, "%s: replace needs groups to refer to ($1, ...)", key)
		return false
	}
	return true
}

// rowSuffixRE is one or more decimal arcs.
var rowSuffixRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// point decodes one [[profile.point]]. ok is false when the point is unusable (no valid name).
func (d *decoder) point(t map[string]any, path []string) (gateway.Point, bool) {
	var p gateway.Point
	d.fields(t, path, slices.Concat([]string{"name"}, addressKeys[d.proto], []string{"type", "scale", "offset", "unit",
		"absent", "enum", "bits", "writable", "min", "max", "max_len"})...)
	at := d.tableAt(path)
	valAt := func(key string) position { return d.ix.val(sub(path, key)) }

	name, ok := d.str(t, path, "name")
	switch {
	case !ok:
		if _, present := t["name"]; !present {
			d.errorf(at, "point has no name")
		}
	case !memberNameRE.MatchString(name):
		d.errorf(valAt("name"), "point name %q is not camelCase (a lower-case letter, then letters and digits)", name)
		ok = false
	}
	p.Name = name
	d.address(t, path, fmt.Sprintf("point %q", name), &p.OID, &p.Register, &p.TXT)
	typeOK := false
	if s, present := d.str(t, path, "type"); present {
		p.Type = gateway.ValueType(s)
		typeOK = p.Type.Valid()
		if !typeOK {
			d.errorf(valAt("type"), "unknown type %q (known: %s)", s, typeList())
		}
	} else if _, present := t["type"]; !present {
		switch {
		case p.Register != nil:
			p.Type, typeOK = registerType(p.Register), true
		case d.proto == "mdns":
			p.Type, typeOK = gateway.TypeString, true
		default:
			d.errorf(at, "point %q has no type", name)
		}
	}
	numeric := p.Type.Numeric()

	if f, present := d.number(t, path, "scale"); present {
		switch {
		case f == 0:
			d.errorf(valAt("scale"), "scale 0 is meaningless: leave scale out for 1")
		case typeOK && !numeric:
			d.errorf(valAt("scale"), "scale applies to numbers, not to type %q", p.Type)
		}
		p.Scale = f
	}
	if f, present := d.number(t, path, "offset"); present {
		if typeOK && !numeric {
			d.errorf(valAt("offset"), "offset applies to numbers, not to type %q", p.Type)
		}
		p.Offset = f
	}
	if u, present := d.str(t, path, "unit"); present {
		switch {
		case slices.Contains(units, u):
			p.Unit = u
		case unitHints[u] != "":
			d.errorf(valAt("unit"), "unit %q: write %q (units are UCUM codes)", u, unitHints[u])
		default:
			d.errorf(valAt("unit"), "unknown unit %q (known: %s)", u, strings.Join(units, " "))
		}
	}
	if e, present := d.table(t, path, "enum"); present {
		p.Enum = d.enum(e, sub(path, "enum"))
		if typeOK && p.Type != gateway.TypeEnum {
			d.errorf(d.ix.key(sub(path, "enum")), "enum is only for type \"enum\", not %q", p.Type)
		}
	} else if _, present := t["enum"]; !present && p.Type == gateway.TypeEnum {
		d.errorf(valAt("type"), "type \"enum\" needs an enum table: enum = { 1 = \"on\", 2 = \"off\" }")
	}
	if e, present := d.table(t, path, "bits"); present {
		p.Bits = d.enum(e, sub(path, "bits"))
		for n := range p.Bits {
			if n < 0 || n > 65535 {
				d.errorf(d.ix.key(sub(path, "bits", strconv.FormatInt(n, 10))), "bit %d: bits count from 0 (the first octet's most significant bit)", n)
			}
		}
		if typeOK && p.Type != gateway.TypeBits {
			d.errorf(d.ix.key(sub(path, "bits")), "bits is only for type \"bits\", not %q", p.Type)
		}
	} else if _, present := t["bits"]; !present && p.Type == gateway.TypeBits {
		d.errorf(valAt("type"), "type \"bits\" needs a bits table: bits = { 0 = \"lowPaper\", 1 = \"noPaper\" }")
	}
	if v, present := t["absent"]; present {
		list, ok := v.([]any)
		if !ok {
			d.wrongType(sub(path, "absent"), "an array of numbers", v)
		}
		for _, e := range list {
			switch n := e.(type) {
			case int64:
				p.Absent = append(p.Absent, float64(n))
			case float64:
				p.Absent = append(p.Absent, n)
			default:
				d.wrongType(sub(path, "absent"), "an array of numbers", v)
			}
		}
		if typeOK && !numeric && p.Type != gateway.TypeEnum && p.Type != gateway.TypeBool {
			d.errorf(valAt("absent"), "absent lists raw numbers: not for type %q", p.Type)
		}
	}
	if tb, present := d.boolean(t, path, "table"); present {
		p.Table = tb
	}
	if rs, present := d.str(t, path, "row_suffix"); present {
		switch {
		case !p.Table:
			d.errorf(valAt("row_suffix"), "row_suffix selects table rows: it needs table = true")
		case !rowSuffixRE.MatchString(rs):
			d.errorf(valAt("row_suffix"), "row_suffix %q is not index arcs (\"1\" or \"2.1\")", rs)
		default:
			p.RowSuffix = rs
		}
	}
	if wt, present := d.table(t, path, "where"); present {
		wp := sub(path, "where")
		d.fields(wt, wp, "oid", "in")
		if !p.Table {
			d.errorf(d.ix.key(wp), "where selects table rows: it needs table = true")
		}
		if o, ok := d.str(wt, wp, "oid"); ok {
			p.WhereOID, _ = d.oid(o, sub(wp, "oid"))
		} else if _, present := wt["oid"]; !present {
			d.errorf(d.tableAt(wp), "where needs oid (the column whose value selects rows)")
		}
		switch in := wt["in"].(type) {
		case []any:
			for i, e := range in {
				n, ok := e.(int64)
				if !ok {
					d.errorf(d.ix.val(sub(wp, "in", strconv.Itoa(i))), "in must hold integers, not %s", typeName(e))
					continue
				}
				p.WhereIn = append(p.WhereIn, n)
			}
			if len(in) == 0 {
				d.errorf(d.ix.val(sub(wp, "in")), "in is empty: no row would be kept")
			}
		case nil:
			d.errorf(d.tableAt(wp), "where needs in (the values of rows to keep: in = [10])")
		default:
			d.wrongType(sub(wp, "in"), "an array of integers", in)
		}
	}
	if o, present := d.str(t, path, "decimals_oid"); present {
		p.DecimalsOID, _ = d.oid(o, sub(path, "decimals_oid"))
		if typeOK && !numeric {
			d.errorf(valAt("decimals_oid"), "decimals_oid applies to numbers, not to type %q", p.Type)
		}
	}
	if w, present := d.boolean(t, path, "writable"); present {
		p.Writable = w
		if w && p.Type == gateway.TypeBits {
			d.errorf(valAt("writable"), "a bits point cannot be writable")
		}
		if w && p.Table {
			d.errorf(valAt("writable"), "a table point cannot be writable (name one row's OID in a point of its own)")
		}
		if w && (p.Type == gateway.TypeCounter || p.Type == gateway.TypeTimeticks) {
			d.errorf(valAt("writable"), "a %s point cannot be writable", p.Type)
		}
		switch {
		case w && d.proto == "mdns":
			d.errorf(valAt("writable"), "mDNS values cannot be written: mDNS only announces")
		case w && p.Register != nil && (p.Register.Table == gateway.TableInput || p.Register.Table == gateway.TableDiscrete):
			d.errorf(valAt("writable"), "%s registers are read-only in Modbus: only holding registers and coils can be written", p.Register.Table)
		}
	}
	for _, k := range []string{"min", "max"} {
		f, present := d.number(t, path, k)
		if !present {
			continue
		}
		switch {
		case !p.Writable:
			d.errorf(d.ix.key(sub(path, k)), "%s limits writes: it needs writable = true", k)
		case typeOK && !numeric:
			d.errorf(d.ix.key(sub(path, k)), "%s applies to numbers, not to type %q", k, p.Type)
		}
		if k == "min" {
			p.Min = &f
		} else {
			p.Max = &f
		}
	}
	if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
		d.errorf(valAt("min"), "min %v is greater than max %v", *p.Min, *p.Max)
	}
	if n, present := d.integer(t, path, "max_len"); present {
		switch {
		case n < 1 || n > 65535:
			d.errorf(valAt("max_len"), "max_len %d is out of range 1..65535", n)
		case !p.Writable:
			d.errorf(d.ix.key(sub(path, "max_len")), "max_len limits writes: it needs writable = true")
		case typeOK && p.Type != gateway.TypeString:
			d.errorf(d.ix.key(sub(path, "max_len")), "max_len applies to strings, not to type %q", p.Type)
		default:
			p.MaxLen = int(n)
		}
	}
	return p, ok
}

func typeList() string {
	return "int, uint, counter, float, string, timeticks, bool, enum, mac, ip, oid"
}

// enum decodes { 1 = "on", 2 = "standby" }: integer keys, distinct non-empty names.
func (d *decoder) enum(t map[string]any, path []string) map[int64]string {
	what := path[len(path)-1] // "enum" or "bits"
	if len(t) == 0 {
		d.errorf(d.ix.val(path), "%s is empty", what)
		return nil
	}
	out := make(map[int64]string, len(t))
	names := map[string]int64{}
	keys := sortedKeys(t)
	// In the order written, so that a repeat is reported where it repeats.
	slices.SortStableFunc(keys, func(a, b string) int {
		pa, pb := d.ix.key(sub(path, a)), d.ix.key(sub(path, b))
		return cmp.Or(cmp.Compare(pa.line, pb.line), cmp.Compare(pa.col, pb.col))
	})
	for _, k := range keys {
		kp := sub(path, k)
		n, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			d.errorf(d.ix.key(kp), "%s key %q is not an integer", what, k)
			continue
		}
		v, ok := t[k].(string)
		if !ok {
			d.errorf(d.ix.val(kp), "%s value for %s must be a string, not %s", what, k, typeName(t[k]))
			continue
		}
		if _, dup := out[n]; dup {
			d.errorf(d.ix.key(kp), "%s key %q repeats %d", what, k, n)
			continue
		}
		if v == "" {
			d.errorf(d.ix.val(kp), "%s name for %d is empty", what, n)
			continue
		}
		if prev, dup := names[v]; dup {
			d.errorf(d.ix.val(kp), "%s name %q is used for both %d and %d", what, v, prev, n)
			continue
		}
		names[v] = n
		out[n] = v
	}
	return out
}

// method decodes one [[profile.method]].
func (d *decoder) method(t map[string]any, path []string) (gateway.Method, bool) {
	var m gateway.Method
	where := addressKeys[d.proto]
	if d.proto == "snmp" {
		where = []string{"oid"} // a method SETs one object: no table walk
	}
	d.fields(t, path, slices.Concat([]string{"name"}, where, []string{"type", "value"})...)
	at := d.tableAt(path)
	name, ok := d.str(t, path, "name")
	switch {
	case !ok:
		if _, present := t["name"]; !present {
			d.errorf(at, "method has no name")
		}
	case !memberNameRE.MatchString(name):
		d.errorf(d.ix.val(sub(path, "name")), "method name %q is not camelCase (a lower-case letter, then letters and digits)", name)
		ok = false
	}
	m.Name = name
	if d.proto == "mdns" {
		d.errorf(at, "mDNS devices take no methods: mDNS only announces")
	}
	var txt string
	d.address(t, path, fmt.Sprintf("method %q", name), &m.OID, &m.Register, &txt)
	typeOK := false
	if s, present := d.str(t, path, "type"); present {
		m.Type = gateway.ValueType(s)
		typeOK = m.Type.Valid()
		switch {
		case !typeOK:
			d.errorf(d.ix.val(sub(path, "type")), "unknown type %q (known: %s)", s, typeList())
		case m.Type == gateway.TypeCounter:
			d.errorf(d.ix.val(sub(path, "type")), "a method cannot set a counter")
			typeOK = false
		}
	} else if _, present := t["type"]; !present {
		d.errorf(at, "method %q has no type", name)
	}
	switch v := t["value"].(type) {
	case nil:
		d.errorf(at, "method %q has no value", name)
	case string:
		m.Value = v
	case int64:
		m.Value = strconv.FormatInt(v, 10)
	default:
		d.wrongType(sub(path, "value"), "a string or an integer", v)
		return m, ok
	}
	if typeOK && t["value"] != nil {
		if err := checkValue(m.Type, m.Value); err != nil {
			d.errorf(d.ix.val(sub(path, "value")), "value %q: %v", m.Value, err)
		}
	}
	return m, ok
}

// checkValue reports whether s can be SET as a value of type t.
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
		if _, err := normalizeOID(s); err != nil {
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
