// Package supervise runs a daemon's long-running parts together and stops them in a fixed order.
//
// Every part runs until its context ends. The first part to fail, or to return while the others still
// run, stops the rest, and the daemon ends with that part's error. Stopping is sequential, in the
// order the parts were given: the first is stopped and awaited before the second is stopped, so a
// daemon lists what takes work in first (the admin socket, discovery) and what carries work out last
// (the uplink), and nothing is left half-delivered between them.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Part is one long-running piece of a daemon. Run returns nil when ctx is cancelled and it has
// stopped cleanly, or an error when it cannot go on.
type Part struct {
	Name string
	Run  func(ctx context.Context) error
}

// ErrStoppedEarly is wrapped in the error of a part that returned nil before it was asked to stop.
var ErrStoppedEarly = errors.New("stopped on its own")

// Run starts every part and returns once all have stopped. It stops them when ctx ends or when the
// first of them returns; each gets grace to return after its context is cancelled, and one that
// takes longer is abandoned with an error naming it (its goroutine may still run). The result is the
// first failure (named after its part) joined with any stop that overran, or nil.
func Run(ctx context.Context, grace time.Duration, parts ...Part) error {
	type exit struct {
		i   int
		err error
	}
	exits := make(chan exit, len(parts))
	cancels := make([]context.CancelFunc, len(parts))
	for i, p := range parts {
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancels[i] = cancel
		go func() { exits <- exit{i, p.Run(pctx)} }()
	}
	done := make([]bool, len(parts))
	var first error
	record := func(e exit, stopping bool) {
		done[e.i] = true
		switch {
		case e.err != nil && first == nil:
			first = fmt.Errorf("%s: %w", parts[e.i].Name, e.err)
		case e.err == nil && !stopping && first == nil:
			first = fmt.Errorf("%s: %w", parts[e.i].Name, ErrStoppedEarly)
		}
	}
	select {
	case <-ctx.Done():
	case e := <-exits:
		record(e, false)
	}
	var overran []error
	for i := range parts {
		cancels[i]()
		if done[i] {
			continue
		}
		timer := time.NewTimer(grace)
	wait:
		for !done[i] {
			select {
			case e := <-exits:
				record(e, true)
			case <-timer.C:
				overran = append(overran, fmt.Errorf("%s did not stop within %s", parts[i].Name, grace))
				break wait
			}
		}
		timer.Stop()
	}
	return errors.Join(append([]error{first}, overran...)...)
}
