package uplink

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// Known failures of the tools users compare edgegw with, each a named test. The others are:
//   - a buffer that never recovers after the broker returns (ThingsBoard gateway #1483):
//     TestBufferRecoversAfterBrokerReturns (this package), TestLossBrokerRestarts;
//   - a reconnect that loses the down-link subscription (Azure IoT SDKs): TestReconnectKeepsDownlink;
//   - one bad device stalling every other (EdgeX device-modbus-go #666, Telegraf #3823):
//     TestOneBadDeviceStallsNoOther (cmd/edgegw, SNMP), TestOneBadModbusDeviceStallsNoOther
//     (drivers/modbus);
//   - Modbus connection exhaustion (#356): TestNoModbusConnectionExhaustion (drivers/modbus);
//   - SNMPv3 engine time drift (gosnmp #509): TestSNMPDv3PastEngineTimeWindow (drivers/snmp).
// docs/reliability.md has the table.

// TestNoLossFirstSecondsOffline (ThingsBoard gateway #2157: the first 10-20 s of data after the link
// is lost are gone, because messages handed to a connection that had silently died counted as sent).
// Messages are published every few milliseconds while the path to the broker goes dead without a
// reset: first for a second and back (the connection survives), then for good (the gateway finds out
// only when the idle timeout ends the connection, and reconnects). Every message arrives: none is
// deleted from the outbox before the broker accepted it.
func TestNoLossFirstSecondsOffline(t *testing.T) {
	b := rabbit(t)
	got := b.collect(t)
	rl := startRelay(t, strings.TrimPrefix(b.dial.URL, "amqps://"))
	db, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer db.Close()
	ob, err := outbox.Open(db, outbox.Options{Merge: MergeState})
	require.NoError(t, err)
	defer ob.Close()
	d := b.dial
	d.URL = rl.url()
	d.IdleTimeout = 3 * time.Second
	u, err := New(Config{Dial: d, GatewayID: "gw-test", UpAddress: b.up, DownAddress: b.down, Window: 32,
		ReconnectMax: time.Second, HealthInterval: time.Hour, Enabled: true}, Options{Outbox: ob})
	require.NoError(t, err)
	run(t, u)
	require.Eventually(t, func() bool { return u.Status().State == StateConnected }, 20*time.Second, 10*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	seq := 0
	produced := make(chan int, 1)
	// Whichever way the test ends, the producer stops, and before the outbox closes (this runs before
	// the deferred closes), so it cannot report to a test that has ended.
	defer func() {
		cancel()
		for range produced {
		}
	}()
	go func() {
		defer close(produced)
		for i := 0; ctx.Err() == nil; i++ {
			if err := u.Publish(outbox.Telemetry, protocol.KindTelemetry, "mac-02ed67000001", "", map[string]int{"schemaVersion": 1, "seq": i}); err != nil {
				t.Error(err)
				return
			}
			seq = i + 1
			time.Sleep(5 * time.Millisecond)
		}
		produced <- seq
	}()
	time.Sleep(time.Second)
	rl.hold() // a second without a path, then back
	time.Sleep(time.Second)
	rl.release()
	time.Sleep(time.Second)
	require.Zero(t, u.Status().Reconnects, "a short outage keeps the connection")
	rl.hold() // for good: found out only when the idle timeout runs out
	require.Eventually(t, func() bool { return u.Status().Reconnects > 0 && u.Status().State == StateConnected },
		20*time.Second, 20*time.Millisecond, "reconnected once the dead connection timed out")
	time.Sleep(time.Second)
	cancel()
	n := <-produced
	seqs := func() map[float64]bool {
		seen := map[float64]bool{}
		got.mu.Lock()
		defer got.mu.Unlock()
		for _, e := range got.all {
			var body struct{ Seq *float64 }
			if decodeJSON(e.Body, &body) == nil && body.Seq != nil {
				seen[*body.Seq] = true
			}
		}
		return seen
	}
	got.wait(t, func([]protocol.Envelope) bool { return len(seqs()) >= n }, 60*time.Second)
	seen := seqs()
	for i := range n {
		require.True(t, seen[float64(i)], "message %d of %d lost", i, n)
	}
	t.Logf("%d messages across a 1 s outage and a dead connection: all arrived (%d deliveries), reconnects %d", n, len(got.all), u.Status().Reconnects)
}

func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }
