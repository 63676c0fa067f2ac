package gateway

import (
	"errors"
	"fmt"
)

// DefaultMaxPending is how many claims may wait for a device not seen yet, unless Options.MaxPending
// says otherwise (claims.max_pending).
const DefaultMaxPending = 10000

// ErrTooManyPending is a claim for a device not seen yet refused because Options.MaxPending claims
// already wait for theirs.
var ErrTooManyPending = errors.New("too many pending claims")

// admit decides which of cs fit under the cap on pending claims: a claim that would newly wait for its
// device takes a place, one that stops waiting frees one, and one already pending keeps its own. It
// returns, for each of cs, the error refusing it (nil: admitted). b.change must be held, so that no
// other change counts the same places.
func (b *claimBook) admit(cs []*Claim, max int) []error {
	b.mu.Lock()
	defer b.mu.Unlock()
	pending := 0
	for _, c := range b.byMAC {
		if c.State == ClaimPending {
			pending++
		}
	}
	out := make([]error, len(cs))
	// One error for every claim refused: an import of 100,000 rows shares its text.
	full := fmt.Errorf("%w (%d, claims.max_pending): no device with this MAC has been seen yet, and as many claims "+
		"already wait for theirs; claim devices once they are on the network, or raise claims.max_pending", ErrTooManyPending, max)
	for i, c := range cs {
		old, had := b.byMAC[c.MAC]
		was := had && old.State == ClaimPending
		switch {
		case c.State == ClaimPending && !was && pending >= max:
			out[i] = full
		case c.State == ClaimPending && !was:
			pending++
		case c.State != ClaimPending && was:
			pending--
		}
	}
	return out
}
