package snmp

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// Addr is where an SNMP point or method lives: an object, or a table column walked row by row.
type Addr struct {
	// OID is the object, numeric with a leading dot (".1.3.6.1.2.1.1.3.0"); with Table, the column
	// without instance.
	OID string `json:"oid"`
	// Table marks OID as a column: every row found by walking it is reported as Name[INDEX], INDEX being
	// the row's instance suffix ("3", "1.1.1").
	Table bool `json:"table,omitempty"`
	// RowSuffix keeps only the rows whose index ends in these arcs ("1" keeps "3.1", "2.1") and drops
	// them from the property's index: for tables keyed by the quantity measured (Raritan's PDU2-MIB).
	RowSuffix string `json:"rowSuffix,omitempty"`
	// WhereOID and WhereIn keep only the rows whose value in the column WhereOID, at the same row
	// index, is one of WhereIn (Raritan's external sensors, by externalSensorType).
	WhereOID string  `json:"whereOid,omitempty"`
	WhereIn  []int64 `json:"whereIn,omitempty"`
	// DecimalsOID holds a count of decimal digits d (for a table, a column read at the same row
	// index): the raw number is divided by 10^d before the point's scale.
	DecimalsOID string `json:"decimalsOid,omitempty"`
}

func (a *Addr) String() string {
	if a.Table {
		return a.OID + " (table)"
	}
	return a.OID
}

// addrOf is a point's SNMP address; nil for a point of another protocol.
func addrOf(p *gateway.Point) *Addr {
	a, _ := p.Address.(*Addr)
	return a
}

// Match is an SNMP profile's match conditions. Every condition that is set must hold: the device's
// sysObjectID starts with one of SysObjectIDs (compared on whole arcs), its sysDescr matches the
// regular expression SysDescr, and it answers every OID in Present.
type Match struct {
	SysObjectIDs []string `json:"sysObjectIds,omitempty"`
	SysDescr     string   `json:"sysDescr,omitempty"`
	Present      []string `json:"present,omitempty"`
}

// Identity says where an SNMP profile's devices keep their identity. Sources holds, per profile key
// ("serial", "serial_from_sys_descr", ...), the places tried in order; the first that gives a usable
// value wins and beats what the standard MIBs said. Fallback is tried after the standard MIBs.
type Identity struct {
	Sources  map[string][]IdentitySource `json:"sources,omitempty"`
	Fallback map[string][]IdentitySource `json:"fallback,omitempty"`
}

// Chain returns the sources of one identity field in the order they are tried: the field's own key,
// then its "_from_sys_descr" rules.
func (id *Identity) Chain(field string) []IdentitySource {
	if id == nil {
		return nil
	}
	own, descr := id.Sources[field], id.Sources[field+"_from_sys_descr"]
	if len(descr) == 0 {
		return own
	}
	return append(append(make([]IdentitySource, 0, len(own)+len(descr)), own...), descr...)
}

// fallback returns a field's fallback sources.
func (id *Identity) fallback(field string) []IdentitySource {
	if id == nil {
		return nil
	}
	return id.Fallback[field]
}

// IdentitySource is one place an agent may keep an identity field, and how to read the value out of
// what is there. Exactly one of OID, OIDs, SysDescr and SysObjectID is set.
type IdentitySource struct {
	// OID is read with GET; with Next, it is a column or subtree and the first object under it is read.
	OID  string `json:"oid,omitempty"`
	Next bool   `json:"next,omitempty"`
	// Suffix is read like OID at the device's sysObjectID followed by these arcs: vendors that keep
	// each product's identity under the product's own registration (ZyXEL, Alcatel-Lucent Stellar).
	Suffix string `json:"sysObjectIdSuffix,omitempty"`
	// OIDs are read together and their usable values joined with Join (a space when empty).
	OIDs []string `json:"oids,omitempty"`
	Join string   `json:"join,omitempty"`
	// SysDescr and SysObjectID take the value from the system group already read.
	SysDescr    bool `json:"sysDescr,omitempty"`
	SysObjectID bool `json:"sysObjectId,omitempty"`
	// As says how an OCTET STRING becomes text: "" (text), "mac" or "hex".
	As string `json:"as,omitempty"`
	// Regex, when set, must match the value; the value becomes its one group, or Replace expanded with
	// the groups ($1, ${name}).
	Regex   string `json:"regex,omitempty"`
	Replace string `json:"replace,omitempty"`
	// Map turns the value (after Regex) into text; a value the map does not hold gives nothing.
	Map map[string]string `json:"map,omitempty"`
}

// String says where a source reads, for `profile test` and claim errors.
func (s IdentitySource) String() string {
	var b strings.Builder
	switch {
	case s.SysDescr:
		b.WriteString("sysDescr")
	case s.SysObjectID:
		b.WriteString("sysObjectID")
	case s.Suffix != "" && s.Next:
		b.WriteString("first object under sysObjectID" + s.Suffix)
	case s.Suffix != "":
		b.WriteString("sysObjectID" + s.Suffix)
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

// profileCodec reads the SNMP parts of device profiles.
type profileCodec struct{}

// identityFields are the identity fields a profile may say where to read.
var identityFields = []string{"serial", "model", "manufacturer", "firmware", "hardware", "mac"}

// sourceKeys are the keys of one identity source table.
var sourceKeys = []string{"oid", "next", "oids", "join", "sys_descr", "sys_object_id", "sys_object_id_suffix", "as", "regex", "replace", "map"}

// rowSuffixRE is one or more decimal arcs.
var rowSuffixRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

func (profileCodec) AddressKeys(method bool) []string {
	if method {
		return []string{"oid"} // a method SETs one object: no table walk
	}
	return []string{"oid", "table", "row_suffix", "where", "decimals_oid"}
}

// oid reads an OID-valued key of t.
func oidKey(t tomlx.Table, key string) (string, bool) {
	s, ok := t.String(key)
	if !ok {
		return "", false
	}
	o, err := gateway.ParseOID(s)
	if err != nil {
		t.Errorf(key, "oid %q %v", s, err)
		return "", false
	}
	return o, true
}

func (profileCodec) Address(t tomlx.Table, what string, method bool) gateway.Address {
	a := &Addr{}
	o, ok := oidKey(t, "oid")
	if !ok {
		if !t.Has("oid") {
			t.Errorf("", "%s has no oid", what)
		}
		return nil
	}
	a.OID = o
	if method {
		return a
	}
	a.Table, _ = t.Bool("table")
	if rs, present := t.String("row_suffix"); present {
		switch {
		case !a.Table:
			t.Errorf("row_suffix", "row_suffix selects table rows: it needs table = true")
		case !rowSuffixRE.MatchString(rs):
			t.Errorf("row_suffix", "row_suffix %q is not index arcs (\"1\" or \"2.1\")", rs)
		default:
			a.RowSuffix = rs
		}
	}
	if wt, present := t.Sub("where"); present {
		wt.Known("oid", "in")
		if !a.Table {
			t.KeyErrorf("where", "where selects table rows: it needs table = true")
		}
		if o, ok := oidKey(wt, "oid"); ok {
			a.WhereOID = o
		} else if !wt.Has("oid") {
			wt.Errorf("", "where needs oid (the column whose value selects rows)")
		}
		switch in := wt.M["in"].(type) {
		case []any:
			for i, e := range in {
				n, ok := e.(int64)
				if !ok {
					t.Doc.Errorf(tomlx.JoinIndex(wt.Key("in"), i), "in must hold integers, not %s", tomlx.Describe(e, false))
					continue
				}
				a.WhereIn = append(a.WhereIn, n)
			}
			if len(in) == 0 {
				wt.Errorf("in", "in is empty: no row would be kept")
			}
		case nil:
			wt.Errorf("", "where needs in (the values of rows to keep: in = [10])")
		default:
			wt.Errorf("in", "must be an array of integers, got %s", tomlx.Describe(in, true))
		}
	}
	if o, present := oidKey(t, "decimals_oid"); present {
		a.DecimalsOID = o
	}
	return a
}

func (profileCodec) DefaultType(gateway.Address) gateway.ValueType { return "" }

func (profileCodec) CheckPoint(t tomlx.Table, p *gateway.Point) {
	a := addrOf(p)
	if a == nil {
		return
	}
	if a.DecimalsOID != "" && p.Type.Valid() && !p.Type.Numeric() {
		t.Errorf("decimals_oid", "decimals_oid applies to numbers, not to type %q", p.Type)
	}
	if p.Writable && a.Table {
		t.Errorf("writable", "a table point cannot be writable (name one row's OID in a point of its own)")
	}
}

func (profileCodec) MatchKeys() []string { return []string{"sys_object_ids", "sys_descr", "present"} }

func (profileCodec) Match(t tomlx.Table) any {
	m := &Match{}
	ids, paths := t.Strings("sys_object_ids")
	for i, s := range ids {
		o, err := gateway.ParseOID(s)
		if err != nil {
			t.Doc.Errorf(paths[i], "oid %q %v", s, err)
			continue
		}
		m.SysObjectIDs = append(m.SysObjectIDs, o)
	}
	if re, ok := t.String("sys_descr"); ok {
		if re == "" {
			t.Errorf("sys_descr", "sys_descr is empty: leave it out to match any description")
		} else if _, err := regexp.Compile(re); err != nil {
			t.Errorf("sys_descr", "sys_descr: %v", err)
		} else {
			m.SysDescr = re
		}
	}
	present, ppaths := t.Strings("present")
	for i, s := range present {
		o, err := gateway.ParseOID(s)
		if err != nil {
			t.Doc.Errorf(ppaths[i], "oid %q %v", s, err)
			continue
		}
		if !slices.Contains(m.Present, o) {
			m.Present = append(m.Present, o)
		}
	}
	if len(m.SysObjectIDs) == 0 && m.SysDescr == "" && len(m.Present) == 0 {
		return nil
	}
	return m
}

func (profileCodec) IdentityKeys() []string {
	keys := slices.Clone(identityFields)
	for _, f := range identityFields {
		keys = append(keys, f+"_from_sys_descr")
	}
	return append(keys, "fallback")
}

func (c profileCodec) Identity(t tomlx.Table) any {
	id := &Identity{Sources: sources(t, true)}
	if fb, ok := t.Sub("fallback"); ok {
		fb.Known(identityFields...)
		id.Fallback = sources(fb, false)
	}
	if id.Sources == nil && id.Fallback == nil {
		return nil
	}
	return id
}

// MergeIdentity merges from (a base, or the profile itself last) into dst: a key's sources replace the
// ones dst had; fallback sources go before the ones dst had, so that a profile's own come first, then
// its last base's.
func (profileCodec) MergeIdentity(dst, from any) any {
	f, _ := from.(*Identity)
	if f == nil {
		return dst
	}
	d, _ := dst.(*Identity)
	out := &Identity{}
	if d != nil {
		out.Sources, out.Fallback = cloneSources(d.Sources), cloneSources(d.Fallback)
	}
	for k, v := range f.Sources {
		if out.Sources == nil {
			out.Sources = map[string][]IdentitySource{}
		}
		out.Sources[k] = slices.Clone(v)
	}
	for k, v := range f.Fallback {
		if out.Fallback == nil {
			out.Fallback = map[string][]IdentitySource{}
		}
		if len(v) == 0 { // the profile wants no fallback for this field
			out.Fallback[k] = []IdentitySource{}
			continue
		}
		merged := slices.Clone(v)
		for _, old := range out.Fallback[k] {
			if !slices.ContainsFunc(merged, func(s IdentitySource) bool { return reflect.DeepEqual(s, old) }) {
				merged = append(merged, old)
			}
		}
		out.Fallback[k] = merged
	}
	return out
}

func cloneSources(m map[string][]IdentitySource) map[string][]IdentitySource {
	if m == nil {
		return nil
	}
	out := make(map[string][]IdentitySource, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// sources decodes the identity fields of t (and, when descr, their _from_sys_descr keys) into sources
// keyed as written.
func sources(t tomlx.Table, descr bool) map[string][]IdentitySource {
	out := map[string][]IdentitySource{}
	for _, f := range identityFields {
		if v, ok := t.M[f]; ok {
			if src := sourceList(t, f, v); len(src) > 0 || src != nil && !descr {
				out[f] = src
			}
		}
		k := f + "_from_sys_descr"
		v, ok := t.M[k]
		if !ok || !descr {
			continue
		}
		var exprs []any
		list := false
		switch x := v.(type) {
		case string:
			exprs = []any{x}
		case []any:
			exprs, list = x, true
		default:
			t.Errorf(k, "must be a regular expression or an array of them, got %s", tomlx.Describe(v, true))
		}
		for i, e := range exprs {
			key := t.Key(k)
			if list {
				key = tomlx.JoinIndex(key, i)
			}
			re, ok := e.(string)
			if !ok {
				t.Doc.Errorf(key, "%s must hold regular expressions, not %s", k, tomlx.Describe(e, false))
				continue
			}
			if checkRegex(t.Doc, key, k, re, "") {
				out[k] = append(out[k], IdentitySource{SysDescr: true, Regex: re})
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// sourceList decodes an identity field: an OID, a source table, or an array of either.
func sourceList(t tomlx.Table, field string, v any) []IdentitySource {
	var out []IdentitySource
	one := func(e any, key string) {
		switch x := e.(type) {
		case string:
			o, err := gateway.ParseOID(x)
			if err != nil {
				t.Doc.Errorf(key, "%s: oid %q %v", field, x, err)
				return
			}
			out = append(out, IdentitySource{OID: o})
		case map[string]any:
			if s, ok := source(tomlx.Table{Doc: t.Doc, Path: key, M: x}, field); ok {
				out = append(out, s)
			}
		default:
			t.Doc.Errorf(key, "%s must be an OID, a source table ({ oid = ..., regex = ... }) or an array of them, not %s", field, tomlx.Describe(e, false))
		}
	}
	switch x := v.(type) {
	case []any:
		if len(x) == 0 && !strings.HasSuffix(t.Path, ".fallback") {
			t.Errorf(field, "%s is an empty array: leave it out", field)
		}
		if len(x) == 0 {
			return []IdentitySource{} // in fallback: none for this field, not even the bases'
		}
		for i, e := range x {
			one(e, tomlx.JoinIndex(t.Key(field), i))
		}
	case []map[string]any:
		for i, e := range x {
			one(e, tomlx.JoinIndex(t.Key(field), i))
		}
	default:
		one(v, t.Key(field))
	}
	return out
}

// source decodes one identity source table.
func source(t tomlx.Table, field string) (IdentitySource, bool) {
	var s IdentitySource
	t.Known(sourceKeys...)
	before := t.Doc.Count()
	from := 0
	if t.Has("oid") {
		from++
		s.OID, _ = oidKey(t, "oid")
	}
	s.Next, _ = t.Bool("next")
	if t.Has("oids") {
		from++
		oids, paths := t.Strings("oids")
		if len(oids) < 2 {
			t.Errorf("oids", "oids joins two or more OIDs; for one write oid")
		}
		for i, o := range oids {
			n, err := gateway.ParseOID(o)
			if err != nil {
				t.Doc.Errorf(paths[i], "oid %q %v", o, err)
				continue
			}
			s.OIDs = append(s.OIDs, n)
		}
	}
	if j, ok := t.String("join"); ok {
		if s.OIDs == nil {
			t.KeyErrorf("join", "join needs oids")
		}
		s.Join = j
	}
	if b, ok := t.Bool("sys_descr"); ok && b {
		from++
		s.SysDescr = true
	}
	if b, ok := t.Bool("sys_object_id"); ok && b {
		from++
		s.SysObjectID = true
	}
	if suf, ok := t.String("sys_object_id_suffix"); ok {
		from++
		if n, err := gateway.ParseOID(suf); err != nil {
			t.Errorf("sys_object_id_suffix", "sys_object_id_suffix %q: the arcs after the sysObjectID, %v", suf, err)
		} else {
			s.Suffix = n
		}
	}
	if s.Next && s.OID == "" && s.Suffix == "" {
		t.KeyErrorf("next", "next needs oid (the column or subtree whose first object is read)")
	}
	switch {
	case from == 0:
		t.Errorf("", "identity %s: say where the value is: oid, oids, sys_object_id_suffix, sys_descr = true or sys_object_id = true", field)
	case from > 1:
		t.Errorf("", "identity %s: give only one of oid, oids, sys_object_id_suffix, sys_descr and sys_object_id", field)
	}
	if as, ok := t.String("as"); ok {
		if !slices.Contains([]string{"text", "mac", "hex"}, as) {
			t.Errorf("as", "as %q: use text, mac or hex", as)
		} else if as != "text" {
			s.As = as
		}
	}
	re, hasRe := t.String("regex")
	rep, hasRep := t.String("replace")
	if hasRep && !hasRe {
		t.KeyErrorf("replace", "replace needs regex")
	}
	if hasRe && checkRegex(t.Doc, t.Key("regex"), "regex", re, rep) {
		s.Regex, s.Replace = re, rep
	}
	if m, ok := t.Sub("map"); ok {
		s.Map = map[string]string{}
		for _, k := range m.Keys() {
			v, ok := m.M[k].(string)
			if !ok || strings.TrimSpace(v) == "" {
				m.Errorf(k, "map values are non-empty strings")
				continue
			}
			key := k
			// With sys_object_id the keys are OIDs, unless a regex took a part of the OID first.
			if s.SysObjectID && s.Regex == "" {
				n, err := gateway.ParseOID(k)
				if err != nil {
					m.KeyErrorf(k, "map key %q: with sys_object_id the keys are OIDs: %v", k, err)
					continue
				}
				key = n
			}
			s.Map[key] = v
		}
		if len(m.M) == 0 {
			t.Errorf("map", "map is empty: leave it out")
		}
	}
	return s, t.Doc.Count() == before
}

// checkRegex checks an identity expression: it compiles, and without replace it has exactly one group.
// A replace needs no group: a constant (a product line's name) is a value too.
func checkRegex(d *tomlx.Doc, key, name, re, replace string) bool {
	c, err := regexp.Compile(re)
	if err != nil {
		d.Errorf(key, "%s: bad regular expression: %v", name, err)
		return false
	}
	if replace == "" && c.NumSubexp() != 1 {
		d.Errorf(key, "%s: the expression needs exactly one group (the value), it has %d", name, c.NumSubexp())
		return false
	}
	return true
}

func (m *Match) String() string {
	var parts []string
	if len(m.SysObjectIDs) > 0 {
		parts = append(parts, "sysObjectID "+strings.Join(m.SysObjectIDs, ","))
	}
	if m.SysDescr != "" {
		parts = append(parts, "sysDescr ~ "+m.SysDescr)
	}
	if len(m.Present) > 0 {
		parts = append(parts, "has "+strings.Join(m.Present, ","))
	}
	return strings.Join(parts, "; ")
}

// Describe lists where each identity field is read, in the order tried.
func (id *Identity) Describe() []string {
	var out []string
	for _, f := range identityFields {
		for _, s := range id.Chain(f) {
			out = append(out, f+": "+s.String())
		}
		for _, s := range id.fallback(f) {
			out = append(out, f+" (fallback): "+s.String())
		}
	}
	return out
}
