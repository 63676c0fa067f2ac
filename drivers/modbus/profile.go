package modbus

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// Match is a Modbus profile's match conditions: regular expressions on the unit's Read Device
// Identification objects 0 (vendor) and 1 (product code), and SunSpec models the unit must have.
type Match struct {
	VendorName    string `json:"vendorName,omitempty"`
	ProductCode   string `json:"productCode,omitempty"`
	SunSpecModels []int  `json:"sunspecModels,omitempty"`
}

// Identity names the registers that hold a unit's identity, by field ("serial", "model", ...).
type Identity map[string]Register

// registerKeys are the keys that place a Modbus value (in a point, a method or an identity entry).
var registerKeys = []string{"register", "address", "format", "count", "word_order", "byte_order", "scale_factor", "sunspec_model"}

var formats = []string{FormatU16, FormatI16, FormatU32, FormatI32, FormatU64, FormatI64, FormatF32, FormatF64, FormatString}

// profileCodec reads the Modbus parts of device profiles.
type profileCodec struct{}

func (profileCodec) AddressKeys(bool) []string { return registerKeys }

func (profileCodec) Address(t tomlx.Table, what string, _ bool) gateway.Address {
	r := register(t, what)
	if r == nil {
		t.Errorf("", "%s has no register and address", what)
		return nil
	}
	return r
}

// DefaultType is the twin type a register point has when the profile does not say.
func (profileCodec) DefaultType(a gateway.Address) gateway.ValueType {
	r, _ := a.(*Register)
	if r == nil {
		return ""
	}
	switch r.Format {
	case "":
		return gateway.TypeBool
	case FormatF32, FormatF64:
		return gateway.TypeFloat
	case FormatI16, FormatI32, FormatI64:
		return gateway.TypeInt
	case FormatString:
		return gateway.TypeString
	}
	return gateway.TypeUint
}

func (profileCodec) CheckPoint(t tomlx.Table, p *gateway.Point) {
	r := regOf(p)
	if r != nil && p.Writable && (r.Table == TableInput || r.Table == TableDiscrete) {
		t.Errorf("writable", "%s registers are read-only in Modbus: only holding registers and coils can be written", r.Table)
	}
}

func (profileCodec) MatchKeys() []string {
	return []string{"vendor_name", "product_code", "sunspec_models"}
}

func (profileCodec) Match(t tomlx.Table) any {
	m := &Match{}
	for _, k := range []struct {
		key string
		dst *string
	}{{"vendor_name", &m.VendorName}, {"product_code", &m.ProductCode}} {
		if s, ok := t.String(k.key); ok {
			if _, err := regexp.Compile(s); err != nil || s == "" {
				t.Errorf(k.key, "%s: not a usable regular expression: %v", k.key, err)
			} else {
				*k.dst = s
			}
		}
	}
	if v, present := t.M["sunspec_models"]; present {
		list, ok := v.([]any)
		if !ok {
			t.Errorf("sunspec_models", "must be an array of integers, got %s", tomlx.Describe(v, true))
		}
		for _, e := range list {
			n, ok := e.(int64)
			if !ok || n < 1 || n > 65534 {
				t.Errorf("sunspec_models", "sunspec_models holds model ids 1..65534, not %v", e)
				continue
			}
			m.SunSpecModels = append(m.SunSpecModels, int(n))
		}
	}
	if m.VendorName == "" && m.ProductCode == "" && len(m.SunSpecModels) == 0 {
		return nil
	}
	return m
}

func (profileCodec) IdentityKeys() []string { return slices.Clone(gateway.IdentityFields) }

func (profileCodec) Identity(t tomlx.Table) any {
	id := Identity{}
	for _, f := range gateway.IdentityFields {
		v, present := t.M[f]
		if !present {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			t.Errorf(f, "must be a register table ({ register = \"holding\", address = 52, format = \"string\", count = 16 }), got %s", tomlx.Describe(v, false))
			continue
		}
		ft := tomlx.Table{Doc: t.Doc, Path: t.Key(f), M: m}
		ft.Known(registerKeys...)
		if r := register(ft, "identity "+f); r != nil {
			id[f] = *r
		} else {
			ft.Errorf("", "identity %s has no register and address", f)
		}
	}
	if len(id) == 0 {
		return nil
	}
	return id
}

func (profileCodec) MergeIdentity(dst, from any) any {
	f, _ := from.(Identity)
	if len(f) == 0 {
		return dst
	}
	out := Identity{}
	if d, ok := dst.(Identity); ok {
		for k, v := range d {
			out[k] = v
		}
	}
	for k, v := range f {
		out[k] = v
	}
	return out
}

// register decodes the register keys of t (a point, a method or an identity entry); nil when t has
// none of them. what names the owner for messages ("point \"power\"").
func register(t tomlx.Table, what string) *Register {
	if !slices.ContainsFunc(registerKeys, t.Has) {
		return nil
	}
	r := &Register{}
	table, ok := t.String("register")
	switch {
	case !ok:
		if !t.Has("register") {
			t.Errorf("", "%s has no register (holding, input, coil or discrete)", what)
		}
	case !slices.Contains([]string{TableHolding, TableInput, TableCoil, TableDiscrete}, table):
		t.Errorf("register", "unknown register %q (known: holding, input, coil, discrete)", table)
	default:
		r.Table = table
	}
	if n, present := t.Int("address"); present {
		if n < 0 || n > 65535 {
			t.Errorf("address", "address %d is out of range 0..65535 (0-based PDU addresses: 40001 in 1-based notation is holding 0)", n)
		}
		r.Address = uint16(n)
	} else if !t.Has("address") {
		t.Errorf("", "%s has no address", what)
	}
	bits := r.Table == TableCoil || r.Table == TableDiscrete
	if f, present := t.String("format"); present {
		switch {
		case bits:
			t.Errorf("format", "format is for registers; a %s is one bit", r.Table)
		case !slices.Contains(formats, f):
			t.Errorf("format", "unknown format %q (known: %s)", f, strings.Join(formats, ", "))
		default:
			r.Format = f
		}
	} else if !bits && r.Table != "" {
		r.Format = FormatU16
	}
	if n, present := t.Int("count"); present {
		switch {
		case r.Format != FormatString:
			t.Errorf("count", "count is the length of a format = \"string\" in registers")
		case n < 1 || n > 125:
			t.Errorf("count", "count %d is out of range 1..125 registers", n)
		default:
			r.Count = int(n)
		}
	} else if r.Format == FormatString {
		t.Errorf("", "%s: format \"string\" needs count (its length in registers)", what)
	}
	for _, k := range []string{"word_order", "byte_order"} {
		o, present := t.String(k)
		if !present {
			continue
		}
		switch {
		case o != "big" && o != "little":
			t.Errorf(k, "%s must be \"big\" or \"little\", not %q", k, o)
		case bits:
			t.Errorf(k, "%s is for registers; a %s is one bit", k, r.Table)
		case k == "word_order":
			r.WordOrder = o
		default:
			r.ByteOrder = o
		}
	}
	if n, present := t.Int("scale_factor"); present {
		switch {
		case n < 0 || n > 65535:
			t.Errorf("scale_factor", "scale_factor %d is not a register address 0..65535", n)
		case bits || r.Format == FormatString:
			kind := "string"
			if bits {
				kind = r.Table
			}
			t.Errorf("scale_factor", "scale_factor scales numbers, not a %s", kind)
		default:
			sf := uint16(n)
			r.ScaleFactor = &sf
		}
	}
	if n, present := t.Int("sunspec_model"); present {
		if n < 1 || n > 65534 {
			t.Errorf("sunspec_model", "sunspec_model %d is out of range 1..65534", n)
		}
		r.Model = int(n)
	}
	if int(r.Address)+r.Words()-1 > 65535 {
		t.Errorf("address", "%s runs past register 65535", what)
	}
	return r
}

// matcher matches Modbus units to the Modbus profiles that have match conditions.
type matcher struct{ rules []matchRule }

type matchRule struct {
	p               *gateway.Profile
	vendor, product *regexp.Regexp
	models          []int
}

func newMatcher(ps gateway.Profiles) *matcher {
	m := &matcher{}
	if ps == nil {
		return m
	}
	for _, p := range ps.List() {
		c, _ := p.Match.(*Match)
		if p.Protocol != Protocol || c == nil {
			continue
		}
		r := matchRule{p: p, models: c.SunSpecModels}
		if c.VendorName != "" {
			r.vendor = regexp.MustCompile(c.VendorName) // checked at load
		}
		if c.ProductCode != "" {
			r.product = regexp.MustCompile(c.ProductCode)
		}
		m.rules = append(m.rules, r)
	}
	slices.SortFunc(m.rules, func(a, b matchRule) int { return strings.Compare(a.p.Name, b.p.Name) })
	return m
}

// match returns the Modbus profile that fits a unit best, from its Read Device Identification objects
// (vendor, product; empty when it has none) and the SunSpec model ids found from "SunS" (nil when it
// has no SunSpec map). Every condition a profile sets must hold; among those that fit, the one with
// more conditions wins (vendor and product count one each, every SunSpec model one), then the one whose
// name sorts first. nil when none fits: the caller may then use a configured profile.
func (m *matcher) match(vendor, product string, models []int) *gateway.Profile {
	var best *gateway.Profile
	bestScore := 0
	for i := range m.rules {
		r := &m.rules[i]
		score := 0
		if r.vendor != nil {
			if vendor == "" || !r.vendor.MatchString(vendor) {
				continue
			}
			score++
		}
		if r.product != nil {
			if product == "" || !r.product.MatchString(product) {
				continue
			}
			score++
		}
		if !slices.ContainsFunc(r.models, func(id int) bool { return !slices.Contains(models, id) }) {
			score += len(r.models)
			if score > bestScore {
				best, bestScore = r.p, score
			}
		}
	}
	return best
}

func (m *Match) String() string {
	var parts []string
	if m.VendorName != "" {
		parts = append(parts, "vendor ~ "+m.VendorName)
	}
	if m.ProductCode != "" {
		parts = append(parts, "product ~ "+m.ProductCode)
	}
	if len(m.SunSpecModels) > 0 {
		parts = append(parts, "SunSpec models "+strings.ReplaceAll(strings.Trim(fmt.Sprint(m.SunSpecModels), "[]"), " ", ", "))
	}
	return strings.Join(parts, "; ")
}

// Describe lists the register of each identity field.
func (id Identity) Describe() []string {
	var out []string
	for _, f := range gateway.IdentityFields {
		if r, ok := id[f]; ok {
			out = append(out, f+": "+r.String())
		}
	}
	return out
}
