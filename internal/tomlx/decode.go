package tomlx

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Unmarshaler is a type that decodes itself from a raw TOML value (string, int64, float64, bool, []any,
// []map[string]any, map[string]any, time.Time), reporting problems through d at key: a secret that must
// never be echoed, a target list, a range of unit ids.
type Unmarshaler interface {
	DecodeTOML(d *Doc, key string, raw any)
}

// Defaulter is a table type whose fields have defaults that must be in place before its keys are
// decoded over them (each [[discovery.snmp]] element, say).
type Defaulter interface{ SetDefaults() }

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
)

// Decode decodes table t into the struct v points to, matching keys to `toml` struct tags exactly (TOML
// keys are case-sensitive, and accepting "Interval" for "interval" would let the same file mean
// different things to different tools). Unknown keys, wrong types and bad durations are reported
// through t.Doc; decoding goes on past them so that every problem is found in one pass. Keys at the
// paths in skip ("discovery.snmp") are left to the caller, and count as known in suggestions.
func Decode(t Table, v any, skip ...string) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic("tomlx.Decode needs a pointer to a struct")
	}
	(&structDecoder{d: t.Doc, skip: skip}).table(t.Path, t.M, rv.Elem())
}

type structDecoder struct {
	d    *Doc
	skip []string
}

func (s *structDecoder) table(path string, m map[string]any, v reflect.Value) {
	d := s.d
	t := v.Type()
	known := tags(t)
	for _, sk := range s.skip {
		if parent(sk) == path || path == "" && !strings.ContainsAny(sk, ".[") {
			known = append(known, sk[len(path):])
		}
	}
	for i := range known {
		known[i] = strings.TrimPrefix(known[i], ".")
	}
	tbl := Table{Doc: d, Path: path, M: m}
	for _, k := range tbl.Keys() {
		kp := JoinKey(path, k)
		if slices.Contains(s.skip, kp) {
			continue
		}
		i, ok := fieldByTag(t, k)
		if !ok {
			d.KeyErrorf(kp, "unknown key%s", hint(k, known))
			continue
		}
		s.value(kp, m[k], v.Field(i))
	}
}

func fieldByTag(t reflect.Type, key string) (int, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && f.Tag.Get("toml") == key && key != "-" {
			return i, true
		}
	}
	return 0, false
}

func tags(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

func (s *structDecoder) value(path string, raw any, v reflect.Value) {
	d := s.d
	t := v.Type()
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		v.Addr().Interface().(Unmarshaler).DecodeTOML(d, path, raw)
		return
	}
	if t == durationType {
		s, ok := raw.(string)
		if !ok {
			d.Errorf(path, "must be a duration string like \"30s\", got %s", Describe(raw, true))
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.Errorf(path, "%q is not a duration", s)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			d.Errorf(path, "must be a string, got %s", Describe(raw, true))
			return
		}
		v.SetString(s)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := raw.(int64)
		if !ok {
			d.Errorf(path, "must be an integer, got %s", Describe(raw, true))
			return
		}
		if v.OverflowInt(n) {
			d.Errorf(path, "%d is too large", n)
			return
		}
		v.SetInt(n)
	case reflect.Uint16: // ports
		n, ok := raw.(int64)
		if !ok {
			d.Errorf(path, "must be an integer, got %s", Describe(raw, true))
			return
		}
		if n < 1 || n > math.MaxUint16 {
			d.Errorf(path, "must be between 1 and 65535, got %d", n)
			return
		}
		v.SetUint(uint64(n))
	case reflect.Float64:
		switch n := raw.(type) {
		case float64:
			v.SetFloat(n)
		case int64:
			v.SetFloat(float64(n))
		default:
			d.Errorf(path, "must be a number, got %s", Describe(raw, true))
		}
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			d.Errorf(path, "must be true or false, got %s", Describe(raw, true))
			return
		}
		v.SetBool(b)
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			d.Errorf(path, "must be a table, got %s", Describe(raw, true))
			return
		}
		s.table(path, m, v)
	case reflect.Pointer:
		m, ok := raw.(map[string]any)
		if !ok || t.Elem().Kind() != reflect.Struct {
			d.Errorf(path, "must be a table, got %s", Describe(raw, true))
			return
		}
		p := reflect.New(t.Elem())
		if df, ok := p.Interface().(Defaulter); ok {
			df.SetDefaults()
		}
		s.table(path, m, p.Elem())
		v.Set(p)
	case reflect.Slice:
		arr, ok := AsArray(raw)
		if !ok {
			d.Errorf(path, "must be an array, got %s", Describe(raw, true))
			return
		}
		out := reflect.MakeSlice(t, len(arr), len(arr))
		for i, el := range arr {
			ev := out.Index(i)
			if df, ok := ev.Addr().Interface().(Defaulter); ok {
				df.SetDefaults()
			}
			s.value(JoinIndex(path, i), el, ev)
		}
		v.Set(out)
	default:
		// A field type this decoder does not know is a programming error, not the user's: say so
		// rather than skip the key.
		d.Errorf(path, "internal error: cannot decode into %s", t)
	}
}

// AsArray accepts both shapes BurntSushi/toml produces: []any for inline arrays and []map[string]any
// for arrays of tables.
func AsArray(raw any) ([]any, bool) {
	switch a := raw.(type) {
	case []any:
		return a, true
	case []map[string]any:
		out := make([]any, len(a))
		for i, m := range a {
			out[i] = m
		}
		return out, true
	}
	return nil, false
}
