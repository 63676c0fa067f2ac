// Package store keeps the gateway's state — inventory, twins, claims,
// outbox, audit log — in one bbolt file, dir/state.db, with every value
// encrypted at rest under the key in dir/state.key.
//
// Values are sealed with AES-256-GCM, each under its own random nonce, with
// the bucket and key as additional data: a value moved to another key or
// bucket does not decrypt. Bucket names and keys are stored in plaintext
// (they are device ids and message ids, and bbolt needs them to order and
// find values), so callers must never put a secret in a bucket name or key.
//
// Open refuses, and leaves the file byte-for-byte as it found it, whenever
// the file is not plainly this gateway's state under this key: a missing or
// different key file, a bbolt file written by something else, a corrupt or
// truncated file, or a format newer than this build. Losing the key loses
// the state; that is the point of encrypting it, so Open never makes a new
// key for an existing state.db. The other way round, a state.key whose
// state.db is missing or empty is refused too (ErrNoState) unless the
// operator asks for empty state (Options.NewState): only a first run, which
// makes both, starts empty by itself.
//
// bbolt holds an exclusive lock on the file while it is open, so a second
// process (a CLI verb, a second daemon) waits Options.Timeout and then gets
// an error wrapping ErrInUse; CLI verbs talk to the daemon over its admin
// socket instead.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const (
	// DefaultTimeout is how long Open waits for another process's lock when
	// Options.Timeout is zero: long enough to ride out a restart, short
	// enough that a CLI user is not left staring at a silent terminal.
	DefaultTimeout = 2 * time.Second

	// ReservedBucket holds the store's own header; callers cannot use it.
	ReservedBucket = "_edgegw"

	dbFile  = "state.db"
	keyFile = "state.key"

	// The header in ReservedBucket. formatVersion goes up when the meaning
	// of stored bytes changes incompatibly; an older build then refuses
	// the file instead of misreading it.
	headerMagicKey    = "magic"
	headerVersionKey  = "version"
	headerKeyCheckKey = "keycheck"
	headerMagic       = "edgegw state"
	formatVersion     = 1
	keyCheckPlain     = "edgegw state key check"
)

var (
	// ErrNotFound is returned, wrapped with the bucket and key, by Get when
	// there is no such value.
	ErrNotFound = errors.New("not found")

	// ErrInUse is returned, wrapped with the path, by Open when another
	// process held the file's lock for all of Options.Timeout. It lets a
	// caller tell "try the admin socket" apart from a refusal.
	ErrInUse = errors.New("in use by another process")

	// ErrNoState is returned, wrapped with both paths, by Open when
	// state.key exists but state.db is missing or empty and
	// Options.NewState is not set.
	ErrNoState = errors.New("the state that state.key encrypts is gone")
)

// Options tunes Open. A nil *Options means all defaults.
type Options struct {
	// Timeout is how long to wait for the file lock held by another
	// process. Zero means DefaultTimeout (2s); negative means try once and
	// do not wait. Never "forever": a hung daemon must not hang the CLI.
	Timeout time.Duration

	// ReadOnly opens an existing state for reading under a shared lock
	// (several readers, no writer). It creates nothing: no directory, no
	// key, no file. Writes fail.
	ReadOnly bool

	// NewState allows starting with empty state where state.key exists
	// but state.db is missing or zero bytes long (edgegw run --new-state).
	// Without it Open refuses with ErrNoState: a key without its state is
	// what a restore that went wrong leaves, and silently starting empty
	// would forget every claim. It never empties a state.db that holds
	// anything.
	NewState bool

	// RoomToRecover is how many bytes the file system must have free before a store that found the
	// disk full is called healthy again; zero means DefaultRoomToRecover (1 MiB). See Health.
	RoomToRecover int64
}

// DB is the gateway's open state file. Its methods are safe for concurrent
// use; writes are serialised by bbolt, reads run in parallel.
type DB struct {
	bolt     *bolt.DB
	seal     sealer
	path     string
	warnings []string

	closeOnce sync.Once
	closeErr  error

	h health
}

// Open opens dir/state.db with the key dir/state.key, creating the
// directory (mode 0700), the key (32 random bytes, mode 0600) and the file
// on first run. See the package documentation for when it refuses.
func Open(dir string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // so every error names a path an operator can paste
	}
	dbPath := filepath.Join(dir, dbFile)
	keyPath := filepath.Join(dir, keyFile)

	dbInfo, err := os.Stat(dbPath)
	dbExists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("state.db at %s: %w", dbPath, err)
	}
	if !dbExists && o.ReadOnly {
		return nil, fmt.Errorf("state.db at %s does not exist, and a read-only open creates nothing: %w", dbPath, fs.ErrNotExist)
	}
	if dbExists && !dbInfo.Mode().IsRegular() {
		return nil, fmt.Errorf("state.db at %s is not a regular file (%s); refusing to touch it", dbPath, dbInfo.Mode().Type())
	}

	var warnings []string
	key, warning, err := readKey(keyPath)
	switch {
	case errors.Is(err, errKeyMissing) && dbExists:
		return nil, fmt.Errorf("state.key is missing; the state in state.db cannot be read without it (no %s for %s)", keyPath, dbPath)
	case errors.Is(err, errKeyMissing):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create state directory %s: %w", dir, err)
		}
		key, warning, err = createKey(dir, keyPath)
		if err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		// An existing key is a gateway that had state. Its state.db missing
		// or empty is a restore or a copy that went wrong, not a first run
		// (which makes the key and the file together): refuse unless told.
		if what := noState(dbExists, dbInfo); what != "" && !o.NewState && !o.ReadOnly {
			return nil, fmt.Errorf("state.db at %s %s but state.key at %s exists: %w (a restore that went wrong?). "+
				"Put back the state.db that goes with this key, or start with empty state, every claim and twin forgotten: "+
				"edgegw run --new-state", dbPath, what, keyPath, ErrNoState)
		} else if what != "" && o.NewState {
			warnings = append(warnings, fmt.Sprintf("state.db at %s %s; starting with empty state (--new-state)", dbPath, what))
		}
	}
	if warning != "" {
		warnings = append(warnings, warning)
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, fmt.Errorf("state.key at %s: %w", keyPath, err)
	}

	empty := !dbExists || dbInfo.Size() == 0
	if dbExists && dbInfo.Size() == 0 && o.ReadOnly {
		return nil, fmt.Errorf("state.db at %s is empty; nothing to read", dbPath)
	}

	if !empty {
		if err := checkBoltFile(dbPath); err != nil {
			return nil, errCorrupt(dbPath, err)
		}
		// Look inside read-only first: a read-write open may write to a
		// file before we have seen what it is (bbolt rewrites a freelist
		// it finds unsynced), and a refusal must leave the file as it was.
		ro, err := openBolt(dbPath, true, o.Timeout)
		if err != nil {
			return nil, err
		}
		err = guard(dbPath, nil, func() error {
			return ro.View(func(tx *bolt.Tx) error {
				_, err := inspect(tx, seal, dbPath)
				return err
			})
		})
		if cerr := ro.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("state.db at %s: %w", dbPath, cerr)
		}
		if err != nil {
			return nil, err
		}
	}

	bdb, err := openBolt(dbPath, o.ReadOnly, o.Timeout)
	if err != nil {
		return nil, err
	}
	// Inspect again under the lock we will keep: the file may have changed
	// between the two opens. Only a new file is written to, to give it its
	// header; a View first, because every bbolt commit rewrites a meta
	// page even when nothing changed.
	var state fileState
	err = guard(dbPath, nil, func() error {
		err := bdb.View(func(tx *bolt.Tx) error {
			var err error
			state, err = inspect(tx, seal, dbPath)
			return err
		})
		switch {
		case err != nil:
			return err
		case state == stateEmpty && o.ReadOnly:
			return fmt.Errorf("state.db at %s has no edgegw header yet; nothing to read", dbPath)
		case state == stateEmpty:
			// Update rolls back on error, so a refusal here writes nothing.
			return bdb.Update(func(tx *bolt.Tx) error {
				state, err := inspect(tx, seal, dbPath)
				if err != nil || state != stateEmpty {
					return err
				}
				return writeHeader(tx, seal)
			})
		}
		return nil
	})
	if err != nil {
		_ = bdb.Close()
		return nil, err
	}
	if o.RoomToRecover <= 0 {
		o.RoomToRecover = DefaultRoomToRecover
	}
	return &DB{bolt: bdb, seal: seal, path: dbPath, warnings: warnings, h: health{room: o.RoomToRecover}}, nil
}

// noState says what is wrong with a state.db that holds no state ("is
// missing", "is empty"), or "" when it has something in it.
func noState(exists bool, info fs.FileInfo) string {
	switch {
	case !exists:
		return "is missing"
	case info.Size() == 0:
		return "is empty (0 bytes)"
	}
	return ""
}

// openBolt opens the file with the lock timeout, and turns a lost race for
// the lock into ErrInUse.
func openBolt(path string, readOnly bool, timeout time.Duration) (*bolt.DB, error) {
	var (
		file    *os.File
		bdb     *bolt.DB
		openErr error
	)
	if err := guard(path, &file, func() error {
		bdb, openErr = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:  timeout,
			ReadOnly: readOnly,
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				f, err := os.OpenFile(name, flag, perm)
				file = f
				return f, err
			},
		})
		return nil
	}); err != nil {
		return nil, err
	}
	switch {
	case errors.Is(openErr, berrors.ErrTimeout):
		return nil, fmt.Errorf("state.db at %s is %w (is edgegw run already running?)", path, ErrInUse)
	case openErr != nil:
		return nil, fmt.Errorf("open state.db at %s: %w", path, openErr)
	}
	return bdb, nil
}

// guard runs fn, turning a panic or a memory fault inside bbolt — which
// trusts the page ids it reads — into a "corrupt" error. If bbolt panicked
// half-way through opening, *file is the descriptor it leaked; closing it
// releases the lock.
func guard(path string, file **os.File, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil && *file != nil {
				_ = (*file).Close()
			}
			err = errCorrupt(path, fmt.Errorf("%v", r))
		}
	}()
	return fn()
}

func errCorrupt(path string, detail error) error {
	return fmt.Errorf("state.db at %s is corrupt or not a bbolt file: %w", path, detail)
}

type fileState int

const (
	stateEmpty fileState = iota // a bbolt file with nothing in it: ours to initialise
	stateOurs
)

// inspect decides whether the file is ours and readable with this key.
func inspect(tx *bolt.Tx, seal sealer, path string) (fileState, error) {
	foreign := fmt.Errorf("state.db at %s is not an edgegw state file (no edgegw header); refusing to touch it", path)
	h := tx.Bucket([]byte(ReservedBucket))
	if h == nil {
		if name, _ := tx.Cursor().First(); name != nil {
			return 0, foreign
		}
		return stateEmpty, nil
	}
	if string(h.Get([]byte(headerMagicKey))) != headerMagic {
		return 0, foreign
	}
	raw := h.Get([]byte(headerVersionKey))
	version, err := strconv.Atoi(string(raw))
	if err != nil || version < 1 {
		return 0, errCorrupt(path, fmt.Errorf("bad format version %q in the edgegw header", raw))
	}
	if version > formatVersion {
		return 0, fmt.Errorf("state.db at %s has format version %d, newer than this edgegw understands (%d): upgrade edgegw", path, version, formatVersion)
	}
	check := h.Get([]byte(headerKeyCheckKey))
	if check == nil {
		return 0, errCorrupt(path, errors.New("no key check in the edgegw header"))
	}
	plain, err := seal.open(ReservedBucket, headerKeyCheckKey, check)
	if err != nil || string(plain) != keyCheckPlain {
		return 0, fmt.Errorf("state.key does not match state.db (%s): wrong key file?", path)
	}
	return stateOurs, nil
}

// writeHeader marks a new file as ours. The key check is a known value
// sealed under the key, so a wrong key is reported as such at Open rather
// than as a failure of whichever value is read first.
func writeHeader(tx *bolt.Tx, seal sealer) error {
	h, err := tx.CreateBucket([]byte(ReservedBucket))
	if err != nil {
		return err
	}
	for k, v := range map[string][]byte{
		headerMagicKey:    []byte(headerMagic),
		headerVersionKey:  []byte(strconv.Itoa(formatVersion)),
		headerKeyCheckKey: seal.seal(ReservedBucket, headerKeyCheckKey, []byte(keyCheckPlain)),
	} {
		if err := h.Put([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

// Path is the state file's absolute path, for logs and error messages.
func (db *DB) Path() string { return db.path }

// Warnings lists what Open found worth telling the operator but not worth
// refusing over, such as a key file readable by group or others. The
// daemon logs them once at start.
func (db *DB) Warnings() []string { return append([]string(nil), db.warnings...) }

// Close releases the file and its lock, waiting for running transactions.
// Calling it again does nothing and returns nil.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if err := db.bolt.Close(); err != nil {
			db.closeErr = fmt.Errorf("close state.db at %s: %w", db.path, err)
		}
	})
	return db.closeErr
}

// Update runs fn in one read-write transaction: either every write fn
// made is committed (and synced to disk) or, if fn returns an error or
// panics, none is. The error fn returned is returned as is.
//
// A commit the disk refuses is an error wrapping ErrFull (no room) or ErrWriteFailed (another I/O
// error), and changes Health.
func (db *DB) Update(fn func(tx *Tx) error) error {
	if err := db.writeFault(); err != nil {
		return db.wrote(err)
	}
	var fnErr error
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		fnErr = fn(&Tx{tx: btx, db: db})
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return db.wrote(err)
}

// View runs fn in a read-only transaction that sees one consistent
// snapshot. Long views hold back the reuse of freed pages, so keep them
// short. The error fn returned is returned as is.
func (db *DB) View(fn func(tx *Tx) error) error {
	return db.run(db.bolt.View, fn)
}

// run passes fn's own error through untouched, so callers can match it,
// and names the file in bbolt's (a failed commit, a closed DB).
func (db *DB) run(txFunc func(func(*bolt.Tx) error) error, fn func(tx *Tx) error) error {
	var fnErr error
	err := txFunc(func(btx *bolt.Tx) error {
		fnErr = fn(&Tx{tx: btx, db: db})
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("state.db at %s: %w", db.path, err)
	}
	return err
}

// Put stores value under bucket/key in its own transaction, creating the
// bucket if needed. Each call is one synced commit: use Update for many.
func (db *DB) Put(bucket, key string, value []byte) error {
	return db.Update(func(tx *Tx) error { return tx.Put(bucket, key, value) })
}

// Get returns a copy of the value at bucket/key, which the caller may keep
// and modify. A missing bucket or key is an error wrapping ErrNotFound.
func (db *DB) Get(bucket, key string) ([]byte, error) {
	var v []byte
	err := db.View(func(tx *Tx) error {
		var err error
		v, err = tx.Get(bucket, key)
		return err
	})
	return v, err
}

// Delete removes bucket/key. Deleting what is not there is not an error,
// so a retried delete is harmless.
func (db *DB) Delete(bucket, key string) error {
	return db.Update(func(tx *Tx) error { return tx.Delete(bucket, key) })
}

// ForEach calls fn for each value in bucket in key order (bytewise). A
// missing bucket has no values. See Tx.ForEach.
func (db *DB) ForEach(bucket string, fn func(key string, value []byte) error) error {
	return db.View(func(tx *Tx) error { return tx.ForEach(bucket, fn) })
}

// ForEachPrefix calls fn for each value in bucket whose key begins with prefix, in key order. See
// Tx.ForEachPrefix.
func (db *DB) ForEachPrefix(bucket, prefix string, fn func(key string, value []byte) error) error {
	return db.View(func(tx *Tx) error { return tx.ForEachPrefix(bucket, prefix, fn) })
}

// Writer is the write half of a transaction (Tx is one): what a caller that only writes needs, so it
// can take any store.
type Writer interface {
	Put(bucket, key string, value []byte) error
	Delete(bucket, key string) error
}

// Write is Update for a function that only writes.
func (db *DB) Write(fn func(w Writer) error) error {
	return db.Update(func(tx *Tx) error { return fn(tx) })
}
