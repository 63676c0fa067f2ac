package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The states of the disk under a store, as Health reports them.
const (
	StateOK      = "ok"
	StateFull    = "full"    // the last write found no room (ENOSPC, EDQUOT)
	StateFailing = "failing" // the last write failed with another I/O error (EIO, EROFS, ...)
)

var (
	// ErrFull wraps a write that failed for lack of room on the disk (or quota): "state store full".
	ErrFull = errors.New("state store full")
	// ErrWriteFailed wraps a write that failed with another I/O error.
	ErrWriteFailed = errors.New("state store cannot write")
)

// DefaultRoomToRecover is how much free room the file system must have again before a full store is
// called healthy (Options.RoomToRecover): bbolt can reuse pages inside its file while the disk is
// full, so one small write going through does not mean the disk has room, and the health would flap.
const DefaultRoomToRecover = 1 << 20

// Health is the state of the disk under the store, as the writes found it.
type Health struct {
	State string    `json:"state"`               // StateOK, StateFull, StateFailing
	Since time.Time `json:"since,omitzero"`      // when it became so
	Err   string    `json:"lastError,omitempty"` // the write error, when not ok
}

// health is the DB's record of it.
type health struct {
	mu       sync.Mutex
	cur      Health
	watchers []func(Health)
	room     int64 // Options.RoomToRecover
	fault    error // FailWrites
}

// FailWrites makes every later commit fail with err (nil: stop), as a disk failing that way would,
// Health included: for tests of what must hold over a failing store, where a real full disk cannot
// be made to refuse every write (bbolt reuses the free pages inside its file).
func (db *DB) FailWrites(err error) {
	db.h.mu.Lock()
	db.h.fault = err
	db.h.mu.Unlock()
}

func (db *DB) writeFault() error {
	db.h.mu.Lock()
	defer db.h.mu.Unlock()
	return db.h.fault
}

// Health reports whether the store's writes go through.
func (db *DB) Health() Health {
	db.h.mu.Lock()
	defer db.h.mu.Unlock()
	h := db.h.cur
	if h.State == "" {
		h.State = StateOK
	}
	return h
}

// Failing returns nil while writes go through, else the error of the last one (wrapping ErrFull or
// ErrWriteFailed). A caller about to do what it could not undo (write to a device) asks first.
func (db *DB) Failing() error {
	h := db.Health()
	switch h.State {
	case StateFull:
		return fmt.Errorf("%w: state.db at %s: %s", ErrFull, db.path, h.Err)
	case StateFailing:
		return fmt.Errorf("%w: state.db at %s: %s", ErrWriteFailed, db.path, h.Err)
	}
	return nil
}

// OnHealth calls fn, without holding any lock, each time the health changes (ok to full, full back to
// ok, ...) — once per change, however many writes failed in between: the daemon logs "state store
// full" once with it.
func (db *DB) OnHealth(fn func(Health)) {
	db.h.mu.Lock()
	db.h.watchers = append(db.h.watchers, fn)
	db.h.mu.Unlock()
}

// Probe tries a small write, to find out whether a failing store can write again when nothing else
// needs to. A full store is not tried until its file system has Options.RoomToRecover free.
func (db *DB) Probe() error {
	if err := db.Failing(); err != nil && errors.Is(err, ErrFull) && !db.hasRoom() {
		return err
	}
	return db.Update(func(tx *Tx) error {
		h := tx.tx.Bucket([]byte(ReservedBucket))
		if h == nil {
			return nil
		}
		return h.Put([]byte("probe"), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	})
}

// wrote records the outcome of a read-write transaction that fn did not fail, and returns err (nil,
// or the commit's error wrapped with the file and, for a disk problem, ErrFull or ErrWriteFailed).
func (db *DB) wrote(err error) error {
	if err == nil {
		db.h.mu.Lock()
		if db.h.cur.State == StateFull && !db.hasRoom() {
			db.h.mu.Unlock() // a reused page, not room: still full
			return nil
		}
		db.h.mu.Unlock()
		db.setHealth(Health{State: StateOK})
		return nil
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) || errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return fmt.Errorf("state.db at %s: %w", db.path, err) // not the disk's doing
	}
	state, sentinel := StateFailing, ErrWriteFailed
	if errno == syscall.ENOSPC || isQuota(errno) {
		state, sentinel = StateFull, ErrFull
	}
	db.setHealth(Health{State: state, Err: errno.Error()})
	return fmt.Errorf("%w: state.db at %s: %w", sentinel, db.path, err)
}

// setHealth moves to h (keeping Since while the state stays) and tells the watchers of a change.
func (db *DB) setHealth(h Health) {
	db.h.mu.Lock()
	prev := db.h.cur
	if prev.State == "" {
		prev.State = StateOK
	}
	if prev.State == h.State {
		if h.State != StateOK {
			db.h.cur.Err = h.Err
		}
		db.h.mu.Unlock()
		return
	}
	h.Since = time.Now().UTC()
	if h.State == StateOK {
		h.Since = time.Time{}
	}
	db.h.cur = h
	ws := append([]func(Health){}, db.h.watchers...)
	db.h.mu.Unlock()
	for _, fn := range ws {
		fn(h)
	}
}

// hasRoom reports whether the file system under the store has RoomToRecover free (true where that
// cannot be told).
func (db *DB) hasRoom() bool {
	free, ok := freeBytes(filepath.Dir(db.path))
	return !ok || free >= db.h.room
}
