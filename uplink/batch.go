package uplink

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// maxBatchReadings bounds one telemetry-batch message: a bigger gathering goes up as several.
const maxBatchReadings = 2000

// batcher gathers readings for Config.TelemetryBatch and writes them to the outbox as telemetry-batch
// messages: one outbox write and one AMQP transfer for hundreds of polls instead of one each. Telemetry
// is the class the outbox may drop when full, and a reading waits here at most one interval before it
// is on disk like any other message; a clean stop writes what is gathered (Run's last act).
//
// The polls' twin-reported patches wait with them and are written in the same outbox write, each
// still its own message: a poll then never waits for a disk sync. A patch waits in memory no longer
// than the twin it came from does before the gateway writes it to the state file (about a second).
type batcher struct {
	u  *Uplink
	mu sync.Mutex
	// readings and patches wait for the next flush, oldest first.
	readings []protocol.Telemetry
	patches  []outbox.Message
}

func (b *batcher) addPatch(m outbox.Message) {
	b.mu.Lock()
	b.patches = append(b.patches, m)
	b.mu.Unlock()
}

func (b *batcher) add(id string, at time.Time, vals map[string]gateway.Value) error {
	b.mu.Lock()
	b.readings = append(b.readings, protocol.Telemetry{SchemaVersion: protocol.SchemaVersion, DeviceID: id, Time: at.UTC(), Values: vals})
	full := len(b.readings) >= maxBatchReadings
	b.mu.Unlock()
	if full {
		return b.flush()
	}
	return nil
}

// flush writes what is gathered, in messages of at most maxBatchReadings, in one outbox write.
func (b *batcher) flush() error {
	b.mu.Lock()
	rs, msgs := b.readings, b.patches
	b.readings, b.patches = nil, nil
	b.mu.Unlock()
	if len(rs) == 0 && len(msgs) == 0 {
		return nil
	}
	for len(rs) > 0 {
		n := min(len(rs), maxBatchReadings)
		m, err := message(outbox.Telemetry, protocol.KindTelemetryBatch, "", "",
			protocol.TelemetryBatch{SchemaVersion: protocol.SchemaVersion, Readings: rs[:n]})
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		rs = rs[n:]
	}
	// Like one reading's telemetry (sink.Readings), a batch the outbox has no room for is dropped and
	// counted, not an error.
	if err := b.u.put(outbox.Telemetry, msgs); err != nil && !errors.Is(err, outbox.ErrFull) {
		return err
	}
	return nil
}

// run flushes every interval until ctx ends, then once more.
func (b *batcher) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			if err := b.flush(); err != nil {
				b.u.log.Warn("could not queue the last telemetry batch", "err", err)
			}
			return
		}
		if err := b.flush(); err != nil {
			b.u.log.Warn("could not queue a telemetry batch", "err", err)
		}
	}
}
