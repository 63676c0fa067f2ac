package supervise

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recorder notes the order parts stopped in.
type recorder struct {
	mu    sync.Mutex
	order []string
}

func (r *recorder) part(name string, stopTook time.Duration) Part {
	return Part{Name: name, Run: func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(stopTook)
		r.mu.Lock()
		r.order = append(r.order, name)
		r.mu.Unlock()
		return nil
	}}
}

func TestStopsInOrderOnCancel(t *testing.T) {
	var r recorder
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The first part is slow to stop: the second must still wait for it.
	err := Run(ctx, time.Second, r.part("intake", 20*time.Millisecond), r.part("work", 0), r.part("out", 0))
	require.NoError(t, err)
	require.Equal(t, []string{"intake", "work", "out"}, r.order)
}

func TestFirstFailureStopsTheRest(t *testing.T) {
	var r recorder
	boom := errors.New("disk on fire")
	err := Run(context.Background(), time.Second,
		r.part("admin", 0),
		Part{Name: "store", Run: func(context.Context) error { return boom }},
		r.part("uplink", 0))
	require.ErrorIs(t, err, boom)
	require.EqualError(t, err, "store: disk on fire")
	require.Equal(t, []string{"admin", "uplink"}, r.order)
}

func TestReturningEarlyIsAFailure(t *testing.T) {
	var r recorder
	err := Run(context.Background(), time.Second,
		Part{Name: "discovery", Run: func(context.Context) error { return nil }},
		r.part("uplink", 0))
	require.ErrorIs(t, err, ErrStoppedEarly)
	require.ErrorContains(t, err, "discovery")
	require.Equal(t, []string{"uplink"}, r.order)
}

func TestAStuckPartIsNamedAndTheRestStillStop(t *testing.T) {
	var r recorder
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, 10*time.Millisecond,
		Part{Name: "polls", Run: func(context.Context) error { <-release; return nil }},
		r.part("uplink", 0))
	require.EqualError(t, err, "polls did not stop within 10ms")
	require.Equal(t, []string{"uplink"}, r.order)
}

func TestAFailureWhileStoppingIsReported(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, time.Second,
		Part{Name: "gateway", Run: func(ctx context.Context) error { <-ctx.Done(); return errors.New("final flush: no space") }},
		Part{Name: "uplink", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }})
	require.EqualError(t, err, "gateway: final flush: no space")
}
