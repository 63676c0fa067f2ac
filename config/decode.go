package config

import (
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
