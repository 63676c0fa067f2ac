package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Tx is one transaction, handed to the function given to DB.Update or
// DB.View. Its methods mean what the DB methods of the same name mean, but
// see the writes made earlier in the same Update. It is valid only until
// that function returns, and only on the goroutine running it.
type Tx struct {
	tx *bolt.Tx
	db *DB
}

// checkName rejects what would make a value unreachable or ambiguous: an
// empty name (bbolt refuses empty keys), the store's own header bucket,
// and a NUL in a bucket name, which would let two different bucket/key
// pairs share the additional data a value is sealed with.
func checkName(bucket, key string, needKey bool) error {
	switch {
	case bucket == "":
		return errors.New("bucket name is empty")
	case bucket == ReservedBucket:
		return fmt.Errorf("bucket %q is reserved for the store's own header", bucket)
	case strings.IndexByte(bucket, 0) >= 0:
		return fmt.Errorf("bucket name %q contains a NUL byte", bucket)
	case needKey && key == "":
		return fmt.Errorf("bucket %q: key is empty", bucket)
	}
	return nil
}

// fail wraps err with the file, the operation and its target.
func (tx *Tx) fail(op, bucket, key string, err error) error {
	if key == "" {
		return fmt.Errorf("%s: %s bucket %q: %w", tx.db.path, op, bucket, err)
	}
	return fmt.Errorf("%s: %s %q/%q: %w", tx.db.path, op, bucket, key, err)
}

// Put stores value (which may be empty) under bucket/key, encrypted,
// creating the bucket if needed. value is not retained.
func (tx *Tx) Put(bucket, key string, value []byte) error {
	if err := checkName(bucket, key, true); err != nil {
		return tx.fail("put", bucket, key, err)
	}
	b, err := tx.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return tx.fail("put", bucket, key, err)
	}
	if err := b.Put([]byte(key), tx.db.seal.seal(bucket, key, value)); err != nil {
		return tx.fail("put", bucket, key, err)
	}
	return nil
}

// Get returns a decrypted copy of the value at bucket/key, which outlives
// the transaction. A missing bucket or key is an error wrapping
// ErrNotFound; a value that does not decrypt (corrupted, or moved from
// another key) is an error naming it, and leaves other values readable.
func (tx *Tx) Get(bucket, key string) ([]byte, error) {
	if err := checkName(bucket, key, true); err != nil {
		return nil, tx.fail("get", bucket, key, err)
	}
	b := tx.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil, tx.fail("get", bucket, key, ErrNotFound)
	}
	stored := b.Get([]byte(key))
	if stored == nil {
		return nil, tx.fail("get", bucket, key, ErrNotFound)
	}
	return tx.open(bucket, key, stored)
}

// open decrypts stored, which aliases bbolt's memory map and must not be
// kept; the result is a new slice.
func (tx *Tx) open(bucket, key string, stored []byte) ([]byte, error) {
	v, err := tx.db.seal.open(bucket, key, stored)
	if err != nil {
		return nil, tx.fail("decrypt", bucket, key, err)
	}
	return v, nil
}

// Delete removes bucket/key; a missing bucket or key is not an error.
// Empty buckets are kept: they cost one page entry and recreating them on
// the next Put would cost a write.
func (tx *Tx) Delete(bucket, key string) error {
	if err := checkName(bucket, key, true); err != nil {
		return tx.fail("delete", bucket, key, err)
	}
	b := tx.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	if err := b.Delete([]byte(key)); err != nil {
		return tx.fail("delete", bucket, key, err)
	}
	return nil
}

// ForEach calls fn with each key and decrypted value in bucket, in
// bytewise key order; value is a copy fn may keep. A missing bucket has no
// values. It stops at the first error fn returns, returning it as is, and
// at the first value that does not decrypt, returning an error naming it —
// a half-read listing is not passed off as a whole one. fn must not write
// to the same bucket (bbolt cursors do not survive it); collect the keys
// and write after.
func (tx *Tx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	return tx.ForEachPrefix(bucket, "", fn)
}

// ForEachPrefix is ForEach over the keys that begin with prefix only: it seeks to the first and stops
// after the last, so it costs what it returns, not the bucket's size.
func (tx *Tx) ForEachPrefix(bucket, prefix string, fn func(key string, value []byte) error) error {
	if err := checkName(bucket, "", false); err != nil {
		return tx.fail("list", bucket, "", err)
	}
	b := tx.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	c := b.Cursor()
	p := []byte(prefix)
	for k, stored := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, stored = c.Next() {
		if stored == nil {
			continue // a nested bucket; the store never makes one
		}
		key := string(k)
		v, err := tx.open(bucket, key, stored)
		if err != nil {
			return err
		}
		if err := fn(key, v); err != nil {
			return err
		}
	}
	return nil
}
