package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/edgegw/edgegw/internal/tomlx"
)

// Table is one protocol's decoded [discovery.NAME] table. Its driver package defines it; the
// configuration only holds it (Discovery.Tables) and checks its targets against max_addresses.
type Table interface {
	// Name is the table's key path ("discovery.snmp[0]", or "target[0]" for a --target URL): the
	// credential reference that sightings carry, since the secrets themselves must not appear there.
	Name() string
	// Sweep lists the addresses and prefixes the table sweeps; nil for a protocol that sweeps none.
	Sweep() []Target
}

// TableCodec is how one protocol's [discovery.NAME] tables are read. The driver package provides it
// (protocol.Spec.Config), so config names no protocol. A driver may also own top-level tables of its
// own (SNMP's [traps]): their codecs have Top set (protocol.Spec.Tables).
type TableCodec struct {
	// Name is the protocol's name: the table is [discovery.Name] or [[discovery.Name]]. With Top it is
	// the table's own name: [Name] at the top of the file.
	Name string
	// Top says the table is [Name] at the top of the file, not under [discovery]; its tables are in
	// Config.Tables.
	Top bool
	// Many says the tables are an array ([[discovery.snmp]], one per credential set); otherwise there is
	// at most one ([discovery.mdns]).
	Many bool
	// Decode reads one table. It reports every problem through t.Doc (tomlx) and returns what it
	// could make of the table; key is its path ("discovery.snmp[0]"), the table's Name.
	Decode func(t tomlx.Table, env *Env) Table
	// Keys are every key the table takes, for the test that keeps config.example.toml complete.
	Keys []string
}

// Env is what a table decoder gets besides its table: where relative paths start, secrets from
// *_file keys, and the warnings that `edgegw config check` and the daemon show.
type Env struct {
	dir      string
	warnings *[]string
	inline   *[]string
}

// NewEnv returns an Env for tables that do not come from a file (a --target URL): relative paths are
// taken from the current directory, warnings are dropped.
func NewEnv() *Env { return &Env{warnings: new([]string), inline: new([]string)} }

// Path makes a relative path relative to the config file's directory, so a config means the same
// whatever the daemon's working directory is.
func (e *Env) Path(p string) string { return relTo(e.dir, p) }

// Warn records a warning for `edgegw config check` and the daemon's start.
func (e *Env) Warn(format string, args ...any) {
	*e.warnings = append(*e.warnings, fmt.Sprintf(format, args...))
}

// ReadSecret completes a secret decoded from table t: written inline (*secret, key name) or named by
// name_file (*file), one of them at most. A file is read whole (one line), a relative path from the
// config's directory, and *file made absolute; a file other users can read is warned about, and an
// inline secret is noted for the warning about a config file other users can read. public is a value
// that is no secret when written inline (SNMP's factory community "public").
func (e *Env) ReadSecret(t tomlx.Table, name string, secret *Secret, file *string, public string) {
	if *file == "" {
		if *secret != "" && secret.Reveal() != public {
			*e.inline = append(*e.inline, t.Key(name))
		}
		return
	}
	if *secret != "" {
		t.Errorf(name, "set both %s and %s_file; keep only one", name, name)
		return
	}
	*file = e.Path(*file)
	val, mode, err := readSecretFile(*file)
	if err != nil {
		t.Doc.Add(&Error{Key: t.Key(name + "_file"), Msg: fmt.Sprintf("cannot read %s: %s", *file, reason(err)), Err: err})
		return
	}
	*secret = Secret(val)
	if othersCanRead(mode) {
		e.Warn("%s %s is readable by others (mode %04o); chmod 600 it", t.Key(name+"_file"), *file, mode.Perm())
	}
}

// Checker reports problems with the values of a table at their key paths: through the Doc when the
// table came from a file, into an error when it was built in code.
type Checker func(key, format string, args ...any)

// Problems collects a Checker's reports, for tables built in code.
type Problems struct{ es errs }

// Add reports a problem; it is a Checker.
func (p *Problems) Add(key, format string, args ...any) { p.es.add(key, format, args...) }

// Err returns the problems, or nil.
func (p *Problems) Err() error { return p.es.err() }

// DocChecker reports into a Doc.
func DocChecker(d *tomlx.Doc) Checker { return d.Errorf }

// ParseTargets parses a table's targets, now that its default port is known, reporting each bad one
// at its key ("discovery.snmp[0].targets[1]").
func ParseTargets(check Checker, key string, targets Targets, port uint16) {
	var es errs
	parseTargets(&es, key, targets, port)
	for _, e := range es {
		check(e.Key, "%s", e.Msg)
	}
}

// Canonical returns the spelling in list that matches s case-insensitively, or s unchanged so that
// validation reports it.
func Canonical(s string, list []string) string { return canonical(s, list) }

// OneOf reports a value that is not one of list.
func OneOf(check Checker, key, v string, list []string) {
	if !slices.Contains(list, v) {
		check(key, "%q is not one of %s", v, quoteList(list))
	}
}

// InRange reports an integer outside lo..hi.
func InRange(check Checker, key string, n, lo, hi int) {
	if n < lo || n > hi {
		check(key, "must be between %d and %d, got %d", lo, hi, n)
	}
}

// DurationIn reports a duration outside lo..hi.
func DurationIn(check Checker, key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		check(key, "must be between %s and %s, got %s", fmtDuration(lo), fmtDuration(hi), fmtDuration(d))
	}
}

// Limits every protocol's tables share.
const (
	MinTimeout = 10 * time.Millisecond
	MaxTimeout = 60 * time.Second
)

// tableKeys names the keys that are drivers' tables, as tomlx.Decode skips them: "discovery.snmp" for a
// protocol's discovery table, "traps" for a top-level one.
func tableKeys(codecs []TableCodec) []string {
	var out []string
	for _, c := range codecs {
		if c.Top {
			out = append(out, c.Name)
		} else {
			out = append(out, "discovery."+c.Name)
		}
	}
	return out
}

// decodeTables reads every protocol's [discovery.NAME] tables out of the [discovery] table (top false),
// or the drivers' top-level [NAME] tables (top true).
func decodeTables(doc *tomlx.Doc, env *Env, codecs []TableCodec, top bool) map[string][]Table {
	out := map[string][]Table{}
	disc, ok := doc.Table(), true
	if !top {
		disc, ok = doc.Table().Sub("discovery")
	}
	if !ok {
		return out
	}
	for _, c := range codecs {
		if c.Top != top || !disc.Has(c.Name) {
			continue
		}
		if c.Many {
			for _, t := range disc.Tables(c.Name) {
				if tb := c.Decode(t, env); tb != nil {
					out[c.Name] = append(out[c.Name], tb)
				}
			}
			continue
		}
		if t, ok := disc.Sub(c.Name); ok {
			if tb := c.Decode(t, env); tb != nil {
				out[c.Name] = append(out[c.Name], tb)
			}
		}
	}
	return out
}
