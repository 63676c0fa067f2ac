package main

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCloseInOrderEnds: the daemon's closes run last first; one held up is named and left behind, and
// the ones before it in the list are still closed, so the daemon always ends.
func TestCloseInOrderEnds(t *testing.T) {
	var order []string
	stuck := make(chan struct{})
	defer close(stuck)
	note := func(name string, err error) closer {
		return closer{name, func() error { order = append(order, name); return err }}
	}
	err := closeInOrder([]closer{
		note("the state store", nil),
		{"the drivers", func() error { <-stuck; return nil }},
		note("the outbox", errors.New("outbox: disk gone")),
	}, 20*time.Millisecond)
	require.EqualError(t, err, "outbox: disk gone\nclosing the drivers did not finish within 20ms")
	require.Equal(t, []string{"the outbox", "the state store"}, order)
}
