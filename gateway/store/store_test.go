package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openNew opens a store in a fresh directory and closes it at the end.
func openNew(t *testing.T) (*DB, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	db, err := Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, dir
}

func TestRoundTrip(t *testing.T) {
	db, dir := openNew(t)
	require.Equal(t, filepath.Join(dir, "state.db"), db.Path())
	require.Empty(t, db.Warnings())

	require.NoError(t, db.Put("twins", "mac-001122aabbcc", []byte(`{"a":1}`)))
	got, err := db.Get("twins", "mac-001122aabbcc")
	require.NoError(t, err)
	require.Equal(t, []byte(`{"a":1}`), got)

	// Overwrite, empty value.
	require.NoError(t, db.Put("twins", "mac-001122aabbcc", nil))
	got, err = db.Get("twins", "mac-001122aabbcc")
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Empty(t, got)

	require.NoError(t, db.Delete("twins", "mac-001122aabbcc"))
	_, err = db.Get("twins", "mac-001122aabbcc")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, `"twins"/"mac-001122aabbcc"`)
	require.ErrorContains(t, err, db.Path())

	// Absent things.
	require.NoError(t, db.Delete("twins", "never"))
	require.NoError(t, db.Delete("nobucket", "never"))
	_, err = db.Get("nobucket", "k")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestGetReturnsACopy(t *testing.T) {
	db, _ := openNew(t)
	require.NoError(t, db.Put("b", "k", []byte("hello")))

	var kept []byte
	require.NoError(t, db.View(func(tx *Tx) error {
		var err error
		kept, err = tx.Get("b", "k")
		return err
	}))
	// Churn the file so pages the transaction saw are reused.
	for i := range 200 {
		require.NoError(t, db.Put("b", fmt.Sprintf("k%03d", i), bytes.Repeat([]byte{'x'}, 512)))
	}
	require.NoError(t, db.Put("b", "k", []byte("HELLO")))
	require.Equal(t, []byte("hello"), kept)

	got, err := db.Get("b", "k")
	require.NoError(t, err)
	got[0] = 'J'
	again, err := db.Get("b", "k")
	require.NoError(t, err)
	require.Equal(t, []byte("HELLO"), again)
}

func TestReopenRestoresEverything(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	db, err := Open(dir, nil)
	require.NoError(t, err)
	want := map[string]map[string]string{
		"twins":  {"mac-001122aabbcc": "twin 1", "mac-001122aabbcd": "twin 2"},
		"claims": {"mac-001122aabbcc": "claimed"},
		"outbox": {"0001": "msg 1"},
	}
	for b, kv := range want {
		for k, v := range kv {
			require.NoError(t, db.Put(b, k, []byte(v)))
		}
	}
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")
	require.ErrorContains(t, db.Put("b", "k", nil), "state.db at "+db.Path()+": database not open")

	db, err = Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	for b, kv := range want {
		got := map[string]string{}
		require.NoError(t, db.ForEach(b, func(k string, v []byte) error {
			got[k] = string(v)
			return nil
		}))
		require.Equal(t, kv, got, "bucket %s", b)
	}
}

func TestFirstRunCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	db, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	info, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o700), info.Mode().Perm())

	info, err = os.Stat(filepath.Join(dir, "state.key"))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), info.Mode().Perm())
	require.EqualValues(t, 32, info.Size())

	info, err = os.Stat(filepath.Join(dir, "state.db"))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), info.Mode().Perm())

	// No temporary key files are left behind.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2)

	// A key readable by others is a warning, not a refusal.
	require.NoError(t, os.Chmod(filepath.Join(dir, "state.key"), 0o644))
	db, err = Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	require.Len(t, db.Warnings(), 1)
	require.Contains(t, db.Warnings()[0], "0644")
	require.Contains(t, db.Warnings()[0], filepath.Join(dir, "state.key"))
}

// TestStateFilePolicy: a state.key without its state.db — missing, or zero bytes long, as a restore
// that went wrong leaves it — is refused, naming both files and leaving them as they are, unless the
// operator says to start with empty state (Options.NewState, edgegw run --new-state). Before this
// policy both were silently replaced by an empty state: a gateway that forgot every claim.
func TestStateFilePolicy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		db    []byte // nil: no state.db
		exist bool
	}{{"missing state.db", nil, false}, {"zero-length state.db", []byte{}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			key := bytes.Repeat([]byte{7}, 32)
			keyPath, dbPath := filepath.Join(dir, "state.key"), filepath.Join(dir, "state.db")
			require.NoError(t, os.WriteFile(keyPath, key, 0o600))
			if tc.exist {
				require.NoError(t, os.WriteFile(dbPath, tc.db, 0o600))
			}
			_, err := Open(dir, nil)
			require.Error(t, err)
			require.ErrorIs(t, err, ErrNoState)
			require.ErrorContains(t, err, dbPath)
			require.ErrorContains(t, err, keyPath)
			require.ErrorContains(t, err, "--new-state")
			info, statErr := os.Stat(dbPath)
			if tc.exist {
				require.NoError(t, statErr)
				require.Zero(t, info.Size(), "left as it was")
			} else {
				require.ErrorIs(t, statErr, fs.ErrNotExist, "nothing created")
			}

			db, err := Open(dir, &Options{NewState: true})
			require.NoError(t, err)
			require.Len(t, db.Warnings(), 1)
			require.Contains(t, db.Warnings()[0], "starting with empty state")
			require.NoError(t, db.Put("b", "k", []byte("v")))
			require.NoError(t, db.Close())
			got, err := os.ReadFile(keyPath)
			require.NoError(t, err)
			require.Equal(t, key, got, "the given key is used, not replaced")

			// Once it holds state, the switch changes nothing: it never empties a state file.
			db, err = Open(dir, &Options{NewState: true})
			require.NoError(t, err)
			require.Empty(t, db.Warnings())
			v, err := db.Get("b", "k")
			require.NoError(t, err)
			require.Equal(t, []byte("v"), v)
			require.NoError(t, db.Close())
		})
	}
}

func TestKeyCreationRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.key")
	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			keys[i], _, errs[i] = createKey(dir, path)
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, keys[0], keys[i], "every racer ends up with the one key on disk")
	}
	onDisk, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, keys[0], onDisk)
}

func TestValuesEncryptedAtRest(t *testing.T) {
	db, dir := openNew(t)
	secret := []byte("plaintext-marker-5f2c9e")
	require.NoError(t, db.Put("bucket-marker", "key-marker", secret))
	require.NoError(t, db.Close())

	raw, err := os.ReadFile(filepath.Join(dir, "state.db"))
	require.NoError(t, err)
	require.NotContains(t, string(raw), string(secret))
	require.Contains(t, string(raw), "key-marker", "keys are plaintext, as documented")
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// makeState creates a state with some data in dir and closes it.
func makeState(t testing.TB, dir string) {
	t.Helper()
	db, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *Tx) error {
		for i := range 300 {
			if err := tx.Put("twins", fmt.Sprintf("mac-%012x", i), bytes.Repeat([]byte{'t'}, 700)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())
}

// editBolt changes a file with bbolt directly, as another program would.
func editBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, b.Update(fn))
	require.NoError(t, b.Close())
}

func writeRandomKey(t *testing.T, path string) {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	require.NoError(t, os.WriteFile(path, key, 0o600))
}

// TestRefusals covers every way Open refuses a state directory, and that
// each leaves state.db (and state.key) byte-for-byte as it was.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // {db} and {key} stand for the paths
	}{
		{
			name: "wrong key",
			setup: func(t *testing.T, dir string) {
				makeState(t, dir)
				writeRandomKey(t, filepath.Join(dir, "state.key"))
			},
			want: "state.key does not match state.db ({db}): wrong key file?",
		},
		{
			name: "missing key",
			setup: func(t *testing.T, dir string) {
				makeState(t, dir)
				require.NoError(t, os.Remove(filepath.Join(dir, "state.key")))
			},
			want: "state.key is missing; the state in state.db cannot be read without it",
		},
		{
			name: "missing key, empty db file",
			setup: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "state.db"), nil, 0o600))
			},
			want: "state.key is missing; the state in state.db cannot be read without it",
		},
		{
			name: "key too short",
			setup: func(t *testing.T, dir string) {
				makeState(t, dir)
				require.NoError(t, os.WriteFile(filepath.Join(dir, "state.key"), make([]byte, 16), 0o600))
			},
			want: "state.key at {key} is 16 bytes, want 32: not an edgegw key file",
		},
		{
			name: "key too long",
			setup: func(t *testing.T, dir string) {
				makeState(t, dir)
				require.NoError(t, os.WriteFile(filepath.Join(dir, "state.key"), make([]byte, 33), 0o600))
			},
			want: "state.key at {key} is 33 bytes, want 32",
		},
		{
			name: "random bytes",
			setup: func(t *testing.T, dir string) {
				writeRandomKey(t, filepath.Join(dir, "state.key"))
				junk := make([]byte, 64<<10)
				_, _ = rand.Read(junk)
				require.NoError(t, os.WriteFile(filepath.Join(dir, "state.db"), junk, 0o600))
			},
			want: "state.db at {db} is corrupt or not a bbolt file: no bbolt magic",
		},
		{
			name: "tiny file",
			setup: func(t *testing.T, dir string) {
				writeRandomKey(t, filepath.Join(dir, "state.key"))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "state.db"), []byte("hello"), 0o600))
			},
			want: "state.db at {db} is corrupt or not a bbolt file: only 5 bytes",
		},
		{
			name: "text file",
			setup: func(t *testing.T, dir string) {
				writeRandomKey(t, filepath.Join(dir, "state.key"))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "state.db"), bytes.Repeat([]byte("[state]\n"), 1000), 0o600))
			},
			want: "state.db at {db} is corrupt or not a bbolt file",
		},
		{
			name: "truncated to less than a page",
			setup: func(t *testing.T, dir string) {
				makeState(t, dir)
				require.NoError(t, os.Truncate(filepath.Join(dir, "state.db"), 3000))
			},
			want: "state.db at {db} is corrupt or not a bbolt file",
		},
		{
			name: "truncated by one page",
			setup: func(t *testing.T, dir string) {
				makeState(t, dir)
				path := filepath.Join(dir, "state.db")
				buf, err := os.ReadFile(path)
				require.NoError(t, err)
				m := parseMeta(buf)
				require.Empty(t, m.problem())
				require.NoError(t, os.Truncate(path, int64((m.hwm-1)*uint64(m.pageSize))))
			},
			want: "state.db at {db} is corrupt or not a bbolt file: truncated",
		},
		{
			name: "truncated by half",
			setup: func(t *testing.T, dir string) {
				makeState(t, dir)
				path := filepath.Join(dir, "state.db")
				info, err := os.Stat(path)
				require.NoError(t, err)
				require.NoError(t, os.Truncate(path, info.Size()/2))
			},
			want: "state.db at {db} is corrupt or not a bbolt file: truncated",
		},
		{
			name: "both meta pages damaged",
			setup: func(t *testing.T, dir string) {
				makeState(t, dir)
				path := filepath.Join(dir, "state.db")
				buf, err := os.ReadFile(path)
				require.NoError(t, err)
				ps := parseMeta(buf).pageSize
				buf[pageHeaderSize+20] ^= 0xff         // meta 0's root page id
				buf[int(ps)+pageHeaderSize+20] ^= 0xff // meta 1's
				require.NoError(t, os.WriteFile(path, buf, 0o600))
			},
			want: "state.db at {db} is corrupt or not a bbolt file: meta page checksum mismatch",
		},
		{
			name: "foreign bbolt file",
			setup: func(t *testing.T, dir string) {
				writeRandomKey(t, filepath.Join(dir, "state.key"))
				editBolt(t, filepath.Join(dir, "state.db"), func(tx *bolt.Tx) error {
					b, err := tx.CreateBucket([]byte("x"))
					if err != nil {
						return err
					}
					return b.Put([]byte("k"), []byte("v"))
				})
			},
			want: "state.db at {db} is not an edgegw state file (no edgegw header); refusing to touch it",
		},
		{
			name: "foreign bbolt file without a key file",
			setup: func(t *testing.T, dir string) {
				editBolt(t, filepath.Join(dir, "state.db"), func(tx *bolt.Tx) error {
					_, err := tx.CreateBucket([]byte("x"))
					return err
				})
			},
			want: "state.key is missing",
		},
		{
			name: "foreign header",
			setup: func(t *testing.T, dir string) {
				writeRandomKey(t, filepath.Join(dir, "state.key"))
				editBolt(t, filepath.Join(dir, "state.db"), func(tx *bolt.Tx) error {
					b, err := tx.CreateBucket([]byte(ReservedBucket))
					if err != nil {
						return err
					}
					return b.Put([]byte("magic"), []byte("something else"))
				})
			},
			want: "state.db at {db} is not an edgegw state file (no edgegw header); refusing to touch it",
		},
		{
			name: "newer format",
			setup: func(t *testing.T, dir string) {
				makeState(t, dir)
				editBolt(t, filepath.Join(dir, "state.db"), func(tx *bolt.Tx) error {
					return tx.Bucket([]byte(ReservedBucket)).Put([]byte("version"), []byte("2"))
				})
			},
			want: "state.db at {db} has format version 2, newer than this edgegw understands (1): upgrade edgegw",
		},
		{
			name: "no key check",
			setup: func(t *testing.T, dir string) {
				makeState(t, dir)
				editBolt(t, filepath.Join(dir, "state.db"), func(tx *bolt.Tx) error {
					return tx.Bucket([]byte(ReservedBucket)).Delete([]byte("keycheck"))
				})
			},
			want: "state.db at {db} is corrupt or not a bbolt file: no key check in the edgegw header",
		},
		{
			name: "directory in place of the file",
			setup: func(t *testing.T, dir string) {
				require.NoError(t, os.Mkdir(filepath.Join(dir, "state.db"), 0o700))
			},
			want: "state.db at {db} is not a regular file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			dbPath := filepath.Join(dir, "state.db")
			keyPath := filepath.Join(dir, "state.key")
			hashes := func() map[string][32]byte {
				h := map[string][32]byte{}
				for _, p := range []string{dbPath, keyPath} {
					if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
						h[p] = sum(t, p)
					}
				}
				return h
			}
			before := hashes()
			entriesBefore, err := os.ReadDir(dir)
			require.NoError(t, err)

			for _, ro := range []bool{false, true} {
				db, err := Open(dir, &Options{ReadOnly: ro})
				if db != nil {
					_ = db.Close()
				}
				require.Error(t, err, "read-only %v", ro)
				require.ErrorContains(t, err, strings.NewReplacer("{db}", dbPath, "{key}", keyPath).Replace(tt.want), "read-only %v", ro)
			}

			require.Equal(t, before, hashes(), "a refusal must leave the files unchanged")
			entriesAfter, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Equal(t, len(entriesBefore), len(entriesAfter), "a refusal must create nothing")
		})
	}
}

func TestOneDamagedMetaPageStillOpens(t *testing.T) {
	// bbolt keeps two meta pages so that a write torn by a crash leaves the
	// other; the header check must not refuse what bbolt can recover.
	for _, page := range []int{0, 1} {
		t.Run(fmt.Sprint("meta ", page), func(t *testing.T) {
			dir := t.TempDir()
			makeState(t, dir)
			path := filepath.Join(dir, "state.db")
			buf, err := os.ReadFile(path)
			require.NoError(t, err)
			off := page*int(parseMeta(buf).pageSize) + pageHeaderSize + 20
			buf[off] ^= 0xff
			require.NoError(t, os.WriteFile(path, buf, 0o600))

			db, err := Open(dir, nil)
			require.NoError(t, err)
			defer db.Close()
			// Damaging the newer meta page rolls back to the transaction
			// before, which may not have the twins yet: that is bbolt's
			// recovery, and still a readable state.
			_, err = db.Get("twins", fmt.Sprintf("mac-%012x", 1))
			if err != nil {
				require.ErrorIs(t, err, ErrNotFound)
			}
		})
	}
}

func TestEmptyBoltFileGetsHeader(t *testing.T) {
	dir := t.TempDir()
	writeRandomKey(t, filepath.Join(dir, "state.key"))
	editBolt(t, filepath.Join(dir, "state.db"), func(*bolt.Tx) error { return nil })

	db, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, db.Put("b", "k", []byte("v")))
	require.NoError(t, db.Close())

	db, err = Open(dir, &Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	v, err := db.Get("b", "k")
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
}

// moveRaw copies the stored (encrypted) bytes of one value to another
// place with bbolt directly, as someone with write access to the file could.
func moveRaw(t *testing.T, dbPath, fromBucket, fromKey, toBucket, toKey string) {
	t.Helper()
	editBolt(t, dbPath, func(tx *bolt.Tx) error {
		raw := bytes.Clone(tx.Bucket([]byte(fromBucket)).Get([]byte(fromKey)))
		b, err := tx.CreateBucketIfNotExists([]byte(toBucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(toKey), raw)
	})
}

func TestValueBoundToItsKey(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, db.Put("claims", "mac-1", []byte("claimed")))
	require.NoError(t, db.Put("claims", "mac-2", []byte("unclaimed")))
	require.NoError(t, db.Close())

	dbPath := filepath.Join(dir, "state.db")
	moveRaw(t, dbPath, "claims", "mac-1", "claims", "mac-2")
	moveRaw(t, dbPath, "claims", "mac-1", "other", "mac-1")
	// Also a value shortened to less than a nonce, and one with a flipped bit.
	editBolt(t, dbPath, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("claims"))
		raw := bytes.Clone(b.Get([]byte("mac-1")))
		raw[len(raw)-1] ^= 1
		if err := b.Put([]byte("mac-3"), raw); err != nil {
			return err
		}
		return b.Put([]byte("mac-4"), []byte("short"))
	})

	db, err = Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	for _, c := range []struct{ bucket, key string }{
		{"claims", "mac-2"}, {"other", "mac-1"}, {"claims", "mac-3"}, {"claims", "mac-4"},
	} {
		_, err := db.Get(c.bucket, c.key)
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrNotFound)
		require.ErrorContains(t, err, fmt.Sprintf("decrypt %q/%q", c.bucket, c.key))
	}
	v, err := db.Get("claims", "mac-1")
	require.NoError(t, err, "the other values stay readable")
	require.Equal(t, []byte("claimed"), v)

	// A listing stops at the bad value rather than pretending to be whole.
	var seen []string
	err = db.ForEach("claims", func(k string, _ []byte) error {
		seen = append(seen, k)
		return nil
	})
	require.ErrorContains(t, err, `decrypt "claims"/"mac-2"`)
	require.Equal(t, []string{"mac-1"}, seen)
}

func TestForEach(t *testing.T) {
	db, _ := openNew(t)
	keys := []string{"m", "a", "z", "b", "aa", "B", "0"}
	for _, k := range keys {
		require.NoError(t, db.Put("b", k, []byte("v-"+k)))
	}
	require.NoError(t, db.Put("other", "x", []byte("x")))

	var got []string
	require.NoError(t, db.ForEach("b", func(k string, v []byte) error {
		require.Equal(t, "v-"+k, string(v))
		got = append(got, k)
		return nil
	}))
	require.Equal(t, []string{"0", "B", "a", "aa", "b", "m", "z"}, got)

	called := false
	require.NoError(t, db.ForEach("missing", func(string, []byte) error { called = true; return nil }))
	require.False(t, called, "a missing bucket is empty")

	stop := errors.New("stop")
	n := 0
	err := db.ForEach("b", func(string, []byte) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n)
}

func TestUpdateIsAtomic(t *testing.T) {
	db, _ := openNew(t)
	require.NoError(t, db.Put("b", "keep", []byte("old")))

	boom := errors.New("boom")
	err := db.Update(func(tx *Tx) error {
		if err := tx.Put("b", "keep", []byte("new")); err != nil {
			return err
		}
		if err := tx.Put("b", "added", []byte("x")); err != nil {
			return err
		}
		if err := tx.Put("newbucket", "k", []byte("x")); err != nil {
			return err
		}
		if err := tx.Delete("b", "keep"); err != nil {
			return err
		}
		v, err := tx.Get("b", "added")
		if err != nil || string(v) != "x" {
			return fmt.Errorf("a transaction sees its own writes: %q, %v", v, err)
		}
		return boom
	})
	require.ErrorIs(t, err, boom)

	v, err := db.Get("b", "keep")
	require.NoError(t, err)
	require.Equal(t, []byte("old"), v)
	_, err = db.Get("b", "added")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = db.Get("newbucket", "k")
	require.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, db.Update(func(tx *Tx) error {
		if err := tx.Put("b", "one", []byte("1")); err != nil {
			return err
		}
		return tx.Put("c", "two", []byte("2"))
	}))
	v, err = db.Get("c", "two")
	require.NoError(t, err)
	require.Equal(t, []byte("2"), v)

	err = db.View(func(tx *Tx) error { return tx.Put("b", "k", []byte("v")) })
	require.Error(t, err, "a view cannot write")
}

func TestBadNames(t *testing.T) {
	db, _ := openNew(t)
	tests := []struct{ bucket, key, want string }{
		{"", "k", "bucket name is empty"},
		{"b", "", `bucket "b": key is empty`},
		{ReservedBucket, "magic", `bucket "_edgegw" is reserved`},
		{"a\x00b", "k", "contains a NUL byte"},
	}
	for _, tt := range tests {
		require.ErrorContains(t, db.Put(tt.bucket, tt.key, []byte("v")), tt.want)
		_, err := db.Get(tt.bucket, tt.key)
		require.ErrorContains(t, err, tt.want)
		require.ErrorContains(t, db.Delete(tt.bucket, tt.key), tt.want)
	}
	require.ErrorContains(t, db.ForEach(ReservedBucket, func(string, []byte) error { return nil }), "reserved")
	require.ErrorContains(t, db.ForEach("", func(string, []byte) error { return nil }), "bucket name is empty")

	// A NUL in a key is fine: it comes after the separator.
	require.NoError(t, db.Put("b", "k\x00x", []byte("v")))
}

func TestLockContention(t *testing.T) {
	db, dir := openNew(t)
	require.NoError(t, db.Put("b", "k", []byte("v")))

	// bbolt locks with flock, which binds to the open file description, so
	// a second open in this process contends like another process would.
	for _, ro := range []bool{false, true} {
		start := time.Now()
		second, err := Open(dir, &Options{Timeout: 200 * time.Millisecond, ReadOnly: ro})
		if second != nil {
			_ = second.Close()
		}
		require.ErrorIs(t, err, ErrInUse, "read-only %v", ro)
		require.EqualError(t, err, fmt.Sprintf("state.db at %s is in use by another process (is edgegw run already running?)", db.Path()))
		require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond, "it waited")
	}

	// Once the holder closes, the lock is free.
	require.NoError(t, db.Close())
	second, err := Open(dir, &Options{Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer second.Close()
	v, err := second.Get("b", "k")
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	makeState(t, dir)
	before := sum(t, filepath.Join(dir, "state.db"))

	a, err := Open(dir, &Options{ReadOnly: true})
	require.NoError(t, err)
	defer a.Close()
	b, err := Open(dir, &Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	require.NoError(t, err, "readers share the lock")
	defer b.Close()

	v, err := a.Get("twins", fmt.Sprintf("mac-%012x", 5))
	require.NoError(t, err)
	require.Len(t, v, 700)
	require.Error(t, a.Put("twins", "x", []byte("y")))
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	require.Equal(t, before, sum(t, filepath.Join(dir, "state.db")))

	missing := filepath.Join(t.TempDir(), "nothing")
	_, err = Open(missing, &Options{ReadOnly: true})
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = os.Stat(missing)
	require.ErrorIs(t, err, fs.ErrNotExist, "a read-only open creates nothing")
}

func TestConcurrentUse(t *testing.T) {
	db, _ := openNew(t)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				k := fmt.Sprintf("w%d-%d", w, i)
				if err := db.Put("b", k, []byte(k)); err != nil {
					t.Error(err)
					return
				}
				if v, err := db.Get("b", k); err != nil || string(v) != k {
					t.Errorf("get %s: %q, %v", k, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	n := 0
	require.NoError(t, db.ForEach("b", func(string, []byte) error { n++; return nil }))
	require.Equal(t, 160, n)
}
