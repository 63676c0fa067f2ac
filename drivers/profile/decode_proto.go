package profile

import (
	"regexp"
	"slices"
	"strings"

	"github.com/edgegw/edgegw/gateway"
)

// Protocols a profile may speak. SNMP is the default: its points carry OIDs, Modbus points registers,
// mDNS points TXT keys.
var protocols = []string{"snmp", "modbus", "mdns"}

// registerKeys are the keys that place a Modbus value (in a point, a method or an identity entry).
var registerKeys = []string{"register", "address", "format", "count", "word_order", "byte_order", "scale_factor", "sunspec_model"}

// addressKeys are the keys that say where a point or method lives, per protocol; matchKeys the
// [profile.match] keys.
var (
	addressKeys = map[string][]string{
		"snmp":   {"oid", "table", "row_suffix", "where", "decimals_oid"},
		"modbus": registerKeys,
		"mdns":   {"txt"},
	}
	matchKeys = map[string][]string{
		"snmp":   {"sys_object_ids", "sys_descr", "present"},
		"modbus": {"vendor_name", "product_code", "sunspec_models"},
		"mdns":   {"services"},
	}
)

// keyProtocol says which protocol a key belongs to, so that a key of another protocol's profile gets
// a message that says so rather than "unknown key".
var keyProtocol = func() map[string]string {
	m := map[string]string{}
	for proto, keys := range addressKeys {
		for _, k := range keys {
			m[k] = proto
		}
	}
	for proto, keys := range matchKeys {
		for _, k := range keys {
			m[k] = proto
		}
	}
	return m
}()

var (
	serviceRE = regexp.MustCompile(`^_[A-Za-z0-9][A-Za-z0-9-]{0,62}\._(tcp|udp)$`)
	txtKeyRE  = regexp.MustCompile(`^[\x21-\x3c\x3e-\x7e]{1,64}$`) // printable ASCII but '=' (RFC 6763 §6.4)
)

// register decodes the register keys of t (a point, a method or an identity entry) into a Register;
// nil when t has none of them. what names the owner for messages ("point \"power\"").
func (d *decoder) register(t map[string]any, path []string, what string) *gateway.Register {
	if !slices.ContainsFunc(registerKeys, func(k string) bool { _, ok := t[k]; return ok }) {
		return nil
	}
	at := d.tableAt(path)
	valAt := func(key string) position { return d.ix.val(sub(path, key)) }
	r := &gateway.Register{}
	table, ok := d.str(t, path, "register")
	switch {
	case !ok:
		if _, present := t["register"]; !present {
			d.errorf(at, "%s has no register (holding, input, coil or discrete)", what)
		}
	case !slices.Contains([]string{gateway.TableHolding, gateway.TableInput, gateway.TableCoil, gateway.TableDiscrete}, table):
		d.errorf(valAt("register"), "unknown register %q (known: holding, input, coil, discrete)", table)
	default:
		r.Table = table
	}
	if n, present := d.integer(t, path, "address"); present {
		if n < 0 || n > 65535 {
			d.errorf(valAt("address"), "address %d is out of range 0..65535 (0-based PDU addresses: 40001 in 1-based notation is holding 0)", n)
		}
		r.Address = uint16(n)
	} else if _, present := t["address"]; !present {
		d.errorf(at, "%s has no address", what)
	}
	bits := r.Table == gateway.TableCoil || r.Table == gateway.TableDiscrete
	if f, present := d.str(t, path, "format"); present {
		switch {
		case bits:
			d.errorf(valAt("format"), "format is for registers; a %s is one bit", r.Table)
		case !slices.Contains(formats, f):
			d.errorf(valAt("format"), "unknown format %q (known: %s)", f, strings.Join(formats, ", "))
		default:
			r.Format = f
		}
	} else if !bits && r.Table != "" {
		r.Format = gateway.FormatU16
	}
	if n, present := d.integer(t, path, "count"); present {
		switch {
		case r.Format != gateway.FormatString:
			d.errorf(valAt("count"), "count is the length of a format = \"string\" in registers")
		case n < 1 || n > 125:
			d.errorf(valAt("count"), "count %d is out of range 1..125 registers", n)
		default:
			r.Count = int(n)
		}
	} else if r.Format == gateway.FormatString {
		d.errorf(at, "%s: format \"string\" needs count (its length in registers)", what)
	}
	for _, k := range []string{"word_order", "byte_order"} {
		o, present := d.str(t, path, k)
		if !present {
			continue
		}
		switch {
		case o != "big" && o != "little":
			d.errorf(valAt(k), "%s must be \"big\" or \"little\", not %q", k, o)
		case bits:
			d.errorf(valAt(k), "%s is for registers; a %s is one bit", k, r.Table)
		case k == "word_order":
			r.WordOrder = o
		default:
			r.ByteOrder = o
		}
	}
	if n, present := d.integer(t, path, "scale_factor"); present {
		switch {
		case n < 0 || n > 65535:
			d.errorf(valAt("scale_factor"), "scale_factor %d is not a register address 0..65535", n)
		case bits || r.Format == gateway.FormatString:
			d.errorf(valAt("scale_factor"), "scale_factor scales numbers, not a %s", cmpStr(bits, r.Table, "string"))
		default:
			sf := uint16(n)
			r.ScaleFactor = &sf
		}
	}
	if n, present := d.integer(t, path, "sunspec_model"); present {
		if n < 1 || n > 65534 {
			d.errorf(valAt("sunspec_model"), "sunspec_model %d is out of range 1..65534", n)
		}
		r.Model = int(n)
	}
	if int(r.Address)+r.Words()-1 > 65535 {
		d.errorf(valAt("address"), "%s runs past register 65535", what)
	}
	return r
}

func cmpStr(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

var formats = []string{gateway.FormatU16, gateway.FormatI16, gateway.FormatU32, gateway.FormatI32, gateway.FormatU64,
	gateway.FormatI64, gateway.FormatF32, gateway.FormatF64, gateway.FormatString}

// registerType is the twin type a register point has when the profile does not say.
func registerType(r *gateway.Register) gateway.ValueType {
	switch r.Format {
	case "":
		return gateway.TypeBool
	case gateway.FormatF32, gateway.FormatF64:
		return gateway.TypeFloat
	case gateway.FormatI16, gateway.FormatI32, gateway.FormatI64:
		return gateway.TypeInt
	case gateway.FormatString:
		return gateway.TypeString
	}
	return gateway.TypeUint
}

// txtKey checks an mDNS TXT key and returns it lower-cased (TXT keys compare case-insensitively).
func (d *decoder) txtKey(s string, path []string) (string, bool) {
	if !txtKeyRE.MatchString(s) {
		d.errorf(d.ix.val(path), "TXT key %q: 1 to 64 printable ASCII characters without '='", s)
		return "", false
	}
	return strings.ToLower(s), true
}

// protoMatch decodes the [profile.match] keys of Modbus and mDNS profiles.
func (d *decoder) protoMatch(t map[string]any, path []string, m *gateway.Match) {
	svcs, paths := d.strs(t, path, "services")
	for i, s := range svcs {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "."), ".local")
		if !serviceRE.MatchString(s) {
			d.errorf(d.ix.val(paths[i]), "service type %q: write it as _name._tcp or _name._udp", svcs[i])
			continue
		}
		m.Services = append(m.Services, strings.ToLower(s))
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"vendor_name", &m.VendorName}, {"product_code", &m.ProductCode}} {
		if s, ok := d.str(t, path, k.key); ok {
			if _, err := regexp.Compile(s); err != nil || s == "" {
				d.errorf(d.ix.val(sub(path, k.key)), "%s: not a usable regular expression: %v", k.key, err)
			} else {
				*k.dst = s
			}
		}
	}
	if v, present := t["sunspec_models"]; present {
		list, ok := v.([]any)
		if !ok {
			d.wrongType(sub(path, "sunspec_models"), "an array of integers", v)
		}
		for _, e := range list {
			n, ok := e.(int64)
			if !ok || n < 1 || n > 65534 {
				d.errorf(d.ix.val(sub(path, "sunspec_models")), "sunspec_models holds model ids 1..65534, not %v", e)
				continue
			}
			m.SunSpecModels = append(m.SunSpecModels, int(n))
		}
	}
}

// address decodes where a point or method lives, by the profile's protocol: an SNMP oid, Modbus
// register keys or an mDNS txt key (fields has already refused the keys of other protocols).
func (d *decoder) address(t map[string]any, path []string, what string, oid *string, reg **gateway.Register, txt *string) {
	at := d.tableAt(path)
	switch d.proto {
	case "snmp":
		if s, present := d.str(t, path, "oid"); present {
			*oid, _ = d.oid(s, sub(path, "oid"))
		} else if _, present := t["oid"]; !present {
			d.errorf(at, "%s has no oid", what)
		}
	case "modbus":
		if *reg = d.register(t, path, what); *reg == nil {
			d.errorf(at, "%s has no register and address", what)
		}
	case "mdns":
		if s, present := d.str(t, path, "txt"); present {
			*txt, _ = d.txtKey(s, sub(path, "txt"))
		} else if _, present := t["txt"]; !present {
			d.errorf(at, "%s has no txt key", what)
		}
	}
}

// protoIdentity decodes [profile.identity] of Modbus profiles (each field a register table:
// serial = { register = "holding", address = 52, format = "string", count = 16, sunspec_model = 1 })
// and mDNS profiles (each field a TXT key or a list of them, tried in order).
func (d *decoder) protoIdentity(t map[string]any, path []string, fields []string, id *gateway.IdentityOIDs) {
	for _, k := range sortedKeys(t) {
		if !slices.Contains(fields, k) {
			d.errorf(d.ix.key(sub(path, k)), "%s is for SNMP profiles, this one is %s", k, d.proto)
		}
	}
	for _, f := range fields {
		v, present := t[f]
		if !present {
			continue
		}
		fp := sub(path, f)
		switch d.proto {
		case "modbus":
			m, ok := v.(map[string]any)
			if !ok {
				d.wrongType(fp, `a register table ({ register = "holding", address = 52, format = "string", count = 16 })`, v)
				continue
			}
			d.fields(m, fp, registerKeys...)
			if r := d.register(m, fp, "identity "+f); r != nil {
				if id.Registers == nil {
					id.Registers = map[string]gateway.Register{}
				}
				id.Registers[f] = *r
			} else {
				d.errorf(d.ix.key(fp), "identity %s has no register and address", f)
			}
		case "mdns":
			var keys []string
			var paths [][]string
			if s, ok := v.(string); ok {
				keys, paths = []string{s}, [][]string{fp}
			} else {
				keys, paths = d.strs(t, path, f)
			}
			for i, k := range keys {
				if k, ok := d.txtKey(k, paths[i]); ok {
					if id.TXT == nil {
						id.TXT = map[string][]string{}
					}
					id.TXT[f] = append(id.TXT[f], k)
				}
			}
		}
	}
}
