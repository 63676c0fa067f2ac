package gateway

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/edgegw/edgegw/gateway/store"
)

// Outgoing is what goes up about one change of state: whole twins, reported patches, audit entries.
type Outgoing struct {
	Twins   []Twin
	Patches []Patch
	Audits  []AuditEntry
	Events  []Event
}

// Committer is a Sink that keeps what goes up in the gateway's own Store (the uplink's outbox lives in
// the same state file). Commit stores out together with the change of state it reports — write runs
// in the same transaction — so both are kept or neither, and the error says why. The gateway commits
// through it where its Sink has it, so that a full disk fails an operation as a whole instead of
// leaving a claim without its audit entry or its full twin; with another Sink it writes first and
// hands the messages over after.
type Committer interface {
	Commit(out Outgoing, write func(w store.Writer) error) error
}

// Failer is a Store that can tell, before anything is done, that its writes fail (a full disk):
// store.DB is one. The gateway asks before it writes to a device, which it could not undo.
type Failer interface {
	Failing() error
}

// ErrNotStored marks an operation refused or undone because the state store cannot take writes: nothing
// of it is in effect.
var ErrNotStored = errors.New("nothing was changed")

// bucketSent holds, per device, the highest twin $version handed to the Sink (a full twin's or a
// patch's), written in the same transaction as the message. After a crash or a full disk it tells a
// twin whose stored version is behind or ahead of what the cloud was sent, and is resent in full.
const bucketSent = "twins.sent"

// maxUnsaved bounds the audit entries kept in memory while the store cannot take them.
const maxUnsaved = 10000

// sentBook is what the Sink was handed: the highest version per device, the devices whose earlier state
// may be missing on the cloud side (to be resent in full), and the audit entries the store could not
// take yet. Its own lock; never held while calling out.
type sentBook struct {
	mu      sync.Mutex
	ver     map[string]int64
	resync  map[string]bool
	unsaved []AuditEntry
	lost    int // audit entries past maxUnsaved while the store could not take them
}

func newSentBook() *sentBook { return &sentBook{ver: map[string]int64{}, resync: map[string]bool{}} }

func (b *sentBook) restore(st Store) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return st.ForEach(bucketSent, func(key string, value []byte) error {
		v, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil {
			return fmt.Errorf("sent version of %s: %w", key, err)
		}
		b.ver[key] = v
		return nil
	})
}

// marks returns the versions out hands over, where they are higher than the ones known.
func (b *sentBook) marks(out Outgoing) map[string]int64 {
	m := map[string]int64{}
	up := func(id string, v int64) {
		if v > m[id] {
			m[id] = v
		}
	}
	for _, t := range out.Twins {
		up(t.DeviceID, t.Reported.Version)
	}
	for _, p := range out.Patches {
		up(p.DeviceID, p.Version)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, v := range m {
		if v <= b.ver[id] {
			delete(m, id)
		}
	}
	return m
}

func (b *sentBook) note(m map[string]int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, v := range m {
		b.ver[id] = max(b.ver[id], v)
	}
}

func (b *sentBook) get(id string) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.ver[id]
	return v, ok
}

func (b *sentBook) markResync(ids ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		b.resync[id] = true
	}
}

func (b *sentBook) resyncs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.resync))
}

func (b *sentBook) resynced(id string) {
	b.mu.Lock()
	delete(b.resync, id)
	b.mu.Unlock()
}

// keep holds audit entries the store could not take, to be written when it can.
func (b *sentBook) keep(es []AuditEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := maxUnsaved - len(b.unsaved)
	if room < len(es) {
		b.lost += len(es) - max(room, 0)
		es = es[:max(room, 0)]
	}
	b.unsaved = append(b.unsaved, es...)
}

func (b *sentBook) takeUnsaved() ([]AuditEntry, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	es, lost := b.unsaved, b.lost
	b.unsaved, b.lost = nil, 0
	return es, lost
}

// relost counts again the lost audit entries of a takeUnsaved whose entries could not be written.
func (b *sentBook) relost(n int) {
	b.mu.Lock()
	b.lost += n
	b.mu.Unlock()
}

func (b *sentBook) waiting() (resync, unsaved int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.resync), len(b.unsaved)
}

// commit stores write and the sent-version marks together with out (through the Sink when it is a
// Committer, in one transaction), or fails with nothing of it kept.
func (g *Gateway) commit(out Outgoing, write func(w store.Writer) error) error {
	marks := map[string]int64{}
	if g.sinks {
		marks = g.sent.marks(out)
	}
	all := withMarks(write, marks)
	if c, ok := g.opts.Sink.(Committer); ok {
		if err := c.Commit(out, all); err != nil {
			return err
		}
	} else {
		// Nothing to write (no Sink, so no marks: a daemon without a cloud) is no transaction: an empty
		// commit still syncs the disk, and one per poll was a fifth of the CPU at 50,000 devices.
		if write != nil || len(marks) > 0 {
			if err := g.opts.Store.Write(all); err != nil {
				return err
			}
		}
		for _, t := range out.Twins {
			g.sendTwin(t)
		}
		for _, p := range out.Patches {
			g.sendPatch(p)
		}
		for _, e := range out.Audits {
			g.sendAudit(e)
		}
		for _, e := range out.Events {
			if err := g.opts.Sink.Event(e); err != nil {
				g.log.Warn("could not queue a message for the cloud", "kind", "event", "device", e.DeviceID, "err", err)
			}
		}
	}
	g.sent.note(marks)
	return nil
}

// withMarks is write followed by the sent-version marks' writes.
func withMarks(write func(w store.Writer) error, marks map[string]int64) func(w store.Writer) error {
	return func(w store.Writer) error {
		if write != nil {
			if err := write(w); err != nil {
				return err
			}
		}
		for id, v := range marks {
			if err := w.Put(bucketSent, id, strconv.AppendInt(nil, v, 10)); err != nil {
				return err
			}
		}
		return nil
	}
}

// storeFailing returns the store's write error while it cannot take writes, nil otherwise (or when the
// store cannot tell).
func (g *Gateway) storeFailing() error {
	if f, ok := g.opts.Store.(Failer); ok {
		return f.Failing()
	}
	return nil
}

// notStored makes a store error an operation's: it says nothing of the operation is in effect.
func notStored(err error) error {
	return fmt.Errorf("%w; %w", err, ErrNotStored)
}

// deviceLocks keep a device's twin messages in the order of their versions: whoever changes a twin's
// reported version (a poll's patch, a full twin on claim, identity change or resync) holds the device's
// stripe from the change until its message is committed, so two of them never pass each other on the
// way to the outbox. Stripes, not one lock per device, and never one lock for all: polls of different
// devices still commit together.
type deviceLocks [256]sync.Mutex

func (l *deviceLocks) stripe(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(len(l)))
}

// lock locks the stripes of ids, in stripe order (so two callers never wait on each other), and
// returns the unlock.
func (l *deviceLocks) lock(ids ...string) func() {
	set := map[int]bool{}
	for _, id := range ids {
		set[l.stripe(id)] = true
	}
	order := slices.Sorted(maps.Keys(set))
	for _, i := range order {
		l[i].Lock()
	}
	return func() {
		for _, i := range slices.Backward(order) {
			l[i].Unlock()
		}
	}
}

// storeErr reports whether err is the store failing to write (a full disk, an I/O error), which the
// daemon logs once, when it starts, rather than each part on each try.
func storeErr(err error) bool {
	return errors.Is(err, store.ErrFull) || errors.Is(err, store.ErrWriteFailed)
}

// checkSent compares, after a restart, each claimed device's stored twin with what the Sink was handed
// of it: a twin behind the version the cloud has (written less often than its patches: a crash lost the
// last write) takes that version, so its next patches are newer; either way its state on the cloud
// side may differ, and it is sent again in full. A claimed twin never handed over (claimed while the
// cloud was off, or by an older edgegw) is sent in full too, and so is one restored with values older
// than its version (twinSet.restoredStale: a crash before its lazy write).
func (g *Gateway) checkSent(ids []string) {
	if !g.sinks {
		return
	}
	for _, id := range ids {
		mark, known := g.sent.get(id)
		resync := false
		g.twins.view(id, func(t *Twin) {
			resync = t.Claim.State == ClaimClaimed && (!known || t.Reported.Version != mark)
		})
		// Its values are older than its version (a crash before its lazy write): the cloud may have
		// newer ones, which a later patch would not correct where the device goes back to the old value.
		resync = resync || g.twins.restoredStale(id) && g.claimed(id)
		if !resync {
			continue
		}
		if known {
			g.twins.update(id, func(t *Twin) { t.Reported.Version = max(t.Reported.Version, mark) })
		}
		g.sent.markResync(id)
	}
	if n, _ := g.sent.waiting(); n > 0 {
		g.log.Info("twins to send again in full: what the cloud has of them may differ", "count", n)
	}
}

// resyncBatch bounds how many full twins one catch-up commit carries.
const resyncBatch = 256

// catchUp, once the store writes again, sends in full the twins whose earlier state may be missing on
// the cloud side and writes the audit entries the store could not take. It is called every
// FlushInterval; while the store still fails it only probes.
func (g *Gateway) catchUp() {
	resync, unsaved := g.sent.waiting()
	if resync == 0 && unsaved == 0 {
		return
	}
	if err := g.storeFailing(); err != nil {
		p, ok := g.opts.Store.(interface{ Probe() error })
		if !ok || p.Probe() != nil {
			return
		}
	}
	if es, lost := g.sent.takeUnsaved(); len(es) > 0 {
		if err := g.commitAudits(es); err != nil {
			g.sent.relost(lost) // es kept again by commitAudits; the count of those lost with them
			return
		}
		if lost > 0 {
			g.log.Warn("audit entries lost while the state store could not write: more than the gateway keeps in memory",
				"lost", lost, "kept_and_written", len(es))
		} else {
			g.log.Info("audit entries written that the state store could not take before", "count", len(es))
		}
	}
	sent := 0
	ids := g.sent.resyncs()
	for len(ids) > 0 {
		batch := ids[:min(resyncBatch, len(ids))]
		ids = ids[len(batch):]
		n, err := g.resend(batch)
		sent += n
		if err != nil {
			g.log.Debug("could not send twins again in full yet", "err", err)
			break
		}
	}
	if sent > 0 {
		g.log.Info("twins sent again in full: their earlier state may be missing on the cloud side", "count", sent)
	}
}

// resend commits the claimed twins of ids in full, each with a version newer than any the cloud was
// sent of it, and clears them from the resync set (unclaimed ones too: nothing of them goes up).
func (g *Gateway) resend(ids []string) (int, error) {
	unlock := g.devs.lock(ids...)
	defer unlock()
	var fulls []Twin
	var done []string
	for _, id := range ids {
		mark, _ := g.sent.get(id)
		var full Twin
		ok := g.twins.update(id, func(t *Twin) {
			if t.Claim.State != ClaimClaimed {
				return
			}
			if t.Reported.Version <= mark {
				t.Reported.Version = mark + 1
			}
			full = t.clone()
		})
		if !ok || full.DeviceID == "" {
			g.sent.resynced(id)
			continue
		}
		fulls = append(fulls, full)
		done = append(done, id)
	}
	if len(fulls) == 0 {
		return 0, nil
	}
	if err := g.commit(Outgoing{Twins: fulls}, nil); err != nil {
		return 0, err
	}
	for _, id := range done {
		g.sent.resynced(id)
	}
	return len(fulls), nil
}
