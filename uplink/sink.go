package uplink

import (
	"errors"
	"time"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// Sink is the gateway.Sink of a daemon whose cloud link is configured: each call becomes one message
// in the outbox. Twins and their reported patches are state (a newer one replaces an unsent older
// one of the same device and kind), audit entries and events are control (never dropped), readings are
// telemetry (the first dropped when the outbox is full).
func (u *Uplink) Sink() gateway.Sink { return sink{u} }

type sink struct{ u *Uplink }

func (s sink) Twin(t gateway.Twin) error {
	return s.u.Publish(outbox.State, protocol.KindTwinFull, t.DeviceID, protocol.KindTwinFull,
		protocol.TwinFull{SchemaVersion: protocol.SchemaVersion, Twin: t})
}

func (s sink) Patch(p gateway.Patch) error {
	return s.u.Publish(outbox.State, protocol.KindTwinReported, p.DeviceID, protocol.KindTwinReported,
		protocol.TwinReported{SchemaVersion: protocol.SchemaVersion, DeviceID: p.DeviceID, Version: p.Version, Reported: p.Values})
}

// Readings that find the outbox full are dropped without an error: the uplink counts them and logs
// them, rate-limited (Config.DropLogEvery), rather than one line per poll.
func (s sink) Readings(id string, at time.Time, vals map[string]gateway.Value) error {
	err := s.u.Publish(outbox.Telemetry, protocol.KindTelemetry, id, "",
		protocol.Telemetry{SchemaVersion: protocol.SchemaVersion, DeviceID: id, Time: at.UTC(), Values: vals})
	if errors.Is(err, outbox.ErrFull) {
		return nil
	}
	return err
}

func (s sink) Audit(e gateway.AuditEntry) error {
	return s.u.Publish(outbox.Control, protocol.KindAudit, e.DeviceID, "", protocol.Audit{SchemaVersion: protocol.SchemaVersion, Entry: e})
}

func (s sink) Event(e gateway.Event) error {
	return s.u.Publish(outbox.Control, protocol.KindEvent, e.DeviceID, "", protocol.Event{SchemaVersion: protocol.SchemaVersion, Event: e})
}
