package outbox

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func benchBody() []byte {
	b := []byte(`{"schemaVersion":1,"pad":"`)
	for len(b) < 1024-2 {
		b = append(b, 'x')
	}
	return append(b, '"', '}')
}

func benchBatch(body []byte, base, n int) []Message {
	ms := make([]Message, n)
	for i := range ms {
		ms[i] = Message{ID: "msg-" + strconv.Itoa(base+i), Class: State, Kind: "twin-reported",
			DeviceID: "mac-" + strconv.Itoa((base+i)%100), Body: body}
	}
	return ms
}

// BenchmarkPutNextAck: 1 KiB messages through the outbox in batches of 64,
// one goroutine: PutBatch(64), 64 × Next, AckBatch(64). Two synced commits
// per 64 messages.
func BenchmarkPutNextAck(b *testing.B) {
	db, _ := openDB(b)
	o := openOB(b, db, Options{})
	body := benchBody()
	ctx := context.Background()
	const batch = 64
	ids := make([]string, 0, batch)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		require.NoError(b, o.PutBatch(benchBatch(body, done, n)))
		ids = ids[:0]
		for range n {
			m, err := o.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		require.NoError(b, o.AckBatch(ids))
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkPutNextAckPipelined: a producer puts batches of 64 while the
// sender takes with Next and acks in batches of 64, concurrently — the
// shape of the real uplink.
func BenchmarkPutNextAckPipelined(b *testing.B) {
	db, _ := openDB(b)
	o := openOB(b, db, Options{})
	body := benchBody()
	ctx := context.Background()
	const batch = 64
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		for done := 0; done < b.N; done += batch {
			if err := o.PutBatch(benchBatch(body, done, min(batch, b.N-done))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	ids := make([]string, 0, batch)
	for got := 0; got < b.N; {
		m, err := o.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		got++
		ids = append(ids, m.ID)
		if len(ids) == batch || got == b.N {
			require.NoError(b, o.AckBatch(ids))
			ids = ids[:0]
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkDeepQueue: PutBatch(64) + 64 × Next + AckBatch(64) with 100k
// messages already pending behind: it must cost about what it costs on an
// empty queue (the index is a heap; Put appends, Next takes the head).
func BenchmarkDeepQueue(b *testing.B) {
	for _, depth := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("pending=%d", depth), func(b *testing.B) {
			db, _ := openDB(b)
			o := openOB(b, db, Options{})
			body := benchBody()[:256]
			for i := 0; i < depth; i += 1000 {
				require.NoError(b, o.PutBatch(benchBatch(body, 1_000_000_000+i, 1000)))
			}
			ctx := context.Background()
			const batch = 64
			ids := make([]string, 0, batch)
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				n := min(batch, b.N-done)
				require.NoError(b, o.PutBatch(benchBatch(body, done, n)))
				ids = ids[:0]
				for range n {
					m, err := o.Next(ctx)
					if err != nil {
						b.Fatal(err)
					}
					ids = append(ids, m.ID)
				}
				require.NoError(b, o.AckBatch(ids))
			}
			b.StopTimer()
			require.Equal(b, depth, o.Stats().Pending)
		})
	}
}
