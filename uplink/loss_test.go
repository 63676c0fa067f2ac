package uplink

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// The loss tests restart the shared RabbitMQ and kill processes, so they must not run while other
// packages' tests use the broker: scripts/test.sh runs them on their own after `go test ./...`, with
// EDGEGW_LOSS_TESTS=1. Bounded in count (20,000 messages) and time (a few minutes at most).
func lossTests(t *testing.T) {
	if os.Getenv("EDGEGW_LOSS_TESTS") != "1" {
		t.Skip("run by scripts/test.sh on its own (EDGEGW_LOSS_TESTS=1): it restarts the shared broker")
	}
}

// seqCollector reads the up queue across broker restarts and records every sequence number seen.
type seqCollector struct {
	mu   sync.Mutex
	seqs map[int]int // seq -> times seen
	ids  map[string]int
}

func (c *seqCollector) add(e protocol.Envelope) {
	var b struct {
		Seq *int `json:"seq"`
	}
	if json.Unmarshal(e.Body, &b) != nil || b.Seq == nil {
		return
	}
	c.mu.Lock()
	c.seqs[*b.Seq]++
	c.ids[e.MessageID]++
	c.mu.Unlock()
}

func (c *seqCollector) counts() (unique, dups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.ids {
		dups += n - 1
	}
	return len(c.seqs), dups
}

// collectAcrossRestarts keeps a receiver on queue, reconnecting whenever the broker goes away.
func collectAcrossRestarts(t *testing.T, dial DialConfig, queue string) (*seqCollector, func()) {
	c := &seqCollector{seqs: map[int]int{}, ids: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			func() {
				dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
				conn, err := Dial(dctx, dial)
				dcancel()
				if err != nil {
					time.Sleep(300 * time.Millisecond)
					return
				}
				defer conn.Close()
				sess, err := conn.NewSession(ctx, nil)
				if err != nil {
					return
				}
				in, err := OpenInbox(ctx, sess, queue, 200)
				if err != nil {
					return
				}
				for {
					m, err := in.Receive(ctx)
					if err != nil {
						return
					}
					e, _ := protocol.FromAMQP(m)
					c.add(e)
					if in.Accept(ctx, m) != nil {
						return
					}
				}
			}()
		}
	}()
	return c, func() { cancel(); <-done }
}

// TestLossBrokerRestarts streams 20,000 messages while RabbitMQ is stopped and started three times:
// every message arrives at least once.
func TestLossBrokerRestarts(t *testing.T) {
	lossTests(t)
	env := peers.Need(t, "PEERS_KIT", "PEERS_STATE")
	b := rabbit(t)
	got, stop := collectAcrossRestarts(t, b.dial, b.up)
	defer stop()
	u, ob := newUplink(t, b, b.dial.URL)
	run(t, u)
	const n = 20000
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range n {
			if err := u.Publish(outbox.Telemetry, protocol.KindTelemetry, "mac-02ed67000001", "", map[string]int{"schemaVersion": 1, "seq": i}); err != nil {
				t.Error(err)
				return
			}
			if i%200 == 0 {
				time.Sleep(100 * time.Millisecond) // spread over the restarts: ~10 s of production
			}
		}
	}()
	peersSh := func(verb string) { // scripts/peers/peers.sh of the kit that started the broker
		cmd := exec.Command(filepath.Join(env[0], "peers.sh"), verb, "rabbitmq")
		cmd.Env = append(os.Environ(), "PEERS_STATE="+env[1])
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "peers.sh %s rabbitmq: %s", verb, out)
	}
	for range 3 {
		time.Sleep(2 * time.Second)
		peersSh("stop")
		time.Sleep(time.Second)
		peersSh("start")
	}
	<-produced
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if u, _ := got.counts(); u >= n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	unique, dups := got.counts()
	t.Logf("broker restarts: %d of %d sequence numbers arrived, %d duplicates, reconnects %d, outbox %+v",
		unique, n, dups, u.Status().Reconnects, ob.Stats())
	require.Equal(t, n, unique, "every message at least once")
	require.GreaterOrEqual(t, u.Status().Reconnects, 3)
}

// TestLossGatewayKilled publishes from a child process that is SIGKILLed and restarted three times:
// every message whose Publish had returned before the kill arrives.
func TestLossGatewayKilled(t *testing.T) {
	if os.Getenv("EDGEGW_LOSS_CHILD") != "" {
		lossChild(t)
		return
	}
	lossTests(t)
	b := rabbit(t)
	got, stop := collectAcrossRestarts(t, b.dial, b.up)
	defer stop()
	stateDir := t.TempDir()
	const n = 20000
	confirmed := -1 // the highest seq whose Publish returned
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestLossGatewayKilled$", "-test.v")
		cmd.Env = append(os.Environ(), "EDGEGW_LOSS_CHILD=1", "LOSS_STATE="+stateDir, "LOSS_FROM="+strconv.Itoa(confirmed+1),
			"LOSS_TO="+strconv.Itoa(n), "LOSS_URL="+b.dial.URL, "LOSS_CA="+b.dial.CAFile, "LOSS_CERT="+b.dial.CertFile,
			"LOSS_KEY="+b.dial.KeyFile, "LOSS_UP="+b.up, "LOSS_DOWN="+b.down)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(out)
		killAt := confirmed + n/5
		killed := false
		for sc.Scan() {
			var seq int
			if _, err := fmt.Sscanf(sc.Text(), "published %d", &seq); err == nil {
				confirmed = seq
				if round < 3 && seq >= killAt && !killed {
					cmd.Process.Signal(syscall.SIGKILL) // as a crash would
					killed = true
				}
			}
		}
		cmd.Wait()
		t.Logf("round %d: confirmed up to %d (killed %v)", round, confirmed, killed)
	}
	require.Equal(t, n-1, confirmed, "the last child finished")
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if u, _ := got.counts(); u >= n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	unique, dups := got.counts()
	t.Logf("gateway kills: %d of %d sequence numbers arrived, %d duplicates", unique, n, dups)
	require.Equal(t, n, unique, "every confirmed message at least once")
}

// lossChild is the gateway side of TestLossGatewayKilled: it resumes the outbox in LOSS_STATE, publishes
// seq LOSS_FROM..LOSS_TO-1 printing "published N" after each Publish returns, and waits until the
// outbox is empty (unless killed first).
func lossChild(t *testing.T) {
	from, _ := strconv.Atoi(os.Getenv("LOSS_FROM"))
	to, _ := strconv.Atoi(os.Getenv("LOSS_TO"))
	db, err := store.Open(os.Getenv("LOSS_STATE"), nil)
	require.NoError(t, err)
	defer db.Close()
	ob, err := outbox.Open(db, outbox.Options{Merge: MergeState})
	require.NoError(t, err)
	defer ob.Close()
	u, err := New(Config{Dial: DialConfig{URL: os.Getenv("LOSS_URL"), CAFile: os.Getenv("LOSS_CA"), CertFile: os.Getenv("LOSS_CERT"),
		KeyFile: os.Getenv("LOSS_KEY")}, GatewayID: "gw-loss", UpAddress: os.Getenv("LOSS_UP"), DownAddress: os.Getenv("LOSS_DOWN"),
		HealthInterval: time.Hour, Enabled: true}, Options{Outbox: ob})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	w := bufio.NewWriter(os.Stdout)
	for i := from; i < to; i++ {
		require.NoError(t, u.Publish(outbox.Telemetry, protocol.KindTelemetry, "mac-02ed67000002", "", map[string]int{"schemaVersion": 1, "seq": i}))
		fmt.Fprintf(w, "published %d\n", i)
		if i%50 == 0 {
			w.Flush()
		}
	}
	w.Flush()
	for st := ob.Stats(); st.Pending+st.InFlight > 0; st = ob.Stats() {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}
