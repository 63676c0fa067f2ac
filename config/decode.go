package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The loader decodes TOML into map[string]any with BurntSushi/toml and then
// into Config with the small decoder below, instead of letting the library
// fill the struct. The library's struct decoding matches keys
// case-insensitively, stops at the first type error and reports it without a
// column; this decoder matches keys exactly, keeps going, and names every
// problem by its full key path so the loader can place it in the file.

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
	targetsType  = reflect.TypeFor[[]Target]()
)

type decoder struct {
	errs errs
}

// defaulter is implemented by table types whose fields have defaults that must
// be in place before the table's keys are decoded over them.
type defaulter interface{ setDefaults() }

// table decodes the TOML table m at path into the struct v.
func (d *decoder) table(path string, m map[string]any, v reflect.Value) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic order for errors the loader cannot place
	t := v.Type()
	for _, k := range keys {
		kp := joinKey(path, k)
		i, ok := fieldByTag(t, k)
		if !ok {
			d.errs.addAtKey(kp, "unknown key%s", hint(k, tags(t)))
			continue
		}
		d.value(kp, m[k], v.Field(i))
	}
}

// fieldByTag finds the field whose toml tag is exactly key: TOML keys are
// case-sensitive, and accepting "Interval" for "interval" would let the same
// file mean different things to different tools.
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

// hint suggests the known key the user most likely meant.
func hint(key string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return fmt.Sprintf("; did you mean %s? (keys are case-sensitive)", k)
		}
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestDist && d < len(k)/2+1 {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %s?", best)
	}
	return ""
}

// editDistance is the Levenshtein distance; keys are short, so O(n*m) is fine.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // not worth comparing; a typo is never that long
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// value decodes one TOML value into v.
func (d *decoder) value(path string, raw any, v reflect.Value) {
	t := v.Type()
	switch {
	case t == durationType:
		s, ok := raw.(string)
		if !ok {
			d.errs.add(path, "must be a duration string like \"30s\", got %s", describe(raw, true))
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.errs.add(path, "%q is not a duration", s)
			return
		}
		v.SetInt(int64(dur))
		return
	case t == secretType:
		s, ok := raw.(string)
		if !ok {
			// Never echo what might be a secret, even a mistyped one.
			d.errs.add(path, "must be a string, got %s", describe(raw, false))
			return
		}
		v.SetString(s)
		return
	case t == unitIDsType:
		d.decodeUnitIDs(path, raw, v)
		return
	case t == targetsType:
		arr, ok := asArray(raw)
		if !ok {
			d.errs.add(path, "must be an array of strings like [\"127.0.0.1:161\"], got %s", describe(raw, true))
			return
		}
		out := make([]Target, 0, len(arr))
		for i, el := range arr {
			s, ok := el.(string)
			if !ok {
				d.errs.add(joinIndex(path, i), "must be a string, got %s", describe(el, true))
				continue
			}
			// Parsed in resolve, once the sweep's port is known.
			out = append(out, Target{Raw: s})
		}
		v.Set(reflect.ValueOf(out))
		return
	}

	switch t.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			d.errs.add(path, "must be a string, got %s", describe(raw, true))
			return
		}
		v.SetString(s)
	case reflect.Int:
		n, ok := raw.(int64)
		if !ok {
			d.errs.add(path, "must be an integer, got %s", describe(raw, true))
			return
		}
		if v.OverflowInt(n) {
			d.errs.add(path, "%d is too large", n)
			return
		}
		v.SetInt(n)
	case reflect.Uint16: // only ports are uint16 here
		n, ok := raw.(int64)
		if !ok {
			d.errs.add(path, "must be an integer, got %s", describe(raw, true))
			return
		}
		if n < 1 || n > math.MaxUint16 {
			d.errs.add(path, "must be between 1 and 65535, got %d", n)
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
			d.errs.add(path, "must be a number, got %s", describe(raw, true))
		}
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			d.errs.add(path, "must be true or false, got %s", describe(raw, true))
			return
		}
		v.SetBool(b)
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			d.errs.add(path, "must be a table, got %s", describe(raw, true))
			return
		}
		d.table(path, m, v)
	case reflect.Pointer:
		m, ok := raw.(map[string]any)
		if !ok || t.Elem().Kind() != reflect.Struct {
			d.errs.add(path, "must be a table, got %s", describe(raw, true))
			return
		}
		p := reflect.New(t.Elem())
		if df, ok := p.Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.table(path, m, p.Elem())
		v.Set(p)
	case reflect.Slice:
		arr, ok := asArray(raw)
		if !ok {
			d.errs.add(path, "must be an array, got %s", describe(raw, true))
			return
		}
		out := reflect.MakeSlice(t, len(arr), len(arr))
		for i, el := range arr {
			ep := joinIndex(path, i)
			ev := out.Index(i)
			if df, ok := ev.Addr().Interface().(defaulter); ok {
				df.setDefaults()
			}
			d.value(ep, el, ev)
		}
		v.Set(out)
	default:
		// A field type this decoder does not know is a programming error in
		// this package, not the user's: say so rather than skip the key.
		d.errs.add(path, "internal error: cannot decode into %s", t)
	}
}

// asArray accepts both shapes BurntSushi/toml produces: []any for inline arrays
// and []map[string]any for arrays of tables.
func asArray(raw any) ([]any, bool) {
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

// describe names a decoded TOML value's type, with the value itself when
// showValue is set and the value is short.
func describe(raw any, showValue bool) string {
	var typ, val string
	switch x := raw.(type) {
	case string:
		typ, val = "a string", fmt.Sprintf("%q", x)
		if len(x) > 40 {
			val = ""
		}
	case int64:
		typ, val = "an integer", fmt.Sprint(x)
	case float64:
		typ, val = "a float", fmt.Sprint(x)
	case bool:
		typ, val = "a boolean", fmt.Sprint(x)
	case time.Time:
		typ = "a date/time"
	case []any, []map[string]any:
		typ = "an array"
	case map[string]any:
		typ = "a table"
	default:
		typ = fmt.Sprintf("a %T", raw)
	}
	if showValue && val != "" {
		return typ + " " + val
	}
	return typ
}
