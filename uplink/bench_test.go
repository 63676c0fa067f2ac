package uplink

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// patch1K is a twin-reported body of about 1 KiB.
func patch1K(i int) protocol.TwinReported {
	vals := map[string]gateway.Value{}
	for k := range 24 {
		vals[fmt.Sprintf("outletCurrentAmps[%d]", k)] = gateway.Number(float64(i%1000) + float64(k)/100)
	}
	return protocol.TwinReported{SchemaVersion: 1, DeviceID: fmt.Sprintf("mac-02ed67%06x", i%4096), Version: int64(i),
		Reported: vals}
}

// drain consumes a queue so the broker is not slowed by a growing backlog.
func drain(b *testing.B, br *broker, addr string) func() {
	ctx, cancel := context.WithCancel(context.Background())
	r, err := br.sess.NewReceiver(ctx, addr, &amqp.ReceiverOptions{Credit: -1, SourceDurability: amqp.DurabilityUnsettledState})
	if err != nil {
		b.Fatal(err)
	}
	r.IssueCredit(1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.Receive(ctx, nil)
			if err != nil {
				return
			}
			r.AcceptMessage(ctx, m)
			r.IssueCredit(1)
		}
	}()
	return func() { cancel(); <-done }
}

// BenchmarkUplinkRabbitMQ compares messages/s of 1 KiB twin patches through the gateway's uplink
// (outbox on disk included, 64 producers as the default 64 poll workers would be) with a bare go-amqp
// sender that keeps the
// same window of unsettled deliveries, against the same RabbitMQ in the same run.
//
//	go test -run '^$' -bench BenchmarkUplinkRabbitMQ -benchtime 20000x ./uplink/
func BenchmarkUplinkRabbitMQ(b *testing.B) {
	const window = 64
	br := rabbit(b)
	body, _ := jsonMarshal(patch1K(1))
	b.Logf("body %d bytes", len(body))

	b.Run("bare-go-amqp", func(b *testing.B) {
		q := "/queue/bench-bare-" + NewMessageID()[:8]
		defer drain(b, br, q)()
		ctx := context.Background()
		s, err := br.sess.NewSender(ctx, q, &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeUnsettled.Ptr(), TargetDurability: amqp.DurabilityUnsettledState})
		if err != nil {
			b.Fatal(err)
		}
		receipts := make(chan amqp.SendReceipt, window)
		var wg sync.WaitGroup
		wg.Go(func() {
			for r := range receipts {
				if _, err := r.Wait(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.SetBytes(int64(len(body)))
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			m, _ := jsonMarshal(patch1K(i))
			env := protocol.Envelope{Kind: protocol.KindTwinReported, GatewayID: "bench", DeviceID: "mac-000000000001",
				MessageID: NewMessageID(), Created: time.Now(), Body: m}
			r, err := s.SendWithReceipt(ctx, env.AMQP(), nil)
			if err != nil {
				b.Fatal(err)
			}
			receipts <- r
		}
		close(receipts)
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	})

	b.Run("edgegw-uplink", func(b *testing.B) {
		q := "/queue/bench-up-" + NewMessageID()[:8]
		defer drain(b, br, q)()
		db, err := store.Open(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		ob, err := outbox.Open(db, outbox.Options{Merge: MergeState})
		if err != nil {
			b.Fatal(err)
		}
		defer ob.Close()
		u, err := New(Config{Dial: br.dial, GatewayID: "bench", UpAddress: q, DownAddress: br.down, Window: window,
			HealthInterval: time.Hour, Enabled: true}, Options{Outbox: ob})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { u.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		for u.Status().State != StateConnected {
			time.Sleep(10 * time.Millisecond)
		}
		base := ob.Stats().Acked
		b.SetBytes(int64(len(body)))
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		const producers = 64 // polling.concurrency's default
		for p := range producers {
			wg.Go(func() {
				for i := p; i < b.N; i += producers {
					// A distinct coalesce key per message: every patch is measured, none merged away.
					if err := u.Publish(outbox.State, protocol.KindTwinReported, fmt.Sprintf("mac-%012x", i), protocol.KindTwinReported, patch1K(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		for st := ob.Stats(); st.Acked < base+uint64(b.N) || st.Pending+st.InFlight > 0; st = ob.Stats() {
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	})
}

func jsonMarshal(v any) ([]byte, error) {
	var sb strings.Builder
	enc := jsonEncoder(&sb)
	err := enc.Encode(v)
	return []byte(strings.TrimSpace(sb.String())), err
}

func jsonEncoder(w *strings.Builder) *json.Encoder { return json.NewEncoder(w) }
