package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Stored formats. Every value goes through the store, which seals it with
// AES-256-GCM; these are the plaintexts.
//
//	outbox        seq (8 bytes, big-endian) -> record
//	outbox.nacks  seq -> uvarint nack count (only messages nacked at least once)
//	outbox.dead   dead seq (8 bytes, big-endian) -> dead record
//	outbox.meta   "meta" -> meta
//
//	record       version(1) class(1) created-unix-nano(8), then id, kind,
//	             device, coalesce, correlation id as uvarint-length-prefixed strings,
//	             then the body (the rest)
//	dead record  version(1) reason(1) at-unix-nano(8) attempts(uvarint) record
//	meta         version(1), then uvarints: next seq, dropped,
//	             dead-lettered, coalesced, acked, rejected, next dead seq
const (
	bucketMsgs  = "outbox"
	bucketNacks = "outbox.nacks"
	bucketDead  = "outbox.dead"
	bucketMeta  = "outbox.meta"
	metaKey     = "meta"

	recordVersion = 1
	metaVersion   = 1
)

var errBadRecord = errors.New("malformed outbox record")

func seqKey(seq uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return string(b[:])
}

func keySeq(k string) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64([]byte(k)), true
}

func encodeRecord(m *Message) []byte {
	n := 2 + 8 + 5*binary.MaxVarintLen64 + len(m.ID) + len(m.Kind) + len(m.DeviceID) + len(m.Coalesce) + len(m.CorrelationID) + len(m.Body)
	b := make([]byte, 0, n)
	b = append(b, recordVersion, byte(m.Class))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Created.UnixNano()))
	for _, s := range [...]string{m.ID, m.Kind, m.DeviceID, m.Coalesce, m.CorrelationID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, m.Body...)
}

// decodeRecord parses a record; the body aliases b.
func decodeRecord(b []byte) (Message, error) {
	var m Message
	if len(b) < 10 || b[0] != recordVersion {
		return m, errBadRecord
	}
	m.Class = Class(b[1])
	if m.Class > Control {
		return m, errBadRecord
	}
	m.Created = time.Unix(0, int64(binary.BigEndian.Uint64(b[2:10])))
	b = b[10:]
	var fields [5]string
	for i := range fields {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return m, errBadRecord
		}
		fields[i] = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	m.ID, m.Kind, m.DeviceID, m.Coalesce, m.CorrelationID = fields[0], fields[1], fields[2], fields[3], fields[4]
	m.Body = b
	return m, nil
}

// Reasons a message was dead-lettered.
const (
	ReasonRejected    = "rejected"     // Nack(id, false): the broker refused it
	ReasonMaxAttempts = "max-attempts" // Nack(id, true) for the MaxAttempts-th time
)

func reasonCode(r string) byte {
	if r == ReasonRejected {
		return 1
	}
	return 2
}

func reasonName(c byte) string {
	if c == 1 {
		return ReasonRejected
	}
	return ReasonMaxAttempts
}

func encodeDead(reason string, at time.Time, attempts int, record []byte) []byte {
	b := make([]byte, 0, 10+binary.MaxVarintLen64+len(record))
	b = append(b, recordVersion, reasonCode(reason))
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	b = binary.AppendUvarint(b, uint64(attempts))
	return append(b, record...)
}

func decodeDead(b []byte) (DeadLetter, error) {
	var d DeadLetter
	if len(b) < 10 || b[0] != recordVersion {
		return d, errBadRecord
	}
	d.Reason = reasonName(b[1])
	d.At = time.Unix(0, int64(binary.BigEndian.Uint64(b[2:10])))
	att, n := binary.Uvarint(b[10:])
	if n <= 0 {
		return d, errBadRecord
	}
	m, err := decodeRecord(b[10+n:])
	if err != nil {
		return d, err
	}
	m.Attempts = int(att)
	d.Message = m
	return d, nil
}

// meta is what the outbox persists besides the messages.
type meta struct {
	nextSeq  uint64
	ctr      counters
	nextDead uint64
}

type counters struct {
	dropped, dead, coalesced, acked, rejected uint64
}

func (mt *meta) encode() []byte {
	b := make([]byte, 0, 1+7*binary.MaxVarintLen64)
	b = append(b, metaVersion)
	for _, v := range [...]uint64{mt.nextSeq, mt.ctr.dropped, mt.ctr.dead, mt.ctr.coalesced, mt.ctr.acked, mt.ctr.rejected, mt.nextDead} {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func decodeMeta(b []byte) (meta, error) {
	var mt meta
	if len(b) < 1 || b[0] != metaVersion {
		return mt, fmt.Errorf("outbox meta: unknown version")
	}
	b = b[1:]
	ptrs := [...]*uint64{&mt.nextSeq, &mt.ctr.dropped, &mt.ctr.dead, &mt.ctr.coalesced, &mt.ctr.acked, &mt.ctr.rejected, &mt.nextDead}
	for _, p := range ptrs {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return mt, fmt.Errorf("outbox meta: %w", errBadRecord)
		}
		*p = v
		b = b[n:]
	}
	return mt, nil
}
