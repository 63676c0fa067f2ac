package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// relay is a TCP pass-through between the uplink and the broker that a test can cut, as a broker
// restart or a network failure would (TLS runs end to end through it), or hold: bytes stop flowing both
// ways, as when a network path dies without a reset (a pulled cable, a NAT that forgot the flow), and
// flow again on release. Connections made while others are held flow.
type relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	gates  []*gate
}

// gate is one connection through the relay, both ways.
type gate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	held   bool
	closed bool
	conns  [2]net.Conn
}

func startRelay(t *testing.T, target string) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &relay{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			g := &gate{conns: [2]net.Conn{c, b}}
			g.cond = sync.NewCond(&g.mu)
			r.mu.Lock()
			r.gates = append(r.gates, g)
			r.mu.Unlock()
			go g.pipe(b, c)
			go g.pipe(c, b)
		}
	}()
	t.Cleanup(func() { ln.Close(); r.cut() })
	return r
}

// pipe copies src to dst, waiting while the gate is held; either side's end closes both.
func (g *gate) pipe(dst, src net.Conn) {
	defer g.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		g.mu.Lock()
		for g.held && !g.closed {
			g.cond.Wait()
		}
		closed := g.closed
		g.mu.Unlock()
		if closed {
			return
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.cond.Broadcast()
	g.mu.Unlock()
	g.conns[0].Close()
	g.conns[1].Close()
}

// live returns the gates still open, forgetting the closed ones.
func (r *relay) live() []*gate {
	r.mu.Lock()
	defer r.mu.Unlock()
	var open []*gate
	for _, g := range r.gates {
		g.mu.Lock()
		if !g.closed {
			open = append(open, g)
		}
		g.mu.Unlock()
	}
	r.gates = open
	return append([]*gate(nil), open...)
}

// cut closes every connection through the relay.
func (r *relay) cut() {
	for _, g := range r.live() {
		g.close()
	}
}

// hold stops the bytes of every connection open now; release lets them flow again.
func (r *relay) hold() {
	for _, g := range r.live() {
		g.mu.Lock()
		g.held = true
		g.mu.Unlock()
	}
}

func (r *relay) release() {
	for _, g := range r.live() {
		g.mu.Lock()
		g.held = false
		g.cond.Broadcast()
		g.mu.Unlock()
	}
}

// open is how many connections are open through the relay.
func (r *relay) open() int { return len(r.live()) }

func (r *relay) url() string { return "amqps://" + r.ln.Addr().String() }

// broker is the test's view of RabbitMQ: the gateway's queues and a connection to read and write them.
type broker struct {
	dial     DialConfig
	up, down string
	conn     *amqp.Conn
	sess     *amqp.Session
}

func rabbit(t testing.TB) *broker {
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	b := &broker{
		dial: DialConfig{URL: v[0], CAFile: v[1], CertFile: v[2], KeyFile: v[3], SASL: SASLExternal},
		up:   fmt.Sprintf("/queue/test-up-%s", NewMessageID()[:12]),
		down: fmt.Sprintf("/queue/test-down-%s", NewMessageID()[:12]),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	b.conn, err = Dial(ctx, b.dial)
	require.NoError(t, err)
	t.Cleanup(func() { b.conn.Close() })
	b.sess, err = b.conn.NewSession(ctx, nil)
	require.NoError(t, err)
	return b
}

// collect reads the up queue in the background: every envelope, by message id.
type collector struct {
	mu   sync.Mutex
	seen map[string]int
	all  []protocol.Envelope
}

func (b *broker) collect(t *testing.T) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	in, err := OpenInbox(ctx, b.sess, b.up, 500)
	require.NoError(t, err)
	c := &collector{seen: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := in.Receive(ctx)
			if err != nil {
				return
			}
			in.Accept(ctx, m)
			e, err := protocol.FromAMQP(m)
			if err != nil {
				continue
			}
			c.mu.Lock()
			c.seen[e.MessageID]++
			c.all = append(c.all, e)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func (c *collector) wait(t *testing.T, cond func(all []protocol.Envelope) bool, within time.Duration) []protocol.Envelope {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c.mu.Lock()
		all := append([]protocol.Envelope(nil), c.all...)
		c.mu.Unlock()
		if cond(all) {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s (%d messages seen)", within, len(all))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *collector) unique() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// send puts a command on the gateway's down queue.
func (b *broker) send(t *testing.T, e protocol.Envelope) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.sess.NewSender(ctx, b.down, &amqp.SenderOptions{TargetDurability: amqp.DurabilityUnsettledState})
	require.NoError(t, err)
	require.NoError(t, s.Send(ctx, e.AMQP(), nil))
}

type fakeHandler struct{}

func (fakeHandler) HandleCommand(ctx context.Context, c gateway.Command) (any, error) {
	if g, ok := c.(gateway.TwinGetCommand); ok {
		if g.DeviceID == "mac-aabbcc001122" {
			return map[string]string{"deviceId": g.DeviceID}, nil
		}
		return nil, fmt.Errorf("%w: %s", gateway.ErrNoDevice, g.DeviceID)
	}
	return nil, fmt.Errorf("%s: %w", c.Kind(), gateway.ErrNotSupported)
}

func newUplink(t *testing.T, b *broker, url string) (*Uplink, *outbox.Outbox) {
	db, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ob, err := outbox.Open(db, outbox.Options{Merge: MergeState})
	require.NoError(t, err)
	t.Cleanup(func() { ob.Close() })
	d := b.dial
	d.URL = url
	u, err := New(Config{Dial: d, GatewayID: "gw-test", UpAddress: b.up, DownAddress: b.down, Window: 32,
		ReconnectMax: 2 * time.Second, HealthInterval: time.Hour, Enabled: true},
		Options{Outbox: ob, Handler: fakeHandler{}})
	require.NoError(t, err)
	return u, ob
}

func run(t *testing.T, u *Uplink) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("uplink did not stop")
		}
	})
}

// TestUplinkRabbitMQ: twin patches and telemetry of 100 devices arrive with their properties; commands
// get exactly one reply each, bad ones an error reply, and the receiver keeps going.
func TestUplinkRabbitMQ(t *testing.T) {
	b := rabbit(t)
	got := b.collect(t)
	u, _ := newUplink(t, b, b.dial.URL)
	run(t, u)
	for i := range 100 {
		dev := fmt.Sprintf("mac-02ed67%06x", i)
		require.NoError(t, u.Publish(outbox.State, protocol.KindTwinReported, dev, protocol.KindTwinReported,
			protocol.TwinReported{SchemaVersion: 1, DeviceID: dev, Version: 1, Reported: map[string]gateway.Value{"uptimeSeconds": gateway.Number(float64(i))}}))
		require.NoError(t, u.Publish(outbox.Telemetry, protocol.KindTelemetry, dev, "",
			protocol.Telemetry{SchemaVersion: 1, DeviceID: dev, Time: time.Now().UTC(), Values: map[string]gateway.Value{"temperatureCelsius": gateway.Number(21.5)}}))
	}
	all := got.wait(t, func(all []protocol.Envelope) bool { return len(all) >= 201 }, 30*time.Second)
	devices := map[string]bool{}
	for _, e := range all {
		require.Equal(t, "gw-test", e.GatewayID)
		require.NotEmpty(t, e.MessageID)
		require.False(t, e.Created.IsZero())
		if e.Kind == protocol.KindHealth { // one at start
			continue
		}
		require.Contains(t, []string{protocol.KindTwinReported, protocol.KindTelemetry}, e.Kind)
		devices[e.DeviceID] = true
		var body map[string]any
		require.NoError(t, json.Unmarshal(e.Body, &body))
		require.EqualValues(t, 1, body["schemaVersion"])
	}
	require.Len(t, devices, 100)
	require.Equal(t, 201, got.unique(), "200 and the health message, each once")

	// Commands: good, unknown device, unknown kind, malformed; each answered once, in order.
	cmds := []protocol.Envelope{
		{Kind: protocol.KindTwinGet, GatewayID: "gw-test", MessageID: "c1", Body: []byte(`{"schemaVersion":1,"deviceId":"mac-aabbcc001122"}`)},
		{Kind: protocol.KindTwinGet, GatewayID: "gw-test", MessageID: "c2", Body: []byte(`{"schemaVersion":1,"deviceId":"mac-000000000009"}`)},
		{Kind: "format-disk", GatewayID: "gw-test", MessageID: "c3", Body: []byte(`{"schemaVersion":1}`)},
		{Kind: protocol.KindClaim, GatewayID: "gw-test", MessageID: "c4", Body: []byte(`{{{`)},
		{Kind: protocol.KindTwinGet, GatewayID: "another-gw", MessageID: "c5", Body: []byte(`{"schemaVersion":1,"deviceId":"mac-aabbcc001122"}`)},
	}
	for _, c := range cmds {
		c.Created = time.Now()
		b.send(t, c)
	}
	all = got.wait(t, func(all []protocol.Envelope) bool {
		n := 0
		for _, e := range all {
			if e.CorrelationID != "" {
				n++
			}
		}
		return n >= len(cmds)
	}, 30*time.Second)
	replies := map[string]protocol.Result{}
	kinds := map[string]string{}
	for _, e := range all {
		if e.CorrelationID == "" {
			continue
		}
		var r protocol.Result
		require.NoError(t, json.Unmarshal(e.Body, &r))
		_, dup := replies[e.CorrelationID]
		require.False(t, dup, "one reply per command")
		replies[e.CorrelationID] = r
		kinds[e.CorrelationID] = e.Kind
	}
	require.True(t, replies["c1"].OK)
	require.Equal(t, "twin-get-result", kinds["c1"])
	require.JSONEq(t, `{"deviceId":"mac-aabbcc001122"}`, string(replies["c1"].Result))
	require.Contains(t, replies["c2"].Error, "no such device")
	require.Contains(t, replies["c3"].Error, `unknown command kind "format-disk"`)
	require.Contains(t, replies["c4"].Error, "claim: body is not a JSON object")
	require.Contains(t, replies["c5"].Error, `for gateway "another-gw"`)
	require.Equal(t, StateConnected, u.Status().State)
	require.False(t, u.Status().Since.IsZero(), "when it connected")

	// The counts by kind that /metrics shows: every message sent and accepted (acks are written in
	// batches every 20 ms, so the last ones may trail).
	require.Eventually(t, func() bool {
		c := u.Counts()
		return c[protocol.KindTelemetry].Acked == 100 && c[protocol.KindTwinReported].Acked == 100 && c["twin-get-result"].Acked >= 2
	}, 10*time.Second, 20*time.Millisecond, "%+v", u.Counts())
	c := u.Counts()
	require.GreaterOrEqual(t, c[protocol.KindTelemetry].Sent, uint64(100))
	require.GreaterOrEqual(t, c[protocol.KindHealth].Sent, uint64(1))
	require.Zero(t, c[protocol.KindTelemetry].Rejected)
}

// TestReconnectKeepsDownlink (a reconnect that loses the down-link subscription, as the Azure IoT SDKs
// did: the link came back for sending only, and commands stopped arriving) streams messages while the
// connection is cut three times: every message arrives at least once, the receiver is attached again
// and commands flow after each cut. Formerly TestUplinkSurvivesCuts.
func TestReconnectKeepsDownlink(t *testing.T) {
	b := rabbit(t)
	got := b.collect(t)
	target := strings.TrimPrefix(b.dial.URL, "amqps://")
	rl := startRelay(t, target)
	u, ob := newUplink(t, b, rl.url())
	run(t, u)
	const n = 3000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if err := u.Publish(outbox.Telemetry, protocol.KindTelemetry, "mac-02ed67000001", "",
				map[string]int{"schemaVersion": 1, "i": i}); err != nil {
				t.Error(err)
				return
			}
			if i%100 == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	for cut := range 3 {
		got.wait(t, func(all []protocol.Envelope) bool { return len(all) > (cut+1)*n/5 }, 60*time.Second)
		rl.cut()
		// Commands flow again once the link is back.
		id := fmt.Sprintf("after-cut-%d", cut)
		b.send(t, protocol.Envelope{Kind: protocol.KindTwinGet, GatewayID: "gw-test", MessageID: id, Created: time.Now(),
			Body: []byte(`{"schemaVersion":1,"deviceId":"mac-aabbcc001122"}`)})
		got.wait(t, func(all []protocol.Envelope) bool {
			for _, e := range all {
				if e.CorrelationID == id {
					return true
				}
			}
			return false
		}, 60*time.Second)
	}
	<-done
	got.wait(t, func([]protocol.Envelope) bool { return got.unique() >= n+3+1 }, 60*time.Second) // + replies + health
	require.GreaterOrEqual(t, u.Status().Reconnects, 3)
	st := ob.Stats()
	require.Zero(t, st.Dropped)
	require.Eventually(t, func() bool { return ob.Stats().Pending == 0 && ob.Stats().InFlight == 0 }, 30*time.Second, 50*time.Millisecond)
	t.Logf("%d messages, %d unique, reconnects %d, outbox %+v", len(got.all), got.unique(), u.Status().Reconnects, ob.Stats())
}

// TestUplinkSwitch: disabling closes the connection within a second and keeps it closed while
// messages wait; enabling drains them.
func TestUplinkSwitch(t *testing.T) {
	b := rabbit(t)
	got := b.collect(t)
	rl := startRelay(t, strings.TrimPrefix(b.dial.URL, "amqps://"))
	u, ob := newUplink(t, b, rl.url())
	run(t, u)
	require.Eventually(t, func() bool { return u.Status().State == StateConnected }, 20*time.Second, 20*time.Millisecond)
	u.SetEnabled(false)
	require.Eventually(t, func() bool { return rl.open() == 0 }, time.Second, 10*time.Millisecond, "closed within a second")
	for i := range 50 {
		require.NoError(t, u.Publish(outbox.Control, protocol.KindEvent, "", "", map[string]int{"schemaVersion": 1, "i": i}))
	}
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, 0, rl.open(), "stays closed")
	require.GreaterOrEqual(t, ob.Stats().Pending, 50)
	u.SetEnabled(true)
	got.wait(t, func([]protocol.Envelope) bool { return got.unique() >= 51 }, 30*time.Second) // + health
}

// TestBufferRecoversAfterBrokerReturns (ThingsBoard gateway #1483: a buffer that filled while the
// broker was away never drained after it came back): while the uplink is off the outbox fills up; the
// oldest telemetry is dropped and counted, twin state is kept; once on, everything left drains without
// a restart. Formerly TestUplinkFullOutboxDrains.
func TestBufferRecoversAfterBrokerReturns(t *testing.T) {
	b := rabbit(t)
	got := b.collect(t)
	db, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer db.Close()
	ob, err := outbox.Open(db, outbox.Options{Merge: MergeState, MaxBytes: 256 << 10})
	require.NoError(t, err)
	defer ob.Close()
	u, err := New(Config{Dial: b.dial, GatewayID: "gw-test", UpAddress: b.up, DownAddress: b.down,
		HealthInterval: time.Hour, Enabled: false}, Options{Outbox: ob})
	require.NoError(t, err)
	run(t, u)
	pad := strings.Repeat("x", 1000)
	for i := range 1000 { // ~1 MiB of telemetry into a 256 KiB outbox
		require.NoError(t, u.Publish(outbox.Telemetry, protocol.KindTelemetry, "mac-02ed67000001", "", map[string]any{"schemaVersion": 1, "i": i, "pad": pad}))
	}
	for i := range 20 { // twin state for 20 devices: never dropped
		dev := fmt.Sprintf("mac-02ed670000%02x", i)
		require.NoError(t, u.Publish(outbox.State, protocol.KindTwinReported, dev, protocol.KindTwinReported,
			protocol.TwinReported{SchemaVersion: 1, DeviceID: dev, Version: 1, Reported: map[string]gateway.Value{"x": gateway.Number(1)}}))
	}
	st := ob.Stats()
	require.Positive(t, st.Dropped, "oldest telemetry dropped for room")
	require.LessOrEqual(t, st.Bytes, int64(256<<10)+20*2048)
	left := st.Pending
	u.SetEnabled(true)
	all := got.wait(t, func(all []protocol.Envelope) bool { return len(all) >= left }, 60*time.Second)
	states := 0
	for _, e := range all {
		if e.Kind == protocol.KindTwinReported {
			states++
		}
	}
	require.Equal(t, 20, states, "no twin state lost")
	require.Eventually(t, func() bool { return ob.Stats().Pending == 0 }, 10*time.Second, 20*time.Millisecond)
}

// TestTelemetryBatch: with cloud.telemetry_batch, polls of many devices become one telemetry-batch
// message in the outbox, each reading as a telemetry body; without it, one telemetry message each.
func TestTelemetryBatch(t *testing.T) {
	db, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer db.Close()
	ob, err := outbox.Open(db, outbox.Options{Merge: MergeState})
	require.NoError(t, err)
	defer ob.Close()
	u, err := New(Config{GatewayID: "gw", UpAddress: "/queue/u", DownAddress: "/queue/d", TelemetryBatch: time.Second},
		Options{Outbox: ob})
	require.NoError(t, err)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 2500 {
		require.NoError(t, u.Sink().Readings(fmt.Sprintf("mac-%012x", i), at, map[string]gateway.Value{"t": gateway.Number(float64(i))}))
	}
	require.Equal(t, 1, ob.Stats().Pending, "2,000 readings filled one batch, written at once")
	require.NoError(t, u.batch.flush())
	require.Equal(t, 2, ob.Stats().Pending, "the flush wrote the rest")
	var got []protocol.Telemetry
	for range 2 {
		m, err := ob.Next(context.Background())
		require.NoError(t, err)
		require.Equal(t, protocol.KindTelemetryBatch, m.Kind)
		var b protocol.TelemetryBatch
		require.NoError(t, json.Unmarshal(m.Body, &b))
		got = append(got, b.Readings...)
	}
	require.Len(t, got, 2500)

	// A poll's patch is kept for the next flush (with its write), then is its own twin-reported message.
	lc := u.Sink().(gateway.LaterCommitter)
	patch := func(v int64) gateway.Outgoing {
		return gateway.Outgoing{Patches: []gateway.Patch{{DeviceID: "mac-000000000001", Version: v, Values: map[string]gateway.Value{"t": gateway.Number(1)}}}}
	}
	wrote := 0
	write := func(w store.Writer) error { wrote++; return w.Put("test", "k", []byte("v")) }
	failed := func(err error) { t.Errorf("kept patch failed: %v", err) }
	require.True(t, lc.CommitLater(patch(7), write, failed))
	require.Equal(t, 0, ob.Stats().Pending)
	require.NoError(t, u.batch.flush())
	require.Equal(t, 1, wrote, "the kept write ran with the flush")
	m, err := ob.Next(context.Background())
	require.NoError(t, err)
	require.Equal(t, protocol.KindTwinReported, m.Kind)
	require.NoError(t, ob.Ack(m.ID))
	require.Equal(t, protocol.Telemetry{SchemaVersion: 1, DeviceID: "mac-0000000009c3", Time: at, Values: map[string]gateway.Value{"t": gateway.Number(2499)}}, got[2499])

	// A commit in between (a full twin at a newer version) takes the kept patch first: versions in order.
	require.True(t, lc.CommitLater(patch(8), nil, failed))
	require.NoError(t, lc.Commit(gateway.Outgoing{Twins: []gateway.Twin{{DeviceID: "mac-000000000001", Reported: gateway.Properties{Version: 9}}}}, nil))
	for _, want := range []string{protocol.KindTwinReported, protocol.KindTwinFull} {
		m, err := ob.Next(context.Background())
		require.NoError(t, err)
		require.Equal(t, want, m.Kind)
		require.NoError(t, ob.Ack(m.ID))
	}

	// A kept patch whose write fails is reported to the gateway; the telemetry with it still goes in.
	var lost error
	require.True(t, lc.CommitLater(patch(10), func(store.Writer) error { return errors.New("no room") }, func(err error) { lost = err }))
	require.NoError(t, u.Sink().Readings("mac-000000000002", at, map[string]gateway.Value{"t": gateway.Number(1)}))
	require.NoError(t, u.batch.flush())
	require.ErrorContains(t, lost, "no room")
	m, err = ob.Next(context.Background())
	require.NoError(t, err)
	require.Equal(t, protocol.KindTelemetryBatch, m.Kind)
	require.Equal(t, 0, ob.Stats().Pending, "nothing of the failed patch")
	require.NoError(t, ob.Ack(m.ID))

	// Several kept commits are settled each on its own: one bad write fails only its commit, and a
	// commit after them still comes after them.
	lostBy := map[string]error{}
	for _, id := range []string{"mac-000000000003", "mac-000000000004", "mac-000000000005"} {
		out := gateway.Outgoing{Patches: []gateway.Patch{{DeviceID: id, Version: 2, Values: map[string]gateway.Value{"t": gateway.Number(1)}}}}
		write := func(w store.Writer) error { return w.Put("test", id, []byte("v")) }
		if id == "mac-000000000004" {
			write = func(store.Writer) error { return errors.New("bad write") }
		}
		require.True(t, lc.CommitLater(out, write, func(err error) { lostBy[id] = err }))
	}
	require.NoError(t, lc.Commit(gateway.Outgoing{Twins: []gateway.Twin{{DeviceID: "mac-000000000005", Reported: gateway.Properties{Version: 3}}}}, nil))
	require.Len(t, lostBy, 1)
	require.ErrorContains(t, lostBy["mac-000000000004"], "bad write")
	var order []string
	for range 3 {
		m, err := ob.Next(context.Background())
		require.NoError(t, err)
		order = append(order, m.Kind+" "+m.DeviceID)
		require.NoError(t, ob.Ack(m.ID))
	}
	require.Equal(t, []string{"twin-reported mac-000000000003", "twin-reported mac-000000000005", "twin-full mac-000000000005"}, order)
	require.Zero(t, ob.Stats().Pending, "nothing of the failed commit")
	for id, want := range map[string]bool{"mac-000000000003": true, "mac-000000000004": false, "mac-000000000005": true} {
		_, err := db.Get("test", id)
		require.Equal(t, want, err == nil, "%s's write: %v", id, err)
		if err != nil {
			require.ErrorIs(t, err, store.ErrNotFound)
		}
	}

	// The Sink's single calls go through Commit too: after what is kept.
	require.True(t, lc.CommitLater(patch(11), nil, failed))
	require.NoError(t, u.Sink().Audit(gateway.AuditEntry{DeviceID: "mac-000000000001", Action: "test"}))
	for _, want := range []string{protocol.KindTwinReported, protocol.KindAudit} {
		m, err := ob.Next(context.Background())
		require.NoError(t, err)
		require.Equal(t, want, m.Kind)
		require.NoError(t, ob.Ack(m.ID))
	}
}
