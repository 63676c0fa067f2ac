// Package clock is the wall clock edgegw's core reads: time.Now, moved by an offset that only tests
// set. A soak test steps the clock forward and back under a running daemon without touching the
// machine's clock: EDGEGW_TEST_CLOCK_OFFSET_FILE names a file holding a Go duration ("90m", "-2h",
// "0s"), read again at most once a second. Unset — always, outside tests — Now is time.Now.
//
// The offset moves the wall clock only as a step of the machine's clock would be seen by edgegw: in the
// timestamps it writes (twins, audit entries, messages) and in comparisons with stored ones (retention,
// claim expiry). Timers and timeouts run on Go's monotonic clock and are not moved.
package clock

import (
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EnvOffsetFile is the environment variable naming the offset file. For tests only.
const EnvOffsetFile = "EDGEGW_TEST_CLOCK_OFFSET_FILE"

var (
	path = os.Getenv(EnvOffsetFile)

	mu       sync.Mutex
	readAt   time.Time
	offsetNS atomic.Int64
)

// Now is time.Now, plus the test offset when EDGEGW_TEST_CLOCK_OFFSET_FILE is set.
func Now() time.Time {
	now := time.Now()
	if path == "" {
		return now
	}
	return now.Add(offset(now))
}

// offset returns the offset in the file, reading it again when a second has passed.
func offset(now time.Time) time.Duration {
	mu.Lock()
	defer mu.Unlock()
	if now.Sub(readAt) >= time.Second {
		readAt = now
		if b, err := os.ReadFile(path); err == nil {
			if d, err := time.ParseDuration(strings.TrimSpace(string(b))); err == nil {
				offsetNS.Store(int64(d))
			}
		}
	}
	return time.Duration(offsetNS.Load())
}
