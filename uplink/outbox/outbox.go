// Package outbox is the uplink's durable, bounded queue of messages waiting
// to go up: every outgoing message is written here before it is sent and
// deleted only when the broker accepted it (at-least-once, with message ids
// that stay the same across retries so the cloud can drop duplicates).
//
// Messages live in the gateway's encrypted state store (buckets "outbox",
// "outbox.nacks", "outbox.dead", "outbox.meta"), keyed by a big-endian
// sequence number so the store holds them in the order they were put. Only
// their metadata is kept in memory (about 200 bytes each); bodies are read
// from the store when Next hands a message out.
//
// # Order and the window
//
// Next hands out messages in the order they were put, and marks each in
// flight; the sender may hold many in flight (a window) and settles each
// with Ack or Nack. A retried Nack puts the message back at its position,
// so it is the next one out. Requeue (the connection dropped) makes every
// in-flight message pending again: its fate is unknown, so it is sent
// again with the same id. After a crash every stored message is pending
// again, in the original order.
//
// # The bound
//
// Options.MaxBytes bounds Stats.Bytes, the sum of the stored messages'
// sizes (body plus strings plus a fixed per-message overhead). When a Put
// does not fit, the oldest pending Telemetry messages are deleted to make
// room (in the same transaction) and counted in Stats.Dropped. A
// Telemetry message that still does not fit is refused with ErrFull and
// counted in Stats.Rejected. State and Control messages are never dropped
// and never refused for room: once no Telemetry is left to drop they are
// stored over the bound (Stats.Bytes may then exceed MaxBytes) — losing
// twin state, replies or audit records would be worse than using more
// disk, and both are self-limiting (State coalesces to one pending message
// per device and key; Control is small and rare). Messages in flight are
// never dropped.
//
// # Coalescing
//
// A State message with a non-empty Coalesce key merges into the newest
// queued message with the same DeviceID and key, if that one is pending
// (not in flight): the merged message keeps the older one's position and
// attempt count and takes the newer one's ID, Kind and Created, with the
// body Options.Merge(older, newer). It takes the newer ID because the
// older one may already have reached the broker before a Requeue; the
// cloud must not discard the merged body as a duplicate. If the newest one
// with that key is in flight it is not touched and the new message queues
// behind it. If Merge fails, the new message is queued on its own. Nor
// does it merge into a message behind which another State message of the
// same device waits (a full twin after a patch): the merged patch would go
// up before it, and the cloud would see the twin's version go backwards.
package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/clock"
)

// Class says how the outbox treats a message when it is full.
type Class uint8

const (
	Telemetry Class = iota // may be dropped, oldest first, when the outbox is full
	State                  // twin state (reported patches, full twins): coalesced per (device, key), never dropped
	Control                // replies, events, audit, health: never dropped, never coalesced
)

func (c Class) String() string {
	switch c {
	case Telemetry:
		return "telemetry"
	case State:
		return "state"
	case Control:
		return "control"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Message is one outgoing message.
type Message struct {
	ID       string // unique message-id, made by the caller; stable across retries
	Class    Class
	Kind     string // "telemetry", "twin-reported", ...
	DeviceID string // "" for gateway-level
	Coalesce string // State only: messages with the same DeviceID and non-empty Coalesce merge while pending
	// CorrelationID is set on replies: the command's message-id.
	CorrelationID string
	Created       time.Time
	Body          []byte // JSON
	// Attempts is set by the outbox: how many times Next handed it out,
	// this time included. Across a restart only the nacked hand-outs are
	// remembered. Ignored by Put.
	Attempts int
}

// Options tunes Open.
type Options struct {
	// MaxBytes bounds the sum of message sizes (body + strings +
	// Overhead each); 0 means 64 MiB. See the package documentation.
	MaxBytes int64
	// Merge combines the bodies of two coalesced State messages; nil
	// means the newer body replaces the older. It must not modify its
	// arguments. An error (or a panic) makes the newer message queue on
	// its own.
	Merge func(older, newer []byte) ([]byte, error)
	// MaxAttempts is how many Nacks a message gets before it is
	// dead-lettered; 0 means 10.
	MaxAttempts int
	// MaxDead is how many dead letters are kept (the oldest go first);
	// 0 means 1000. Stats.DeadLettered counts all of them.
	MaxDead int
}

const (
	DefaultMaxBytes    = 64 << 20
	DefaultMaxAttempts = 10
	DefaultMaxDead     = 1000
	// Overhead is what each message counts towards MaxBytes besides its
	// body and strings: key, framing, nonce and tag, bbolt's element header.
	Overhead = 64
)

// Stats is a snapshot of the outbox. The counters (Dropped and after) are
// persisted and cover the life of the state file.
type Stats struct {
	Pending      int   // waiting to be handed out
	InFlight     int   // handed out, not yet acked or nacked
	Bytes        int64 // size of everything stored (pending + in flight), see Options.MaxBytes
	MaxBytes     int64
	Dropped      uint64 // telemetry deleted to make room
	Rejected     uint64 // telemetry refused with ErrFull (nothing left to drop)
	DeadLettered uint64 // moved to the dead-letter bucket
	Coalesced    uint64 // State messages merged into a pending one
	Acked        uint64 // accepted by the broker and deleted
}

// DeadLetter is a message the broker rejected or that ran out of attempts.
type DeadLetter struct {
	Message
	Reason string // ReasonRejected or ReasonMaxAttempts
	At     time.Time
}

var (
	// ErrFull is returned (wrapped) when a Telemetry message does not fit
	// and no pending Telemetry is left to drop.
	ErrFull = errors.New("outbox full")
	// ErrUnknownID is returned (wrapped) by Ack and Nack for an id that
	// is not in the outbox (already acked, dropped, or never put).
	ErrUnknownID = errors.New("no such message in the outbox")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("outbox closed")
)

// Outbox is the queue. Its methods are safe for concurrent use: pollers
// Put while the sender calls Next, Ack and Nack.
type Outbox struct {
	db   *store.DB
	opts Options

	// wmu serialises the writes (Put, Ack, Nack). A write reserves the
	// entries it touches (busy) under mu, runs its store transaction
	// without mu, and applies the outcome under mu, so Next and Requeue
	// are not held up by a commit's fsync.
	wmu sync.Mutex

	mu       sync.Mutex
	closed   bool
	wake     chan struct{} // closed and cleared when a waiting Next may proceed
	byID     map[string]*entry
	latest   map[string]*entry // ckey -> the queued entry with that key and the highest seq
	lastDev  map[string]*entry // device -> its queued State entry with the highest seq, any key
	pending  seqHeap
	tele     seqHeap // pending Telemetry that a Put may drop
	inFlight map[*entry]struct{}
	bytes    int64
	meta     meta     // next seq, counters, next dead seq (as persisted)
	deadKeys []string // dead-letter keys, oldest first
}

// Open restores the queue from db: every stored message is pending, in the
// order it was put. The Outbox does not own db; close it after Close.
func Open(db *store.DB, opts Options) (*Outbox, error) {
	switch {
	case opts.MaxBytes < 0 || opts.MaxAttempts < 0 || opts.MaxDead < 0:
		return nil, errors.New("outbox: negative option")
	case opts.MaxBytes == 0:
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MaxDead == 0 {
		opts.MaxDead = DefaultMaxDead
	}
	o := &Outbox{
		db:       db,
		opts:     opts,
		byID:     make(map[string]*entry),
		latest:   make(map[string]*entry),
		lastDev:  make(map[string]*entry),
		pending:  seqHeap{which: hPending},
		tele:     seqHeap{which: hTele},
		inFlight: make(map[*entry]struct{}),
		meta:     meta{nextSeq: 1, nextDead: 1},
	}
	err := db.View(func(tx *store.Tx) error {
		raw, err := tx.Get(bucketMeta, metaKey)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			if o.meta, err = decodeMeta(raw); err != nil {
				return err
			}
		}
		nacks := make(map[uint64]int)
		if err := tx.ForEach(bucketNacks, func(k string, v []byte) error {
			seq, ok := keySeq(k)
			n, l := binary.Uvarint(v)
			if !ok || l <= 0 {
				return fmt.Errorf("outbox: nack count %x: %w", k, errBadRecord)
			}
			nacks[seq] = int(n)
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEach(bucketMsgs, func(k string, v []byte) error {
			seq, ok := keySeq(k)
			if !ok {
				return fmt.Errorf("outbox: key %x: %w", k, errBadRecord)
			}
			m, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("outbox: message %d: %w", seq, err)
			}
			if _, dup := o.byID[m.ID]; dup {
				return fmt.Errorf("outbox: message id %q stored twice", m.ID)
			}
			e := &entry{seq: seq, id: m.ID, ckey: coalesceKey(&m), dev: stateDev(&m), size: sizeOf(&m, len(m.Body)),
				class: m.Class, nacks: nacks[seq], hidx: [2]int{-1, -1}}
			e.attempts = e.nacks
			o.byID[e.id] = e
			if e.ckey != "" {
				o.latest[e.ckey] = e // keys come in seq order: the last one wins
			}
			if m.Class == State {
				o.lastDev[e.dev] = e
			}
			o.makePending(e)
			o.bytes += e.size
			if seq >= o.meta.nextSeq {
				o.meta.nextSeq = seq + 1
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.ForEach(bucketDead, func(k string, _ []byte) error {
			o.deadKeys = append(o.deadKeys, k)
			if seq, ok := keySeq(k); ok && seq >= o.meta.nextDead {
				o.meta.nextDead = seq + 1
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	return o, nil
}

// Close makes every method return ErrClosed, wakes blocked Next calls and
// waits for a running write to finish. It does not close the store.
func (o *Outbox) Close() error {
	o.mu.Lock()
	o.closed = true
	o.broadcast()
	o.mu.Unlock()
	o.wmu.Lock()
	o.wmu.Unlock() //nolint:staticcheck // only waiting for a running write
	return nil
}

// Stats returns a snapshot.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Stats{
		Pending:      o.pending.len(),
		InFlight:     len(o.inFlight),
		Bytes:        o.bytes,
		MaxBytes:     o.opts.MaxBytes,
		Dropped:      o.meta.ctr.dropped,
		Rejected:     o.meta.ctr.rejected,
		DeadLettered: o.meta.ctr.dead,
		Coalesced:    o.meta.ctr.coalesced,
		Acked:        o.meta.ctr.acked,
	}
}

// Put stores m durably (one transaction) before it returns; see PutBatch.
func (o *Outbox) Put(m Message) error { return o.PutBatch([]Message{m}) }

// PutBatch stores ms in one transaction, in order. Body slices are not
// retained. A zero Created becomes the current time; Attempts is ignored.
//
// To make room it may drop the oldest pending Telemetry; State messages
// may coalesce (see the package documentation). A Telemetry message that
// does not fit even then is refused: the others are stored and the error
// wraps ErrFull. Any other error (an invalid or duplicate ID, an unknown
// Class, a failed write) means nothing was stored.
func (o *Outbox) PutBatch(ms []Message) error { return o.PutBatchWith(ms, nil) }

// PutBatchWith is PutBatch with the caller's own writes to the same store in the same transaction:
// write runs after the messages are put, and either every message (less refused telemetry) and every
// write of write's are kept, or, if write or the commit fails, none. With no messages it is one
// transaction of write's alone. The uplink keeps a twin or audit message and the change of state it
// reports together this way.
func (o *Outbox) PutBatchWith(ms []Message, write func(w store.Writer) error) error {
	if len(ms) == 0 {
		if write == nil {
			return nil
		}
		if o.isClosed() {
			return ErrClosed
		}
		return o.db.Update(func(tx *store.Tx) error { return write(tx) })
	}
	now := clock.Now()
	var seen map[string]struct{}
	if len(ms) > 1 {
		seen = make(map[string]struct{}, len(ms))
	}
	for i := range ms {
		m := &ms[i]
		switch {
		case m.ID == "":
			return errors.New("outbox: message without an ID")
		case m.Class > Control:
			return fmt.Errorf("outbox: message %q: unknown class %d", m.ID, m.Class)
		}
		if seen != nil {
			if _, dup := seen[m.ID]; dup {
				return fmt.Errorf("outbox: message id %q twice in one batch", m.ID)
			}
			seen[m.ID] = struct{}{}
		}
	}

	o.wmu.Lock()
	defer o.wmu.Unlock()

	// Plan under mu: sequence numbers, coalescing targets, drop
	// candidates (enough oldest telemetry for the worst case, in which
	// nothing coalesces; the transaction deletes only what it needs).
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	for i := range ms {
		if _, dup := o.byID[ms[i].ID]; dup {
			o.mu.Unlock()
			return fmt.Errorf("outbox: message id %q is already queued", ms[i].ID)
		}
	}
	slots := make([]*slot, len(ms))
	targets := make(map[string]*slot) // ckey -> reserved existing entry
	devKey := make(map[string]string) // device -> ckey of its newest queued State message
	var worst int64
	for i := range ms {
		m := ms[i]
		if m.Created.IsZero() {
			m.Created = now
		}
		m.Attempts = 0
		s := &slot{seq: o.meta.nextSeq, m: m, ckey: coalesceKey(&m)}
		o.meta.nextSeq++
		s.size = sizeOf(&s.m, len(s.m.Body))
		worst += s.size
		slots[i] = s
		if m.Class == State {
			if _, seen := devKey[m.DeviceID]; !seen {
				if e := o.lastDev[m.DeviceID]; e != nil {
					devKey[m.DeviceID] = e.ckey
				}
			}
		}
		if s.ckey == "" {
			continue
		}
		if _, done := targets[s.ckey]; done {
			continue
		}
		if e := o.latest[s.ckey]; e != nil && !e.inFlight && !e.busy && o.lastDev[m.DeviceID] == e {
			e.busy = true
			targets[s.ckey] = &slot{seq: e.seq, e: e, ckey: e.ckey, size: e.size}
		} else {
			targets[s.ckey] = nil
		}
	}
	var cands []*entry
	for need := o.bytes + worst - o.opts.MaxBytes; need > 0 && o.tele.len() > 0; {
		e := o.tele.pop()
		e.busy = true
		cands = append(cands, e)
		need -= e.size
	}
	bytes0, meta0 := o.bytes, o.meta
	o.mu.Unlock()

	var (
		dropped  int // cands[:dropped] were deleted
		rejected int
		bytes    int64
		mt       meta
	)
	err := o.db.Update(func(tx *store.Tx) error {
		dropped, rejected, bytes, mt = 0, 0, bytes0, meta0
		cur := make(map[string]*slot, len(targets))
		for k, t := range targets {
			if t != nil {
				t.loaded, t.dirty = false, false
				t.size = t.e.size
				cur[k] = t
			}
		}
		last := maps.Clone(devKey)
		for _, s := range slots {
			s.refused = false
			delta := s.size
			var into *slot
			var body []byte
			k, queued := last[s.m.DeviceID]
			if t := cur[s.ckey]; s.ckey != "" && t != nil && (!queued || k == s.ckey) {
				if t.e != nil && !t.loaded {
					raw, err := tx.Get(bucketMsgs, seqKey(t.seq))
					if err != nil {
						return err
					}
					if t.m, err = decodeRecord(raw); err != nil {
						return fmt.Errorf("outbox: message %d: %w", t.seq, err)
					}
					t.loaded = true
				}
				if b, ok := o.merge(t.m.Body, s.m.Body); ok {
					into, body = t, b
					delta = sizeOf(&s.m, len(body)) - t.size
				}
			}
			for bytes+delta > o.opts.MaxBytes && dropped < len(cands) {
				c := cands[dropped]
				if err := deleteMsg(tx, c); err != nil {
					return err
				}
				bytes -= c.size
				mt.ctr.dropped++
				dropped++
			}
			if into == nil && s.m.Class == Telemetry && bytes+delta > o.opts.MaxBytes {
				s.refused = true
				mt.ctr.rejected++
				rejected++
				continue
			}
			bytes += delta
			if into != nil {
				into.m.ID, into.m.Kind, into.m.Created, into.m.Body = s.m.ID, s.m.Kind, s.m.Created, body
				into.size += delta
				into.dirty = true
				mt.ctr.coalesced++
				continue
			}
			s.dirty = true
			if s.ckey != "" {
				cur[s.ckey] = s
			}
			if s.m.Class == State {
				last[s.m.DeviceID] = s.ckey
			}
		}
		if write != nil {
			if err := write(tx); err != nil {
				return err
			}
		}
		for _, s := range slots {
			if s.dirty {
				if err := tx.Put(bucketMsgs, seqKey(s.seq), encodeRecord(&s.m)); err != nil {
					return err
				}
			}
		}
		for _, t := range targets {
			if t != nil && t.dirty {
				if err := tx.Put(bucketMsgs, seqKey(t.seq), encodeRecord(&t.m)); err != nil {
					return err
				}
			}
		}
		return tx.Put(bucketMeta, metaKey, mt.encode())
	})

	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		for _, t := range targets {
			if t != nil {
				t.e.busy = false
			}
		}
		for _, c := range cands {
			o.unreserveTele(c)
		}
		o.broadcast()
		return fmt.Errorf("outbox: put: %w", err)
	}
	for _, c := range cands[:dropped] {
		c.busy = false
		o.remove(c)
	}
	for _, c := range cands[dropped:] {
		o.unreserveTele(c)
	}
	for _, t := range targets {
		if t == nil {
			continue
		}
		e := t.e
		e.busy = false
		if t.dirty {
			delete(o.byID, e.id)
			e.id = t.m.ID
			o.byID[e.id] = e
			e.size = t.size
		}
	}
	for _, s := range slots {
		if !s.dirty {
			continue
		}
		e := &entry{seq: s.seq, id: s.m.ID, ckey: s.ckey, dev: stateDev(&s.m), size: s.size, class: s.m.Class, hidx: [2]int{-1, -1}}
		o.byID[e.id] = e
		if e.ckey != "" {
			o.latest[e.ckey] = e
		}
		if e.class == State {
			o.lastDev[e.dev] = e
		}
		o.makePending(e)
	}
	o.bytes = bytes
	o.meta.ctr = mt.ctr
	o.broadcast()
	if rejected > 0 {
		fe := &FullError{msg: fmt.Sprintf("%v: %d of %d messages refused (telemetry, %d bytes stored of max %d, nothing left to drop)",
			ErrFull, rejected, len(ms), bytes, o.opts.MaxBytes)}
		for _, s := range slots {
			if s.refused {
				fe.IDs = append(fe.IDs, s.m.ID)
			}
		}
		return fe
	}
	return nil
}

// FullError is the error of a PutBatch that refused telemetry for room: it wraps ErrFull and names
// the refused messages; every other message of the batch was stored.
type FullError struct {
	IDs []string
	msg string
}

func (e *FullError) Error() string { return e.msg }
func (e *FullError) Unwrap() error { return ErrFull }

// slot is a message being written by PutBatch: a new one, or an existing
// pending entry (e != nil) that new ones coalesce into.
type slot struct {
	seq     uint64
	e       *entry
	m       Message
	ckey    string
	size    int64
	loaded  bool // e's record has been read into m
	dirty   bool // to be written
	refused bool
}

// merge runs Options.Merge, treating a panic like an error.
func (o *Outbox) merge(older, newer []byte) (b []byte, ok bool) {
	if o.opts.Merge == nil {
		return newer, true
	}
	defer func() {
		if recover() != nil {
			b, ok = nil, false
		}
	}()
	b, err := o.opts.Merge(older, newer)
	return b, err == nil
}

// Next blocks until a message is pending, marks it in flight and returns
// it, body included, with Attempts counting this hand-out. Messages come
// in the order they were put (a retried one comes back at its position).
// It returns ctx's error when ctx is done, ErrClosed after Close.
func (o *Outbox) Next(ctx context.Context) (Message, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Message{}, err
		}
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return Message{}, ErrClosed
		}
		if e := o.pending.peek(); e != nil && !e.busy {
			m, err := o.handOut(e)
			o.mu.Unlock()
			return m, err
		}
		// Nothing pending, or the head is reserved by a running write
		// (waiting keeps the order): wait for a change.
		if o.wake == nil {
			o.wake = make(chan struct{})
		}
		wake := o.wake
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return Message{}, ctx.Err()
		case <-wake:
		}
	}
}

// handOut reads e's record and marks it in flight. Called with mu held:
// no write can then delete or rewrite e's record (writes reserve entries
// under mu first), and reading one record takes microseconds.
func (o *Outbox) handOut(e *entry) (Message, error) {
	raw, err := o.db.Get(bucketMsgs, seqKey(e.seq))
	if err != nil {
		return Message{}, fmt.Errorf("outbox: read message %q: %w", e.id, err)
	}
	m, err := decodeRecord(raw)
	if err != nil {
		return Message{}, fmt.Errorf("outbox: read message %q: %w", e.id, err)
	}
	o.pending.remove(e)
	o.tele.remove(e)
	e.inFlight = true
	o.inFlight[e] = struct{}{}
	e.attempts++
	m.Attempts = e.attempts
	return m, nil
}

// Ack deletes the message the broker accepted, durably.
func (o *Outbox) Ack(id string) error {
	n, err := o.ackBatch([]string{id})
	if err == nil && n == 1 {
		return fmt.Errorf("outbox: ack %q: %w", id, ErrUnknownID)
	}
	return err
}

// AckBatch deletes many accepted messages in one transaction. Ids not in
// the outbox (a late ack for a message already acked) are skipped; if
// there were any, the error wraps ErrUnknownID and the others are deleted.
// If the write fails (a full disk), the messages stay stored and in
// flight: ack them again later, or Requeue.
func (o *Outbox) AckBatch(ids []string) error {
	n, err := o.ackBatch(ids)
	if err == nil && n > 0 {
		return fmt.Errorf("outbox: ack: %d of %d ids: %w", n, len(ids), ErrUnknownID)
	}
	return err
}

func (o *Outbox) ackBatch(ids []string) (unknown int, err error) {
	if len(ids) == 0 {
		return 0, nil
	}
	o.wmu.Lock()
	defer o.wmu.Unlock()
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return 0, ErrClosed
	}
	es := make([]*entry, 0, len(ids))
	for _, id := range ids {
		e := o.byID[id]
		if e == nil || e.busy { // busy: the same id twice in ids
			unknown++
			continue
		}
		e.busy = true
		es = append(es, e)
	}
	mt := o.meta
	o.mu.Unlock()
	if len(es) == 0 {
		return unknown, nil
	}
	mt.ctr.acked += uint64(len(es))
	err = o.db.Update(func(tx *store.Tx) error {
		for _, e := range es {
			if err := deleteMsg(tx, e); err != nil {
				return err
			}
		}
		return tx.Put(bucketMeta, metaKey, mt.encode())
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		// Still stored, and still in flight: the broker has it, so sending it again would only make
		// a duplicate — and on a full disk, one per attempt. The caller acks again later, or
		// Requeue makes it pending.
		for _, e := range es {
			e.busy = false
		}
		o.broadcast()
		return unknown, fmt.Errorf("outbox: ack: %w", err)
	}
	for _, e := range es {
		e.busy = false
		o.remove(e)
	}
	o.meta.ctr.acked = mt.ctr.acked
	o.broadcast()
	return unknown, nil
}

// Nack settles a message the broker did not accept, or whose send failed.
// With retry it goes back to its position in the queue, its nack count
// persisted; on the MaxAttempts-th nack, or without retry (the broker
// rejected it), it moves to the dead-letter bucket and is counted.
func (o *Outbox) Nack(id string, retry bool) error {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	e := o.byID[id]
	if e == nil {
		o.mu.Unlock()
		return fmt.Errorf("outbox: nack %q: %w", id, ErrUnknownID)
	}
	e.busy = true
	nacks := e.nacks + 1
	reason := ""
	switch {
	case !retry:
		reason = ReasonRejected
	case nacks >= o.opts.MaxAttempts:
		reason = ReasonMaxAttempts
	}
	mt := o.meta
	var prune []string
	deadKey := ""
	if reason != "" {
		deadKey = seqKey(mt.nextDead)
		mt.nextDead++
		mt.ctr.dead++
		if over := len(o.deadKeys) + 1 - o.opts.MaxDead; over > 0 {
			prune = append(prune, o.deadKeys[:over]...)
		}
	}
	attempts := e.attempts
	o.mu.Unlock()

	err := o.db.Update(func(tx *store.Tx) error {
		key := seqKey(e.seq)
		if reason == "" {
			return tx.Put(bucketNacks, key, binary.AppendUvarint(nil, uint64(nacks)))
		}
		raw, err := tx.Get(bucketMsgs, key)
		if err != nil {
			return err
		}
		if err := tx.Put(bucketDead, deadKey, encodeDead(reason, clock.Now(), attempts, raw)); err != nil {
			return err
		}
		for _, k := range prune {
			if err := tx.Delete(bucketDead, k); err != nil {
				return err
			}
		}
		if err := deleteMsg(tx, e); err != nil {
			return err
		}
		return tx.Put(bucketMeta, metaKey, mt.encode())
	})

	o.mu.Lock()
	defer o.mu.Unlock()
	e.busy = false
	switch {
	case err != nil:
		o.release(e)
		o.broadcast()
		return fmt.Errorf("outbox: nack %q: %w", id, err)
	case reason == "":
		e.nacks = nacks
		o.release(e)
	default:
		o.remove(e)
		o.meta = mt
		o.deadKeys = append(o.deadKeys[len(prune):], deadKey)
	}
	o.broadcast()
	return nil
}

// Requeue makes every in-flight message pending again, at its position:
// the connection dropped and their fate is unknown, so they are sent again
// (with the same ids). Attempts are not counted as nacks.
func (o *Outbox) Requeue() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for e := range o.inFlight {
		o.release(e)
	}
	o.broadcast()
}

// DeadLetters returns the kept dead letters, oldest first.
func (o *Outbox) DeadLetters() ([]DeadLetter, error) {
	var out []DeadLetter
	err := o.db.ForEach(bucketDead, func(_ string, v []byte) error {
		d, err := decodeDead(v)
		if err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: dead letters: %w", err)
	}
	return out, nil
}

// --- index maintenance; all with mu held ---

// makePending queues e (not in any heap) at its position.
func (o *Outbox) makePending(e *entry) {
	if e.inFlight {
		e.inFlight = false
		delete(o.inFlight, e)
	}
	o.pending.push(e)
	if e.class == Telemetry {
		o.tele.push(e)
	}
}

// release makes an in-flight e pending again; a pending e stays as it is.
func (o *Outbox) release(e *entry) {
	if e.inFlight {
		o.makePending(e)
	}
}

// unreserveTele returns a drop candidate that was not dropped.
func (o *Outbox) unreserveTele(e *entry) {
	e.busy = false
	if !e.inFlight && !o.tele.contains(e) {
		o.tele.push(e)
	}
}

// remove forgets e, whose record the store no longer has.
func (o *Outbox) remove(e *entry) {
	o.pending.remove(e)
	o.tele.remove(e)
	if e.inFlight {
		e.inFlight = false
		delete(o.inFlight, e)
	}
	delete(o.byID, e.id)
	if e.ckey != "" && o.latest[e.ckey] == e {
		delete(o.latest, e.ckey)
	}
	if e.class == State && o.lastDev[e.dev] == e {
		delete(o.lastDev, e.dev)
	}
	o.bytes -= e.size
}

// broadcast wakes every waiting Next.
func (o *Outbox) broadcast() {
	if o.wake != nil {
		close(o.wake)
		o.wake = nil
	}
}

// --- helpers ---

func deleteMsg(tx *store.Tx, e *entry) error {
	key := seqKey(e.seq)
	if err := tx.Delete(bucketMsgs, key); err != nil {
		return err
	}
	if e.nacks > 0 {
		return tx.Delete(bucketNacks, key)
	}
	return nil
}

func coalesceKey(m *Message) string {
	if m.Class != State || m.Coalesce == "" {
		return ""
	}
	return strconv.Itoa(len(m.DeviceID)) + ":" + m.DeviceID + m.Coalesce
}

// stateDev is the device whose twin order a State message keeps ("" for gateway-level state).
func stateDev(m *Message) string {
	if m.Class != State {
		return ""
	}
	return m.DeviceID
}

func (o *Outbox) isClosed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

func sizeOf(m *Message, bodyLen int) int64 {
	return int64(bodyLen+len(m.ID)+len(m.Kind)+len(m.DeviceID)+len(m.Coalesce)+len(m.CorrelationID)) + Overhead
}
