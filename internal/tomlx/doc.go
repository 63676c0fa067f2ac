// Package tomlx reads TOML strictly, for the gateway's configuration and its device profiles alike:
// unknown keys and keys in the wrong case are errors (with a "did you mean"), so are wrong types, and
// every problem of a document is reported at once as "file:line:col: key.path: message".
//
// BurntSushi/toml parses; this package places. Parse keeps the decoded tree and an index of where every
// key and value is written. Callers then walk the tree either by hand through Table (profiles, whose
// shape depends on the protocol) or into a struct with Decode (the configuration), and report their own
// checks through the same Doc, so one message style covers every file the gateway reads.
package tomlx

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// Doc is a parsed document and the problems found in it so far.
type Doc struct {
	Source string
	Root   map[string]any
	ix     *index
	errs   Errors
	seen   map[string]bool
}

// Parse decodes data (named source in messages). A syntax error, or a file that is not UTF-8, is
// returned as Errors with its position; nothing else is checked yet.
func Parse(source string, data []byte) (*Doc, error) {
	if !utf8.Valid(data) {
		return nil, Errors{{Source: source, Line: 1, Col: 1, Msg: "file is not UTF-8"}}
	}
	var root map[string]any
	if _, err := toml.Decode(string(data), &root); err != nil {
		return nil, syntaxError(source, data, err)
	}
	return &Doc{Source: source, Root: root, ix: buildIndex(data), seen: map[string]bool{}}, nil
}

// syntaxError places a TOML parse error. BurntSushi's Position has the line and the byte offset but
// leaves the column unset; columns here count characters.
func syntaxError(source string, data []byte, err error) error {
	e := &Error{Source: source, Err: err, Msg: "syntax error: " + err.Error()}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		e.Msg = "syntax error: " + tidy(pe.Message)
		ix := &index{data: data}
		if pe.Position.Start >= 0 && pe.Position.Start <= len(data) {
			e.Line, e.Col = ix.pos(pe.Position.Start)
		} else if pe.Position.Line > 0 {
			e.Line, e.Col = pe.Position.Line, 1
		}
	}
	return Errors{e}
}

// tidy makes the library's messages read like ours: lower case first letter, no trailing period.
func tidy(msg string) string {
	msg = strings.TrimSuffix(strings.TrimSpace(msg), ".")
	r, n := utf8.DecodeRuneInString(msg)
	if n > 0 && unicode.IsUpper(r) {
		if r2, _ := utf8.DecodeRuneInString(msg[n:]); unicode.IsLower(r2) {
			msg = string(unicode.ToLower(r)) + msg[n:]
		}
	}
	return msg
}

// Errorf reports a problem with the value at key (a formatted path: "discovery.snmp[0].timeout").
func (d *Doc) Errorf(key, format string, args ...any) {
	d.add(&Error{Key: key, Msg: sprintf(format, args...)})
}

// KeyErrorf reports a problem with the key itself (an unknown key): it is placed at the key.
func (d *Doc) KeyErrorf(key, format string, args ...any) {
	d.add(&Error{Key: key, Msg: sprintf(format, args...), AtKey: true})
}

// Add reports an error built elsewhere (a validation that ran on values, with a Key path); it is placed
// by its Key unless it has a line already.
func (d *Doc) Add(e *Error) { d.add(e) }

func (d *Doc) add(e *Error) {
	// One message per key: a value that failed to decode is not also reported as missing.
	if e.Key != "" {
		if d.seen[e.Key] {
			return
		}
		d.seen[e.Key] = true
	}
	e.Source = d.Source
	if e.Line == 0 {
		e.Line, e.Col = d.locate(e.Key, e.AtKey)
	}
	d.errs = append(d.errs, e)
}

// Failed reports whether any problem was reported.
func (d *Doc) Failed() bool { return len(d.errs) > 0 }

// Count is how many problems were reported so far: a decoder compares it before and after a part to
// know whether that part was sound.
func (d *Doc) Count() int { return len(d.errs) }

// Err returns every problem reported, sorted by position, or nil.
func (d *Doc) Err() error {
	if len(d.errs) == 0 {
		return nil
	}
	out := slices.Clone(d.errs)
	out.Sort()
	return out
}

// Pos returns where the value at key is written (or its key, or its nearest enclosing table in the
// file); 0, 0 when it is nowhere.
func (d *Doc) Pos(key string) (line, col int) { return d.locate(key, false) }

// KeyPos returns where the key itself is written (falling back as Pos does).
func (d *Doc) KeyPos(key string) (line, col int) { return d.locate(key, true) }

// NewError makes an Error placed in this document, for a caller that reports it itself (a problem
// found across several documents, such as a profile extending another file's).
func (d *Doc) NewError(key string, atKey bool, format string, args ...any) *Error {
	e := &Error{Source: d.Source, Key: key, Msg: sprintf(format, args...), AtKey: atKey}
	e.Line, e.Col = d.locate(key, atKey)
	return e
}

// locate finds where to report a problem with key: at its value, or at its key for an unknown key, or
// for a missing key at the header of the nearest enclosing table that is in the file.
func (d *Doc) locate(key string, atKey bool) (int, int) {
	if atKey {
		if l, c, ok := d.ix.keyPos(key); ok {
			return l, c
		}
	}
	if l, c, ok := d.ix.valuePos(key); ok {
		return l, c
	}
	for p := parent(key); p != ""; p = parent(p) {
		if l, c, ok := d.ix.keyPos(p); ok {
			return l, c
		}
	}
	return 0, 0
}

// parent strips the last segment (".key" or "[i]") of a formatted key path. Quoted segments holding
// dots only make it climb too far, which costs precision, never correctness.
func parent(key string) string {
	if i := strings.LastIndexAny(key, ".["); i > 0 {
		return key[:i]
	}
	return ""
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// Table is one TOML table of a Doc, at its key path, with typed getters that report a wrong type in
// the common words ("must be a string, got an integer 5") and leave the caller only its own checks.
type Table struct {
	Doc  *Doc
	Path string // "" for the root
	M    map[string]any
}

// Table returns the document's root table.
func (d *Doc) Table() Table { return Table{Doc: d, M: d.Root} }

// Key is the formatted path of key in t.
func (t Table) Key(key string) string { return JoinKey(t.Path, key) }

// Has reports whether key is written in t.
func (t Table) Has(key string) bool { _, ok := t.M[key]; return ok }

// Keys returns t's keys, sorted.
func (t Table) Keys() []string {
	ks := make([]string, 0, len(t.M))
	for k := range t.M {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Known reports every key of t that is not one of known, with a suggestion.
func (t Table) Known(known ...string) {
	for _, k := range t.Keys() {
		if !slices.Contains(known, k) {
			t.Unknown(k, known)
		}
	}
}

// Unknown reports key as unknown in t, suggesting the one of known the user most likely meant.
func (t Table) Unknown(key string, known []string) {
	t.Doc.KeyErrorf(t.Key(key), "unknown key%s", hint(key, known))
}

// Errorf reports a problem with the value of key in t ("" for the table itself).
func (t Table) Errorf(key, format string, args ...any) {
	p := t.Path
	if key != "" {
		p = t.Key(key)
	}
	t.Doc.Errorf(p, format, args...)
}

// KeyErrorf reports a problem with key itself.
func (t Table) KeyErrorf(key, format string, args ...any) {
	t.Doc.KeyErrorf(t.Key(key), format, args...)
}

// wrong reports a value of the wrong type.
func (t Table) wrong(key, want string, v any) {
	t.Errorf(key, "must be %s, got %s", want, Describe(v, true))
}

// String returns key's value; ok is false when it is absent or not a string (reported).
func (t Table) String(key string) (string, bool) {
	v, present := t.M[key]
	if !present {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		t.wrong(key, "a string", v)
	}
	return s, ok
}

// Int returns key's value as an integer.
func (t Table) Int(key string) (int64, bool) {
	v, present := t.M[key]
	if !present {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		t.wrong(key, "an integer", v)
	}
	return n, ok
}

// Number returns key's value, an integer or a float, as a finite float.
func (t Table) Number(key string) (float64, bool) {
	v, present := t.M[key]
	if !present {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		if n != n || n > 1.7976931348623157e308 || n < -1.7976931348623157e308 {
			t.Errorf(key, "must be a finite number")
			return 0, false
		}
		return n, true
	}
	t.wrong(key, "a number", v)
	return 0, false
}

// Bool returns key's value as a boolean.
func (t Table) Bool(key string) (bool, bool) {
	v, present := t.M[key]
	if !present {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		t.wrong(key, "true or false", v)
	}
	return b, ok
}

// Strings returns key's value, an array of strings, with each element's path; elements of another type
// are reported and left out.
func (t Table) Strings(key string) ([]string, []string) {
	v, present := t.M[key]
	if !present {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		t.wrong(key, "an array of strings", v)
		return nil, nil
	}
	var out, paths []string
	for i, e := range arr {
		p := JoinIndex(t.Key(key), i)
		s, ok := e.(string)
		if !ok {
			t.Doc.Errorf(p, "must be a string, got %s", Describe(e, true))
			continue
		}
		out = append(out, s)
		paths = append(paths, p)
	}
	return out, paths
}

// Sub returns key's value as a table.
func (t Table) Sub(key string) (Table, bool) {
	v, present := t.M[key]
	if !present {
		return Table{}, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.wrong(key, "a table", v)
		return Table{}, false
	}
	return Table{Doc: t.Doc, Path: t.Key(key), M: m}, true
}

// Tables returns key's value as an array of tables: [[key]] tables or an array of inline tables.
func (t Table) Tables(key string) []Table {
	v, present := t.M[key]
	if !present {
		return nil
	}
	var out []Table
	switch a := v.(type) {
	case []map[string]any:
		for i, m := range a {
			out = append(out, Table{Doc: t.Doc, Path: JoinIndex(t.Key(key), i), M: m})
		}
	case []any:
		for i, e := range a {
			p := JoinIndex(t.Key(key), i)
			m, ok := e.(map[string]any)
			if !ok {
				t.Doc.Errorf(p, "must be a table, got %s", Describe(e, true))
				continue
			}
			out = append(out, Table{Doc: t.Doc, Path: p, M: m})
		}
	default:
		t.Doc.Errorf(t.Key(key), "must be an array of tables: write [[%s]], got %s", strings.Trim(tablePath(t.Key(key)), "."), Describe(v, false))
	}
	return out
}

// tablePath turns "profile[0].point" into "profile.point", as a [[header]] is written.
func tablePath(key string) string {
	var b strings.Builder
	skip := false
	for _, r := range key {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}
