package tomlx

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every key the TOML library decodes has a position,
// that walking any accepted document with the Table API and Decode never panics, and that every error
// is well-formed and sorted.
func FuzzParse(f *testing.F) {
	f.Add([]byte(tricky))
	f.Add([]byte("[[profile]]\nname = \"p\"\n[[profile.point]]\nname = \"v\"\noid = \"1.3\"\nidentity = { serial = [\"1.3\", { oid = \"1.4\", next = true }] }\n"))
	f.Add([]byte("[discovery]\nInterval = \"1m\"\n[[discovery.snmp]]\ntargets = [\"300.1.1.1\"]\ntimeout = \"5x\"\n"))
	f.Add([]byte("a = \"\"\"\n[[x]]\n\"\"\"\n'q.k' = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return // positions are computed by scanning; keep runs fast
		}
		d, err := Parse("fuzz.toml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) != 1 || !strings.HasPrefix(es[0].Error(), "fuzz.toml") {
				t.Fatalf("syntax error is not one placed Error: %T %v", err, err)
			}
			return
		}
		requireIndexed(t, data, d.ix)
		walk(d.Table())
		var into struct {
			A string         `toml:"a"`
			B []int          `toml:"b"`
			C map[string]any `toml:"-"`
			D *struct {
				E float64 `toml:"e"`
			} `toml:"d"`
		}
		Decode(d.Table(), &into)
		es, _ := d.Err().(Errors)
		for i, e := range es {
			if !strings.HasPrefix(e.Error(), "fuzz.toml") || e.Line < 0 || e.Col < 0 || (e.Line > 0) != (e.Col > 0) {
				t.Fatalf("bad error %q", e.Error())
			}
			if i > 0 && es[i-1].Line > e.Line {
				t.Fatalf("errors not sorted: %v", es)
			}
		}
	})
}

// walk reads every key of t with every getter, as a decoder over unknown input would.
func walk(t Table) {
	t.Known("a", "b")
	for _, k := range t.Keys() {
		t.String(k)
		t.Int(k)
		t.Number(k)
		t.Bool(k)
		t.Strings(k)
		if s, ok := t.Sub(k); ok {
			walk(s)
		}
		for _, s := range t.Tables(k) {
			walk(s)
		}
	}
}
