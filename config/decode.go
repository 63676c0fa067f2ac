package config

import (
	"strconv"

	"github.com/edgegw/edgegw/internal/tomlx"
)

// The configuration is decoded by tomlx (strict keys, every error at once with its position); the types
// below decode themselves where a TOML value needs more than a type check.

// DecodeTOML reads a secret: a string, never echoed in a message, even a mistyped one.
func (s *Secret) DecodeTOML(d *tomlx.Doc, key string, raw any) {
	v, ok := raw.(string)
	if !ok {
		d.Errorf(key, "must be a string, got %s", describe(raw, false))
		return
	}
	*s = Secret(v)
}

// Targets are a sweep's targets as written; they are parsed in resolve, once the sweep's port is known.
type Targets []Target

// DecodeTOML reads an array of target strings.
func (ts *Targets) DecodeTOML(d *tomlx.Doc, key string, raw any) {
	arr, ok := asArray(raw)
	if !ok {
		d.Errorf(key, "must be an array of strings like [\"127.0.0.1:161\"], got %s", describe(raw, true))
		return
	}
	out := make(Targets, 0, len(arr))
	for i, el := range arr {
		s, ok := el.(string)
		if !ok {
			d.Errorf(joinIndex(key, i), "must be a string, got %s", describe(el, true))
			continue
		}
		out = append(out, Target{Raw: s})
	}
	*ts = out
}

// DecodeTOML reads unit_ids: integers and "A-B" ranges, each id 1..255, no repeats.
func (u *UnitIDs) DecodeTOML(d *tomlx.Doc, key string, raw any) {
	arr, ok := asArray(raw)
	if !ok {
		d.Errorf(key, "must be an array of unit ids like [1, 2, \"10-20\"], got %s", describe(raw, true))
		return
	}
	var out UnitIDs
	seen := map[int]bool{}
	add := func(ep string, n int) {
		switch {
		case n < 1 || n > 255:
			d.Errorf(ep, "unit id %d is out of range 1..255 (0 is broadcast, which devices never answer)", n)
		case seen[n]:
			d.Errorf(ep, "unit id %d is listed twice", n)
		default:
			seen[n] = true
			out = append(out, uint8(n))
		}
	}
	for i, el := range arr {
		ep := joinIndex(key, i)
		switch x := el.(type) {
		case int64:
			add(ep, int(max(min(x, 1<<20), -1)))
		case string:
			m := unitRangeRE.FindStringSubmatch(x)
			if m == nil {
				d.Errorf(ep, "%q is not a unit id range like \"1-16\"", x)
				continue
			}
			lo, _ := strconv.Atoi(m[1])
			hi, _ := strconv.Atoi(m[2])
			if lo > hi {
				d.Errorf(ep, "range %q runs backwards", x)
				continue
			}
			for n := lo; n <= hi; n++ {
				add(ep, n)
			}
		default:
			d.Errorf(ep, "must be a unit id or a range, got %s", describe(el, true))
		}
	}
	if len(out) == 0 && len(arr) == 0 {
		d.Errorf(key, "must list at least one unit id")
	}
	*u = out
}
