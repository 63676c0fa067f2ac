package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a configuration, placed where the user has to fix it.
// It is exported so that callers such as `edgegw config check` can show the
// position (or highlight the line) without parsing the message.
type Error struct {
	File string // the config file's name as given to Load or Parse; may be empty
	Line int    // 1-based; 0 when the problem has no place in the file (a missing table)
	Col  int    // 1-based, in characters; 0 when Line is 0
	Key  string // full key path, e.g. "discovery.snmp[0].timeout"; empty for syntax errors
	Msg  string // what is wrong; never holds a secret value
	Err  error  // the underlying error (e.g. from os.ReadFile), for errors.Is; may be nil

	atKey bool // place at the key rather than the value (unknown keys)
}

// Error formats as "file:line:col: key: msg", the shape editors and CI
// annotations understand.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	}
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in one configuration, sorted by position, so a
// user fixes a file in one round instead of one error per restart.
type Errors []*Error

// Error joins the errors one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at each error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortErrors orders by position; errors without one (line 0) come first, as
// they are about the file as a whole.
func sortErrors(es Errors) {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// errs collects errors with key paths; positions are attached later by the
// loader, so validation can also run on configs built in code.
type errs Errors

func (es *errs) add(key, format string, args ...any) {
	*es = append(*es, &Error{Key: key, Msg: sprintf(format, args...)})
}

// addAtKey is add for problems with the key itself rather than its value.
func (es *errs) addAtKey(key, format string, args ...any) {
	*es = append(*es, &Error{Key: key, Msg: sprintf(format, args...), atKey: true})
}

func (es *errs) wrap(key string, err error, format string, args ...any) {
	*es = append(*es, &Error{Key: key, Msg: sprintf(format, args...), Err: err})
}

// err returns nil for no errors, so callers can `return es.err()`.
func (es errs) err() error {
	if len(es) == 0 {
		return nil
	}
	return Errors(es)
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
