package gateway

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/clock"
)

// bucketAudit holds the audit log: key = 8-byte big-endian unix nanoseconds + 4-byte sequence, so the
// store iterates in time order; value = JSON AuditEntry.
const bucketAudit = "audit"

// bucketAuditDevice indexes the audit log by device: key = device id, NUL, the entry's key in
// bucketAudit; empty value. A device's entries are found by a prefix seek instead of reading (and
// decrypting) the whole log: 0.46 s per device page at 150,000 entries before it. Entries without a
// device (a pending claim's) are not indexed. auditIndexed, a key no device id makes, says that every
// entry written before the index existed has been indexed (auditLog.index).
const (
	bucketAuditDevice = "audit.device"
	auditIndexed      = "\x00indexed"
)

func auditDeviceKey(deviceID, key string) string { return deviceID + "\x00" + key }

// AuditEntry is one thing that happened to a device that an operator may need to account for: claims,
// setting changes (old and new value), methods, group moves, online/offline, identity mismatches.
type AuditEntry struct {
	Time     time.Time `json:"time"`
	DeviceID string    `json:"deviceId,omitempty"`
	MAC      string    `json:"mac,omitempty"`
	Action   string    `json:"action"`
	Old      string    `json:"old,omitempty"`
	New      string    `json:"new,omitempty"`
	// By says who or what did it: "cli", "csv", "cloud", "discovery", "poll".
	By     string `json:"by,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// auditLog is the audit log in the store, oldest first, with its own lock for the key sequence.
type auditLog struct {
	st        Store
	retention time.Duration
	log       *slog.Logger

	mu  sync.Mutex
	seq uint32

	indexed bool // bucketAuditDevice holds every entry's device (set by index, before any use)
}

func newAuditLog(st Store, retention time.Duration, log *slog.Logger) *auditLog {
	return &auditLog{st: st, retention: retention, log: log}
}

// keys fills in the time of entries where it is zero and gives each its key.
func (a *auditLog) keys(es []AuditEntry) []string {
	now := clock.Now().UTC()
	keys := make([]string, len(es))
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range es {
		if es[i].Time.IsZero() {
			es[i].Time = now
		}
		a.seq++
		var k [12]byte
		binary.BigEndian.PutUint64(k[:8], uint64(es[i].Time.UnixNano()))
		binary.BigEndian.PutUint32(k[8:], a.seq)
		keys[i] = string(k[:])
	}
	return keys
}

// writer returns the write that stores entries under keys (see keys), for a transaction of the
// caller's.
func (a *auditLog) writer(es []AuditEntry, keys []string) func(w store.Writer) error {
	return func(w store.Writer) error {
		for i, e := range es {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := w.Put(bucketAudit, keys[i], b); err != nil {
				return err
			}
			if e.DeviceID != "" {
				if err := w.Put(bucketAuditDevice, auditDeviceKey(e.DeviceID, keys[i]), nil); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// index indexes by device the entries a gateway before bucketAuditDevice wrote, once: a state file
// that has the auditIndexed mark is left as it is.
func (a *auditLog) index() error {
	if _, err := a.st.Get(bucketAuditDevice, auditIndexed); err == nil {
		a.indexed = true
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	type ref struct{ device, key string }
	var refs []ref
	err := a.st.ForEach(bucketAudit, func(key string, value []byte) error {
		var e struct{ DeviceID string }
		if err := json.Unmarshal(value, &e); err != nil {
			return fmt.Errorf("audit entry: %w", err)
		}
		if e.DeviceID != "" {
			refs = append(refs, ref{e.DeviceID, key})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for len(refs) > 0 {
		n := min(len(refs), pruneBatch)
		if err := a.st.Write(func(w store.Writer) error {
			for _, r := range refs[:n] {
				if err := w.Put(bucketAuditDevice, auditDeviceKey(r.device, r.key), nil); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		refs = refs[n:]
	}
	if err := a.st.Write(func(w store.Writer) error { return w.Put(bucketAuditDevice, auditIndexed, []byte("1")) }); err != nil {
		return err
	}
	a.indexed = true
	return nil
}

// since returns the entries since since (zero: all), for one device if deviceID is set, oldest first.
// Entries past retention are never returned, even before prune has deleted them.
func (a *auditLog) since(deviceID string, since time.Time) ([]AuditEntry, error) {
	if keep := clock.Now().Add(-a.retention); a.retention > 0 && since.Before(keep) {
		since = keep
	}
	if deviceID != "" && a.indexed {
		return a.ofDevice(deviceID, since)
	}
	var out []AuditEntry
	err := a.st.ForEach(bucketAudit, func(key string, value []byte) error {
		if len(key) == 12 && int64(binary.BigEndian.Uint64([]byte(key[:8]))) < since.UnixNano() {
			return nil
		}
		var e AuditEntry
		if err := json.Unmarshal(value, &e); err != nil {
			return fmt.Errorf("audit entry: %w", err)
		}
		if deviceID == "" || e.DeviceID == deviceID {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// ofDevice is since for one device, through bucketAuditDevice. An entry pruned between the index's
// read and its own is left out.
func (a *auditLog) ofDevice(deviceID string, since time.Time) ([]AuditEntry, error) {
	prefix := auditDeviceKey(deviceID, "")
	var keys []string
	err := a.st.ForEachPrefix(bucketAuditDevice, prefix, func(key string, _ []byte) error {
		k := key[len(prefix):]
		if len(k) == 12 && int64(binary.BigEndian.Uint64([]byte(k[:8]))) < since.UnixNano() {
			return nil
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []AuditEntry
	for _, k := range keys {
		value, err := a.st.Get(bucketAudit, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		var e AuditEntry
		if err := json.Unmarshal(value, &e); err != nil {
			return out, fmt.Errorf("audit entry: %w", err)
		}
		if e.DeviceID == deviceID {
			out = append(out, e)
		}
	}
	return out, nil
}

// pruneBatch bounds one prune transaction, so a long backlog never makes one huge commit.
const pruneBatch = 5000

// prune deletes entries older than the retention from the store, pruneBatch at a time. Keys sort by
// time, so the first young entry ends the scan.
func (a *auditLog) prune(now time.Time) {
	if a.retention <= 0 {
		return
	}
	cut := now.Add(-a.retention).UnixNano()
	errEnough := errors.New("enough")
	total := 0
	for {
		var old, index []string
		err := a.st.ForEach(bucketAudit, func(key string, value []byte) error {
			if len(key) == 12 && int64(binary.BigEndian.Uint64([]byte(key[:8]))) >= cut || len(old) == pruneBatch {
				return errEnough
			}
			old = append(old, key)
			var e struct{ DeviceID string }
			if json.Unmarshal(value, &e) == nil && e.DeviceID != "" {
				index = append(index, auditDeviceKey(e.DeviceID, key))
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			a.log.Error("could not read the audit log to prune it", "err", err)
			return
		}
		if len(old) == 0 {
			break
		}
		err = a.st.Write(func(w store.Writer) error {
			for _, k := range old {
				if err := w.Delete(bucketAudit, k); err != nil {
					return err
				}
			}
			for _, k := range index {
				if err := w.Delete(bucketAuditDevice, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			a.log.Error("could not delete audit entries past retention", "count", len(old), "err", err)
			return
		}
		total += len(old)
		if len(old) < pruneBatch {
			break
		}
	}
	if total > 0 {
		a.log.Info("audit entries past retention deleted", "count", total, "retention", a.retention.String())
	}
}

// Audit records an entry (time filled in when zero), stores it and hands it to the Sink when the device
// is claimed. If the store cannot take it, the entry is kept in memory (up to 10,000) and written,
// and sent, once it can.
func (g *Gateway) Audit(e AuditEntry) { _ = g.auditMany([]AuditEntry{e}) }

// auditMany records entries in one transaction, together with the messages of those that go up. On
// failure they are kept for catchUp and the error returned.
func (g *Gateway) auditMany(es []AuditEntry) error {
	if len(es) == 0 {
		return nil
	}
	g.logAudits(es)
	return g.commitAudits(es)
}

// commitAudits is auditMany without the log lines (catchUp writes what was logged before).
func (g *Gateway) commitAudits(es []AuditEntry) error {
	keys := g.audit.keys(es)
	// Up only for claimed devices (and unclaims): nothing of an unclaimed, rejected or mismatched
	// device leaves the site; the full log stays local (edgegw audit).
	var up []AuditEntry
	for _, e := range es {
		if e.Action == "unclaimed" || g.claimed(e.DeviceID) {
			up = append(up, e)
		}
	}
	err := g.commit(Outgoing{Audits: up}, g.audit.writer(es, keys))
	if err != nil {
		g.sent.keep(es)
		if !storeErr(err) {
			g.log.Error("could not store audit entries", "count", len(es), "err", err)
		}
		return err
	}
	return nil
}

// maxAuditLogLines is how many entries of one batch are logged one by one; a bulk claim of 50,000
// rows logs the first ones and a count (every entry is in the audit log: edgegw audit).
const maxAuditLogLines = 100

func (g *Gateway) logAudits(es []AuditEntry) {
	for _, e := range es[:min(len(es), maxAuditLogLines)] {
		g.log.Info("audit", "action", e.Action, "device", e.DeviceID, "mac", e.MAC, "old", e.Old, "new", e.New, "by", e.By)
	}
	if len(es) > maxAuditLogLines {
		g.log.Info("audit", "more_entries", len(es)-maxAuditLogLines, "see", "edgegw audit")
	}
}

// AuditLog returns the entries since since (zero: all), for one device if deviceID is set, oldest first.
func (g *Gateway) AuditLog(deviceID string, since time.Time) ([]AuditEntry, error) {
	return g.audit.since(deviceID, since)
}
