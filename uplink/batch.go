package uplink

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
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
// The polls' twin-reported patches, with the gateway's writes that go with them (what was sent of each
// device), are kept here too (sink.CommitLater) and written in the same outbox write, each still its own
// message and in its own request, so a refusal of telemetry for room never touches them: a poll then
// never waits for a disk sync. Any other commit (sink.Commit) takes what is kept first, in the same
// transaction, so a device's messages reach the outbox in the order of their versions. A kept patch
// lost in a crash is lost with the write that recorded it as sent, and the gateway sends the twin in
// full after the restart; one whose write fails is reported to the gateway (failed), which does the
// same.
type batcher struct {
	u  *Uplink
	mu sync.Mutex
	// readings and kept commits wait for the next flush, oldest first.
	readings []protocol.Telemetry
	kept     []keptCommit
}

type keptCommit struct {
	ms     []outbox.Message
	write  func(w store.Writer) error
	failed func(error)
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

// keep holds a commit for the next flush.
func (b *batcher) keep(ms []outbox.Message, write func(w store.Writer) error, failed func(error)) {
	b.mu.Lock()
	b.kept = append(b.kept, keptCommit{ms: ms, write: write, failed: failed})
	b.mu.Unlock()
}

// takeKept returns the kept commits, each its own request in the order kept (none when there are
// none), and what settles them: it waits for each outcome and tells the commits that failed, so one bad
// write fails only its own commit (commitBatch tries a failed batch again request by request). b.mu
// must be held.
func (b *batcher) takeKept() ([]*putReq, func()) {
	kept := b.kept
	b.kept = nil
	reqs := make([]*putReq, len(kept))
	for i, k := range kept {
		reqs[i] = newPutReq(k.ms, k.write)
	}
	return reqs, func() {
		failed := 0
		var first error
		for i, r := range reqs {
			if err := <-r.done; err != nil {
				if failed == 0 {
					first = err
				}
				failed++
				kept[i].failed(err)
			}
		}
		if failed > 0 {
			b.u.log.Warn("could not keep polls' twin patches for the cloud; their devices go up in full later", "count", failed, "err", first)
		}
	}
}

// commit writes ms and write at once, after what is kept, in one group commit.
func (b *batcher) commit(ms []outbox.Message, write func(w store.Writer) error) error {
	own := newPutReq(ms, write)
	b.mu.Lock()
	kept, settle := b.takeKept()
	run := b.u.group.queue(b.u.opts.Outbox, append(kept, own)...)
	b.mu.Unlock()
	run()
	settle()
	return <-own.done
}

// flush writes what is gathered, readings in messages of at most maxBatchReadings, in one group commit.
func (b *batcher) flush() error {
	b.mu.Lock()
	rs := b.readings
	b.readings = nil
	b.mu.Unlock()
	var tms []outbox.Message
	for len(rs) > 0 {
		n := min(len(rs), maxBatchReadings)
		m, err := message(outbox.Telemetry, protocol.KindTelemetryBatch, "", "",
			protocol.TelemetryBatch{SchemaVersion: protocol.SchemaVersion, Readings: rs[:n]})
		if err != nil {
			return err
		}
		tms = append(tms, m)
		rs = rs[n:]
	}
	b.mu.Lock()
	reqs, settle := b.takeKept()
	var tel *putReq
	if len(tms) > 0 {
		tel = newPutReq(tms, nil)
		reqs = append(reqs, tel)
	}
	if len(reqs) == 0 {
		b.mu.Unlock()
		return nil
	}
	run := b.u.group.queue(b.u.opts.Outbox, reqs...)
	b.mu.Unlock()
	run()
	settle()
	if tel == nil {
		return nil
	}
	// Like one reading's telemetry (sink.Readings), a batch the outbox has no room for is dropped and
	// counted, not an error.
	if err := b.u.telemetryPut(<-tel.done, len(tms)); err != nil && !errors.Is(err, outbox.ErrFull) {
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
