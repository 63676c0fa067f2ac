package config

import (
	"fmt"

	"github.com/edgegw/edgegw/internal/tomlx"
)

// Error is one problem in a configuration, placed where the user has to fix it ("file:line:col: key:
// msg"). Callers such as `edgegw config check` can show the position without parsing the message.
type Error = tomlx.Error

// Errors is every problem found in one configuration, sorted by position, so a user fixes a file in one
// round instead of one error per restart.
type Errors = tomlx.Errors

// errs collects errors with key paths; positions are attached by the loader, so validation can also run
// on configs built in code.
type errs Errors

func (es *errs) add(key, format string, args ...any) {
	*es = append(*es, &Error{Key: key, Msg: sprintf(format, args...)})
}

// addAtKey is add for problems with the key itself rather than its value.
func (es *errs) addAtKey(key, format string, args ...any) {
	*es = append(*es, &Error{Key: key, Msg: sprintf(format, args...), AtKey: true})
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

// joinKey and joinIndex format key paths as errors show them.
func joinKey(path, seg string) string     { return tomlx.JoinKey(path, seg) }
func joinIndex(path string, i int) string { return tomlx.JoinIndex(path, i) }

// describe names a decoded TOML value's type for a message, with the value when show is set.
func describe(raw any, show bool) string { return tomlx.Describe(raw, show) }

// asArray accepts inline arrays and arrays of tables alike.
func asArray(raw any) ([]any, bool) { return tomlx.AsArray(raw) }
