package uplink

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/smallfs"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// TestUplinkOnFullDisk runs the uplink over a state store on a tmpfs that fills up: commands still get
// their one reply (sent straight when the outbox cannot take it, the command accepted only after),
// messages already stored still go up, acks that cannot be written wait in memory instead of dropping
// the connection (which sent everything in flight again, once per attempt), and once there is room the
// outbox empties without a reconnect.
func TestUplinkOnFullDisk(t *testing.T) {
	fs := smallfs.Mount(t, 4<<20)
	b := rabbit(t)
	got := b.collect(t)
	db, err := store.Open(filepath.Join(fs, "state"), nil)
	require.NoError(t, err)
	defer db.Close()
	ob, err := outbox.Open(db, outbox.Options{Merge: MergeState})
	require.NoError(t, err)
	defer ob.Close()
	u, err := New(Config{Dial: b.dial, GatewayID: "gw-test", UpAddress: b.up, DownAddress: b.down, Window: 8,
		HealthInterval: time.Hour, Enabled: false}, Options{Outbox: ob, Handler: fakeHandler{}})
	require.NoError(t, err)
	run(t, u)
	for i := range 200 { // stored before the disk fills, sent after
		require.NoError(t, u.Publish(outbox.Control, protocol.KindEvent, "", "", map[string]any{"schemaVersion": 1, "i": i}))
	}
	filler := smallfs.Fill(t, fs, "filler", 8<<20)
	err = u.Publish(outbox.Control, protocol.KindEvent, "", "", map[string]any{"schemaVersion": 1, "pad": string(make([]byte, 64<<10))})
	require.ErrorIs(t, err, store.ErrFull, "a never-dropped message the disk cannot take fails to its caller")

	u.SetEnabled(true)
	require.Eventually(t, func() bool { return u.Status().State == StateConnected }, 20*time.Second, 20*time.Millisecond)
	b.send(t, protocol.Envelope{Kind: protocol.KindTwinGet, GatewayID: "gw-test", MessageID: "cmd-full", Created: time.Now(),
		Body: []byte(`{"schemaVersion":1,"deviceId":"mac-aabbcc001122"}`)})
	all := got.wait(t, func(all []protocol.Envelope) bool {
		for _, e := range all {
			if e.CorrelationID == "cmd-full" {
				return true
			}
		}
		return false
	}, 30*time.Second)
	for _, e := range all {
		if e.CorrelationID == "cmd-full" {
			var r protocol.Result
			require.NoError(t, json.Unmarshal(e.Body, &r))
			require.True(t, r.OK, "answered, though the outbox could not keep the reply: %s", e.Body)
		}
	}
	got.wait(t, func([]protocol.Envelope) bool { return got.unique() >= 201 }, 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	// Acks delete, and bbolt may find the pages for that inside its file: they may go through or wait.
	t.Logf("on the full disk after the sends: outbox %+v, store %+v", ob.Stats(), db.Health())
	require.Zero(t, u.Status().Reconnects, "no reconnect for a full disk")

	require.NoError(t, os.Remove(filler))
	require.Eventually(t, func() bool { st := ob.Stats(); return st.Pending+st.InFlight == 0 }, 20*time.Second, 50*time.Millisecond,
		"the outbox empties once there is room: %+v", ob.Stats())
	require.Zero(t, u.Status().Reconnects)
	require.Equal(t, 1, countCorrelated(got, "cmd-full"), "one reply")

	// The same with every write refused (bbolt cannot reuse a page either), to see the two paths a
	// real full disk takes only sometimes: the reply sent straight, the acks waiting in memory.
	u.SetEnabled(false)
	require.Eventually(t, func() bool { return u.Status().State == StateDisabled }, 5*time.Second, 10*time.Millisecond)
	for i := range 50 {
		require.NoError(t, u.Publish(outbox.Control, protocol.KindEvent, "", "", map[string]any{"schemaVersion": 1, "j": i}))
	}
	before := got.unique()
	db.FailWrites(&os.PathError{Op: "write", Path: db.Path(), Err: syscall.ENOSPC})
	u.SetEnabled(true)
	got.wait(t, func([]protocol.Envelope) bool { return got.unique() >= before+50 }, 30*time.Second)
	b.send(t, protocol.Envelope{Kind: protocol.KindTwinGet, GatewayID: "gw-test", MessageID: "cmd-fault", Created: time.Now(),
		Body: []byte(`{"schemaVersion":1,"deviceId":"mac-aabbcc001122"}`)})
	got.wait(t, func([]protocol.Envelope) bool { return countCorrelated(got, "cmd-fault") == 1 }, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, 50, ob.Stats().InFlight, "acked by the broker, waiting to be written: not sent again")
	require.Zero(t, ob.Stats().Pending)
	require.Zero(t, u.Status().Reconnects)
	db.FailWrites(nil)
	require.Eventually(t, func() bool { st := ob.Stats(); return st.Pending+st.InFlight == 0 }, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, 1, countCorrelated(got, "cmd-fault"), "one reply, and the command not delivered again")
	require.Zero(t, u.Status().Reconnects)
	t.Logf("messages %d (unique %d), outbox %+v", len(got.all), got.unique(), ob.Stats())
}

func countCorrelated(c *collector, id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	seen := map[string]bool{}
	for _, e := range c.all {
		if e.CorrelationID == id && !seen[e.MessageID] {
			seen[e.MessageID] = true
			n++
		}
	}
	return n
}

// TestAcksRetryOnTheTickerOnly: once an ack write fails for the disk, later deliveries do not write
// again (each try is a write under the outbox's lock that the puts wait for); the ticker tries again,
// at growing intervals, and a write that goes through starts over.
func TestAcksRetryOnTheTickerOnly(t *testing.T) {
	writes, fail := 0, true
	var written []string
	a := acks{write: func(ids []string) error {
		writes++
		if fail {
			return fmt.Errorf("outbox: %w", store.ErrFull)
		}
		written = append(written, ids...)
		return nil
	}}
	for i := range 3 * ackBatch {
		require.NoError(t, a.add(fmt.Sprint(i)))
	}
	require.Equal(t, 1, writes, "a full batch is written once; after it failed, deliveries do not write again")
	require.Len(t, a.ids, 3*ackBatch, "kept for a later try")

	now := time.Now().Add(time.Hour) // past any wait
	require.NoError(t, a.tick(now))
	require.Equal(t, 2, writes, "the ticker tries again")
	require.NoError(t, a.tick(now.Add(2*ackEvery-time.Millisecond)))
	require.Equal(t, 2, writes, "after a second failure the wait has doubled")
	now = now.Add(2 * ackEvery)
	require.NoError(t, a.tick(now))
	require.Equal(t, 3, writes)

	fail = false
	require.NoError(t, a.tick(now.Add(4*ackEvery)))
	require.Equal(t, 4, writes)
	require.Len(t, written, 3*ackBatch)
	require.Empty(t, a.ids)
	for i := range ackBatch {
		require.NoError(t, a.add(fmt.Sprint(i)))
	}
	require.Equal(t, 5, writes, "after a write that went through, a full batch is written at once again")

	// Any other error is the caller's.
	a.write = func([]string) error { return errors.New("boom") }
	require.NoError(t, a.add("x"))
	require.EqualError(t, a.tick(now.Add(time.Hour)), "boom")
}
