package uplink

import (
	"errors"
	"time"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// Sink is the gateway.Sink of a daemon whose cloud link is configured: each call becomes one message
// in the outbox. It is a gateway.Committer too: the outbox lives in the gateway's own state store, so
// a claim, its audit entry and its full twin are stored in one transaction, or none of them. Twins and
// their reported patches are state (a newer one replaces an unsent older one of the same device and
// kind), audit entries and events are control (never dropped), readings are
// telemetry (the first dropped when the outbox is full).
func (u *Uplink) Sink() gateway.Sink { return sink{u} }

type sink struct{ u *Uplink }

// Twin, Patch, Audit and Event go through Commit, so they too come after what the telemetry batch
// keeps. (The gateway uses Commit itself: a Committer's are for other callers.)
func (s sink) Twin(t gateway.Twin) error {
	return s.Commit(gateway.Outgoing{Twins: []gateway.Twin{t}}, nil)
}

func (s sink) Patch(p gateway.Patch) error {
	return s.Commit(gateway.Outgoing{Patches: []gateway.Patch{p}}, nil)
}

func (s sink) Audit(e gateway.AuditEntry) error {
	return s.Commit(gateway.Outgoing{Audits: []gateway.AuditEntry{e}}, nil)
}

func (s sink) Event(e gateway.Event) error {
	return s.Commit(gateway.Outgoing{Events: []gateway.Event{e}}, nil)
}

var _ gateway.Committer = sink{}

var _ gateway.LaterCommitter = sink{}

// Commit puts out's messages in the outbox and runs write in the same transaction, after what the
// telemetry batch keeps (CommitLater).
func (s sink) Commit(out gateway.Outgoing, write func(w store.Writer) error) error {
	ms, err := encodeOutgoing(out)
	if err != nil {
		return err
	}
	return s.u.batch.commit(ms, write)
}

// CommitLater keeps out for the telemetry batch's next write, when there is a batch
// (Config.TelemetryBatch): the polls' patches then share its disk sync instead of waiting each for one.
func (s sink) CommitLater(out gateway.Outgoing, write func(w store.Writer) error, failed func(error)) bool {
	if s.u.cfg.TelemetryBatch <= 0 {
		return false
	}
	ms, err := encodeOutgoing(out)
	if err != nil {
		failed(err)
		return true
	}
	s.u.batch.keep(ms, write, failed)
	return true
}

// encodeOutgoing makes out's messages: twins and patches are state, audit entries and events control.
func encodeOutgoing(out gateway.Outgoing) ([]outbox.Message, error) {
	var ms []outbox.Message
	add := func(class outbox.Class, kind, device, coalesce string, body any) error {
		m, err := message(class, kind, device, coalesce, body)
		if err != nil {
			return err
		}
		ms = append(ms, m)
		return nil
	}
	for _, t := range out.Twins {
		if err := add(outbox.State, protocol.KindTwinFull, t.DeviceID, protocol.KindTwinFull,
			protocol.TwinFull{SchemaVersion: protocol.SchemaVersion, Twin: t}); err != nil {
			return nil, err
		}
	}
	for _, p := range out.Patches {
		if err := add(outbox.State, protocol.KindTwinReported, p.DeviceID, protocol.KindTwinReported,
			protocol.TwinReported{SchemaVersion: protocol.SchemaVersion, DeviceID: p.DeviceID, Version: p.Version, Reported: p.Values}); err != nil {
			return nil, err
		}
	}
	for _, e := range out.Audits {
		if err := add(outbox.Control, protocol.KindAudit, e.DeviceID, "", protocol.Audit{SchemaVersion: protocol.SchemaVersion, Entry: e}); err != nil {
			return nil, err
		}
	}
	for _, e := range out.Events {
		if err := add(outbox.Control, protocol.KindEvent, e.DeviceID, "", protocol.Event{SchemaVersion: protocol.SchemaVersion, Event: e}); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// Readings that find the outbox full are dropped without an error: the uplink counts them and logs
// them, rate-limited (Config.DropLogEvery), rather than one line per poll.
func (s sink) Readings(id string, at time.Time, vals map[string]gateway.Value) error {
	if s.u.cfg.TelemetryBatch > 0 {
		return s.u.batch.add(id, at, vals)
	}
	err := s.u.Publish(outbox.Telemetry, protocol.KindTelemetry, id, "",
		protocol.Telemetry{SchemaVersion: protocol.SchemaVersion, DeviceID: id, Time: at.UTC(), Values: vals})
	if errors.Is(err, outbox.ErrFull) {
		return nil
	}
	return err
}
