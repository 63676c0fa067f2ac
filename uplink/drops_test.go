package uplink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// lockedBuffer is a log destination safe for the uplink's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.b.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestTelemetryDropsLogged: telemetry the outbox drops (or refuses) for lack of room is logged, not
// only counted: at once the first time, then at most one line per interval with the counts since the
// line before, so the lines add up to the outbox's counters and a flood of polls is not a flood of
// log lines. It used to be counted in health and nowhere else.
func TestTelemetryDropsLogged(t *testing.T) {
	db, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer db.Close()
	ob, err := outbox.Open(db, outbox.Options{MaxBytes: 32 << 10})
	require.NoError(t, err)
	defer ob.Close()
	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	u, err := New(Config{GatewayID: "gw-test", UpAddress: "/queue/up", DownAddress: "/queue/down", HealthInterval: time.Hour,
		DropLogEvery: 300 * time.Millisecond, Enabled: false}, Options{Outbox: ob, Logger: log})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Run(ctx) }()

	pad := strings.Repeat("x", 500)
	start := time.Now()
	for i := 0; time.Since(start) < 1500*time.Millisecond; i++ { // ~1.5 s of polls into a full outbox
		err := u.Publish(outbox.Telemetry, protocol.KindTelemetry, "mac-02ed67000001", "", map[string]any{"schemaVersion": 1, "i": i, "pad": pad})
		if err != nil {
			require.ErrorIs(t, err, outbox.ErrFull)
		}
		time.Sleep(2 * time.Millisecond)
	}
	st := ob.Stats()
	require.Positive(t, st.Dropped, "the outbox dropped telemetry")
	require.Eventually(t, func() bool { // the counts of the last interval are logged without a new drop
		var sum float64
		for _, l := range logs.lines("outbox full: telemetry dropped") {
			sum += l["dropped"].(float64) + l["refused"].(float64)
		}
		return sum == float64(st.Dropped+st.Rejected)
	}, 3*time.Second, 50*time.Millisecond, "the logged counts add up to the outbox's")
	lines := logs.lines("outbox full: telemetry dropped")
	require.GreaterOrEqual(t, len(lines), 2)
	require.LessOrEqual(t, len(lines), 8, "rate-limited: about one line per 300 ms, not one per message")
	require.Equal(t, "WARN", lines[0]["level"])
	require.Contains(t, lines[0], "outbox_max_bytes")
	cancel()
	require.NoError(t, <-done)
}
