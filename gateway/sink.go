package gateway

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/edgegw/edgegw/gateway/store"
)

// Sink receives what leaves the site about claimed devices; the uplink is the one a daemon uses
// (uplink.Sink turns each call into a message). Nothing of an unclaimed, rejected or mismatched
// device is handed to it, except the audit entry of an unclaim. Calls must not block for long.
//
// Twin, Patch and Audit carry state the cloud must not miss: an error says it could not be kept for
// sending. Readings are telemetry, which may be dropped under pressure.
type Sink interface {
	// Twin is a device's whole twin: when it is claimed, first discovered as claimed, or its identity
	// changes (twin-full).
	Twin(Twin) error
	// Patch is one change of a twin's reported values (twin-reported).
	Patch(Patch) error
	// Readings are one successful poll's values (telemetry).
	Readings(deviceID string, at time.Time, values map[string]Value) error
	// Audit is one audit entry.
	Audit(AuditEntry) error
	// Event is one event a device reported on its own (events.go): a trap that a UPS went on battery.
	Event(Event) error
}

// SinkFuncs is a Sink from functions; a nil one ignores its call. Tests and small tools use it.
type SinkFuncs struct {
	OnTwin     func(Twin)
	OnPatch    func(Patch)
	OnReadings func(deviceID string, at time.Time, values map[string]Value)
	OnAudit    func(AuditEntry)
	OnEvent    func(Event)
}

func (f SinkFuncs) Twin(t Twin) error {
	if f.OnTwin != nil {
		f.OnTwin(t)
	}
	return nil
}

func (f SinkFuncs) Patch(p Patch) error {
	if f.OnPatch != nil {
		f.OnPatch(p)
	}
	return nil
}

func (f SinkFuncs) Readings(id string, at time.Time, vals map[string]Value) error {
	if f.OnReadings != nil {
		f.OnReadings(id, at, vals)
	}
	return nil
}

func (f SinkFuncs) Audit(e AuditEntry) error {
	if f.OnAudit != nil {
		f.OnAudit(e)
	}
	return nil
}

func (f SinkFuncs) Event(e Event) error {
	if f.OnEvent != nil {
		f.OnEvent(e)
	}
	return nil
}

// discard is the Sink of a gateway without one.
type discard struct{}

func (discard) Twin(Twin) error                                    { return nil }
func (discard) Patch(Patch) error                                  { return nil }
func (discard) Readings(string, time.Time, map[string]Value) error { return nil }
func (discard) Audit(AuditEntry) error                             { return nil }
func (discard) Event(Event) error                                  { return nil }

// LaterCommitter is a Committer that can keep a poll's patch a short while and commit it with others
// in one write (the uplink's telemetry batch), so that a poll does not wait for a disk sync. CommitLater
// returns at once, false when the Sink keeps nothing now (the caller commits as usual); failed is
// called if that later commit fails, nothing of it kept. A Commit in between commits what is kept
// first, so a device's messages still reach the outbox in the order of their versions.
type LaterCommitter interface {
	Committer
	CommitLater(out Outgoing, write func(w store.Writer) error, failed func(error)) bool
}

// commitPatch commits a poll's patch of device id, later where the Sink can (LaterCommitter). The
// device's stripe is held (see deviceLocks). A patch not kept is sent in full later (catchUp).
func (g *Gateway) commitPatch(id string, p Patch) {
	out := Outgoing{Patches: []Patch{p}}
	lost := func(err error) {
		g.sent.markResync(id) // its state may be missing on the cloud side: sent in full later
		g.log.Debug("could not keep a patch for the cloud", "device", id, "err", err)
	}
	if lc, ok := g.opts.Sink.(LaterCommitter); ok && g.sinks {
		marks := g.sent.marks(out)
		if lc.CommitLater(out, withMarks(nil, marks), lost) {
			g.sent.note(marks)
			return
		}
	}
	if err := g.commit(out, nil); err != nil {
		lost(err)
	}
}

// sendTwin, sendPatch and sendAudit hand state to the sink and log what it could not keep.
func (g *Gateway) sendTwin(t Twin) {
	if err := g.opts.Sink.Twin(t); err != nil {
		g.log.Warn("could not queue a message for the cloud", "kind", "twin-full", "device", t.DeviceID, "err", err)
	}
}

func (g *Gateway) sendPatch(p Patch) {
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		g.log.Debug("reported", "device", p.DeviceID, "version", p.Version, "changed", formatValues(p.Values))
	}
	if err := g.opts.Sink.Patch(p); err != nil {
		g.log.Warn("could not queue a message for the cloud", "kind", "twin-reported", "device", p.DeviceID, "err", err)
	}
}

func (g *Gateway) sendAudit(e AuditEntry) {
	if err := g.opts.Sink.Audit(e); err != nil {
		g.log.Warn("could not queue a message for the cloud", "kind", "audit", "device", e.DeviceID, "err", err)
	}
}

func (g *Gateway) sendReadings(id string, at time.Time, vals map[string]Value) {
	if err := g.opts.Sink.Readings(id, at, vals); err != nil {
		g.log.Warn("could not queue a message for the cloud", "kind", "telemetry", "device", id, "err", err)
	}
}

// formatValues renders changed values as "a=1 b=on", sorted, for the log.
func formatValues(vals map[string]Value) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + vals[k].String())
	}
	return b.String()
}
