package logring

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRingKeepsNewest(t *testing.T) {
	r := New(3, 1<<20)
	for i := range 5 {
		fmt.Fprintf(r, "line %d\n", i)
	}
	got, trunc := r.Since(time.Time{}, 0)
	require.Equal(t, []string{"line 2", "line 3", "line 4"}, got)
	require.False(t, trunc)
	got, trunc = r.Since(time.Time{}, 2)
	require.Equal(t, []string{"line 3", "line 4"}, got)
	require.True(t, trunc)
}

func TestRingBytesBound(t *testing.T) {
	r := New(100, 25)
	for i := range 10 {
		fmt.Fprintf(r, "%s %d\n", strings.Repeat("x", 8), i)
	}
	got, _ := r.Since(time.Time{}, 0)
	require.Equal(t, []string{"xxxxxxxx 8", "xxxxxxxx 9"}, got, "oldest lines go first when bytes run out")
	fmt.Fprintln(r, strings.Repeat("y", 100))
	got, _ = r.Since(time.Time{}, 0)
	require.Equal(t, []string{strings.Repeat("y", 25)}, got, "an over-long line is cut, not kept whole")
}

func TestRingSince(t *testing.T) {
	r := New(10, 1<<20)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	fmt.Fprintln(r, "old")
	now = now.Add(time.Hour)
	fmt.Fprintln(r, "new")
	got, _ := r.Since(now.Add(-time.Minute), 0)
	require.Equal(t, []string{"new"}, got)
}

func TestRingConcurrent(t *testing.T) {
	r := New(50, 1<<20)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				fmt.Fprintf(r, "g%d %d\n", g, i)
			}
		})
	}
	wg.Wait()
	got, _ := r.Since(time.Time{}, 0)
	require.Len(t, got, 50)
}
