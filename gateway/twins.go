package gateway

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/edgegw/edgegw/gateway/store"
)

// bucketTwins holds one JSON twin per device id.
const bucketTwins = "twins"

// bucketVersions holds, per device id, the reported $version of a twin whose latest poll is not yet
// in bucketTwins (8 bytes, big-endian): restored over the twin's, so versions never go back.
const bucketVersions = "twin-versions"

// lazyEvery is how long a change that only a poll made (reported values, last poll time) may wait
// before its twin is written: re-encoding every polled twin once per poll was a fifth of the gateway's
// CPU at thousands of devices. Its $version is written at once; the values are read again at the
// next poll after a crash.
const lazyEvery = 5 * time.Minute

// twinSet is the inventory: every device's twin, which changed since they were last written, and an
// index from MAC to device. Its lock guards only these and is never held while calling out (a driver,
// the sink, the store, another part's lock), so reading a twin never waits for a device or the disk.
type twinSet struct {
	mu    sync.Mutex
	twins map[string]*Twin
	dirty map[string]bool
	// lazy are twins changed only by polls, with when they went lazy: written within lazyEvery;
	// newVersion are those whose reported $version changed since the last flush, written (alone) at
	// the next.
	lazy       map[string]time.Time
	newVersion map[string]bool
	byMAC      map[string][]string // device ids by MAC; nearly always one
	// stale are the twins restored with reported values older than their $version (restoredStale).
	stale map[string]bool
	// sorted is every device id in order, for queries (query.go); rebuilt when a twin was added, which
	// is how the set changes (twins are never removed).
	sorted []string
	// now is time.Now (monotonic: lazyEvery is a timeout, not a wall-clock time); tests step it.
	now func() time.Time
}

func newTwinSet() *twinSet {
	return &twinSet{twins: map[string]*Twin{}, dirty: map[string]bool{}, lazy: map[string]time.Time{},
		newVersion: map[string]bool{}, byMAC: map[string][]string{}, stale: map[string]bool{}, now: time.Now}
}

// restore loads every twin from st.
func (s *twinSet) restore(st Store) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := st.ForEach(bucketTwins, func(key string, value []byte) error {
		var t Twin
		if err := json.Unmarshal(value, &t); err != nil {
			return fmt.Errorf("twin %s: %w", key, err)
		}
		s.twins[key] = &t
		s.index(key, "", t.Identity.MAC)
		return nil
	})
	if err != nil {
		return err
	}
	return st.ForEach(bucketVersions, func(key string, value []byte) error {
		if t, ok := s.twins[key]; ok && len(value) == 8 {
			if v := int64(binary.BigEndian.Uint64(value)); v > t.Reported.Version {
				t.Reported.Version = v
				s.stale[key] = true
			}
		}
		return nil
	})
}

// restoredStale reports whether id's twin was restored with reported values older than its $version:
// the process ended (a crash) before its lazy write, so what the cloud was sent of it may be newer than
// the values it has now.
func (s *twinSet) restoredStale(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stale[id]
}

// index moves id from the MAC it had to the one it has. s.mu must be held.
func (s *twinSet) index(id, oldMAC, newMAC string) {
	if oldMAC == newMAC {
		return
	}
	if oldMAC != "" {
		ids := slices.DeleteFunc(s.byMAC[oldMAC], func(x string) bool { return x == id })
		if len(ids) == 0 {
			delete(s.byMAC, oldMAC)
		} else {
			s.byMAC[oldMAC] = ids
		}
	}
	if newMAC != "" && !slices.Contains(s.byMAC[newMAC], id) {
		s.byMAC[newMAC] = append(s.byMAC[newMAC], id)
	}
}

// get returns a copy of one twin.
func (s *twinSet) get(id string) (Twin, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.twins[id]
	if !ok {
		return Twin{}, false
	}
	return t.clone(), true
}

// all returns a copy of every twin, sorted by device id.
func (s *twinSet) all() []Twin {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Twin, 0, len(s.twins))
	for _, id := range slices.Sorted(maps.Keys(s.twins)) {
		out = append(out, s.twins[id].clone())
	}
	return out
}

// ids returns every device id, unsorted.
func (s *twinSet) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.twins))
}

// view calls fn with the twin under the lock, for reading; ok is false when there is no such device.
// fn must not keep t or call out.
func (s *twinSet) view(id string, fn func(t *Twin)) (ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.twins[id]
	if ok {
		fn(t)
	}
	return ok
}

// update calls fn with the twin under the lock, to change it, and marks it to be written. The MAC
// index follows a changed MAC. fn must not keep t or call out.
func (s *twinSet) update(id string, fn func(t *Twin)) (ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.twins[id]
	if ok {
		mac := t.Identity.MAC
		fn(t)
		s.dirty[id] = true
		s.index(id, mac, t.Identity.MAC)
	}
	return ok
}

// updatePoll is update for a poll's outcome: fn says whether it changed something that must be
// written at once (a connectivity state); otherwise the twin is written lazily (lazyEvery).
func (s *twinSet) updatePoll(id string, fn func(t *Twin) (important bool)) (ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.twins[id]
	if !ok {
		return false
	}
	mac, version := t.Identity.MAC, t.Reported.Version
	if fn(t) || s.dirty[id] {
		s.dirty[id] = true
		delete(s.lazy, id)
	} else {
		if _, ok := s.lazy[id]; !ok {
			s.lazy[id] = s.now()
		}
		if t.Reported.Version != version {
			s.newVersion[id] = true
		}
	}
	s.index(id, mac, t.Identity.MAC)
	return true
}

// upsert is update that first makes the twin with fresh() when there is none; known says whether
// there was one.
func (s *twinSet) upsert(id string, fresh func() *Twin, fn func(t *Twin, known bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, known := s.twins[id]
	mac := ""
	if known {
		mac = t.Identity.MAC
	} else {
		t = fresh()
		s.twins[id] = t
	}
	fn(t, known)
	s.dirty[id] = true
	s.index(id, mac, t.Identity.MAC)
}

// withMAC returns copies of the twins of the devices with this MAC, in device id order.
func (s *twinSet) withMAC(mac string) []Twin {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Sorted(slices.Values(s.byMAC[mac]))
	out := make([]Twin, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.twins[id].clone())
	}
	return out
}

// counts returns how many devices there are, online and claimed.
func (s *twinSet) counts() (discovered, online, claimed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.twins {
		discovered++
		if t.Connectivity.State == StateOnline {
			online++
		}
		if t.Claim.State == ClaimClaimed {
			claimed++
		}
	}
	return
}

// flush writes every changed twin to st in one transaction and says how many; lazily changed ones
// only in part: those lazy for lazyEvery or longer, then others up to share of them all (0..1), written
// whole, the others' versions. On failure they stay marked, for the next flush: nothing is lost.
func (s *twinSet) flush(st Store, share float64) (int, error) {
	s.mu.Lock()
	if len(s.dirty) == 0 && len(s.lazy) == 0 && len(s.newVersion) == 0 {
		s.mu.Unlock()
		return 0, nil
	}
	batch := make(map[string][]byte, len(s.dirty))
	encode := func(id string) error {
		if t, ok := s.twins[id]; ok {
			b, err := json.Marshal(t)
			if err != nil {
				return fmt.Errorf("encode twin %s: %w", id, err)
			}
			batch[id] = b
		}
		return nil
	}
	for id := range s.dirty {
		if err := encode(id); err != nil {
			s.mu.Unlock()
			return 0, err
		}
	}
	whole := len(s.lazy)
	if share < 1 {
		whole = int(float64(len(s.lazy))*share) + 1
	}
	lazyDone := map[string]time.Time{}
	versions := map[string][]byte{}
	due := s.now().Add(-lazyEvery)
	for id, since := range s.lazy { // the due ones, all of them: lazyEvery is a bound
		if !since.After(due) {
			if err := encode(id); err != nil {
				s.mu.Unlock()
				return 0, err
			}
			lazyDone[id] = since
		}
	}
	for id, since := range s.lazy { // then up to the share; map order: a different part each time
		if len(lazyDone) >= whole {
			break
		}
		if _, done := lazyDone[id]; done {
			continue
		}
		if err := encode(id); err != nil {
			s.mu.Unlock()
			return 0, err
		}
		lazyDone[id] = since
	}
	for id := range s.newVersion {
		_, lazy := s.lazy[id]
		_, done := lazyDone[id]
		if t, ok := s.twins[id]; ok && lazy && !done {
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], uint64(t.Reported.Version))
			versions[id] = v[:]
		}
	}
	newVersion := s.newVersion
	s.newVersion = map[string]bool{}
	dirty := s.dirty
	s.dirty = map[string]bool{}
	for id := range lazyDone {
		delete(s.lazy, id)
	}
	s.mu.Unlock()
	err := st.Write(func(w store.Writer) error {
		for id, b := range batch {
			if err := w.Put(bucketTwins, id, b); err != nil {
				return err
			}
		}
		for id, v := range versions {
			if err := w.Put(bucketVersions, id, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.mu.Lock()
		for id := range dirty {
			s.dirty[id] = true
		}
		for id, since := range lazyDone {
			if later, ok := s.lazy[id]; !ok || since.Before(later) {
				s.lazy[id] = since
			}
		}
		for id := range newVersion {
			s.newVersion[id] = true
		}
		s.mu.Unlock()
	}
	return len(batch), err
}
