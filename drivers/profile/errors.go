package profile

import (
	"cmp"
	"errors"
	"slices"

	"github.com/edgegw/edgegw/internal/tomlx"
)

// Error is one problem in a profile file, "file:line:col: key.path: message". Load and Parse return
// all of a run's problems at once, joined with errors.Join; use errors.As or the Unwrap() []error
// method to get at each one.
type Error = tomlx.Error

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
