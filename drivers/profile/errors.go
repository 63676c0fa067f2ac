package profile

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Error is one problem in a profile file. Load and Parse return all of a run's problems at once, joined
// with errors.Join; use errors.As or the Unwrap() []error method to get at each one.
type Error struct {
	// Source is the file: "embedded:mib2.toml" or a path.
	Source string
	// Line and Col locate the problem, both from 1; Col counts characters, a tab is one. Both are 0 when
	// the problem is the file as a whole (it cannot be read).
	Line, Col int
	// Msg says what is wrong, lower case.
	Msg string
}

// Error formats the problem as "file:line:col: message", the form editors and CI logs link from.
func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.Source, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.Source, e.Line, e.Col, e.Msg)
}

// joinErrors orders problems by file, line and column and joins them; nil if there are none.
func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}
