package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

const (
	keySize   = 32 // AES-256
	nonceSize = 12 // the GCM standard nonce; random per value
)

// errKeyMissing is returned by readKey; Open turns it into the refusal or
// into creating a key, depending on whether state.db exists.
var errKeyMissing = errors.New("key file missing")

// readKey reads an existing key file. It returns a warning when the file
// is readable by others: not a refusal, because the operator may have
// reasons (a backup agent's group), but worth saying.
func readKey(path string) (key []byte, warning string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", errKeyMissing
	}
	if err != nil {
		return nil, "", fmt.Errorf("state.key at %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("state.key at %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, "", fmt.Errorf("state.key at %s is not a regular file (%s)", path, info.Mode().Type())
	}
	// Read one byte more than a key so a longer file is caught, but never
	// read a large file whole: whatever it is, it is not our key.
	key, err = io.ReadAll(io.LimitReader(f, keySize+1))
	if err != nil {
		return nil, "", fmt.Errorf("state.key at %s: %w", path, err)
	}
	if len(key) != keySize || info.Size() != keySize {
		return nil, "", fmt.Errorf("state.key at %s is %d bytes, want %d: not an edgegw key file", path, info.Size(), keySize)
	}
	// Windows reports permission bits that do not reflect its ACLs.
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		warning = fmt.Sprintf("state.key at %s has mode %04o; anyone who can read it can decrypt state.db: chmod 600 it", path, perm)
	}
	return key, warning, nil
}

// createKey makes a new random key file, or returns the one another
// process made first. The key is written and synced under a temporary name
// and then hard-linked into place: the link fails if state.key exists, so
// two first runs cannot each write their own key, and nobody can read a
// half-written key, even after a crash. Where the file system has no hard
// links, it falls back to O_EXCL on state.key itself.
func createKey(dir, path string) ([]byte, string, error) {
	key := make([]byte, keySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails; it crashes the program instead

	tmp, err := os.CreateTemp(dir, ".state.key-*") // CreateTemp uses mode 0600
	if err != nil {
		return nil, "", fmt.Errorf("create state.key in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	if err := writeSyncClose(tmp, key); err != nil {
		return nil, "", fmt.Errorf("create state.key in %s: %w", dir, err)
	}

	err = os.Link(tmp.Name(), path)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		var f *os.File
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			err = writeSyncClose(f, key)
			if err != nil {
				_ = os.Remove(path) // ours, and useless half-written
				return nil, "", fmt.Errorf("create state.key at %s: %w", path, err)
			}
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return readKey(path) // another process won the race: use its key
	}
	if err != nil {
		return nil, "", fmt.Errorf("create state.key at %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return nil, "", fmt.Errorf("create state.key at %s: %w", path, err)
	}
	return key, "", nil
}

func writeSyncClose(f *os.File, b []byte) error {
	_, err := f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a new directory entry durable, so a crash after Open
// cannot leave state.db without the key that encrypts it.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sealer encrypts values with AES-256-GCM. The additional data binds each
// value to its bucket and key, so a value copied (or swapped by someone
// with write access to the file) to another place fails to decrypt rather
// than being read as something it is not.
//
// Random 96-bit nonces keep the chance of a repeat within NIST SP 800-38D's
// bound for about 2^32 seals under one key. Every Put is a seal: at a
// sustained 100 writes/s that is reached in about 16 months, so a busy
// gateway that lives for years will need key rotation (re-encrypting
// under a new key), which this package does not do yet.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return sealer{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealer{}, err
	}
	return sealer{aead: aead}, nil
}

// additionalData is bucket NUL key. Bucket names cannot contain NUL (see
// checkBucket), so the split point is unambiguous.
func additionalData(bucket, key string) []byte {
	ad := make([]byte, 0, len(bucket)+1+len(key))
	ad = append(ad, bucket...)
	ad = append(ad, 0)
	return append(ad, key...)
}

// seal returns nonce || ciphertext || tag, in a new slice.
func (s sealer) seal(bucket, key string, plain []byte) []byte {
	out := make([]byte, nonceSize, nonceSize+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(out) // never fails, see createKey
	return s.aead.Seal(out, out, plain, additionalData(bucket, key))
}

// open decrypts what seal returned into a new slice, which the caller may
// keep: it does not alias bbolt's memory map.
func (s sealer) open(bucket, key string, stored []byte) ([]byte, error) {
	if len(stored) < nonceSize+s.aead.Overhead() {
		return nil, fmt.Errorf("stored value is %d bytes, too short to be encrypted", len(stored))
	}
	plain, err := s.aead.Open(nil, stored[:nonceSize], stored[nonceSize:], additionalData(bucket, key))
	if err != nil {
		return nil, err
	}
	if plain == nil {
		plain = []byte{} // an empty value is still a value
	}
	return plain, nil
}
