package store

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The benchmarks put the cost of encryption on record next to the cost of
// storing: Put is dominated by bbolt's fsync per commit, Get by the
// decryption, and Seal/Unseal are the AES-GCM work alone.

var value1KiB = make([]byte, 1024)

func BenchmarkPut(b *testing.B) {
	db, err := Open(b.TempDir(), nil)
	require.NoError(b, err)
	defer db.Close()
	b.SetBytes(int64(len(value1KiB)))
	i := 0
	for b.Loop() {
		if err := db.Put("bench", fmt.Sprintf("k%04d", i%1000), value1KiB); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPutBatch is Put amortised over 100 values per commit, as an
// outbox or an inventory sweep would write them.
func BenchmarkPutBatch(b *testing.B) {
	db, err := Open(b.TempDir(), nil)
	require.NoError(b, err)
	defer db.Close()
	b.SetBytes(100 * int64(len(value1KiB)))
	for b.Loop() {
		err := db.Update(func(tx *Tx) error {
			for i := range 100 {
				if err := tx.Put("bench", fmt.Sprintf("k%04d", i), value1KiB); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	db, err := Open(b.TempDir(), nil)
	require.NoError(b, err)
	defer db.Close()
	require.NoError(b, db.Update(func(tx *Tx) error {
		for i := range 1000 {
			if err := tx.Put("bench", fmt.Sprintf("k%04d", i), value1KiB); err != nil {
				return err
			}
		}
		return nil
	}))
	b.SetBytes(int64(len(value1KiB)))
	i := 0
	for b.Loop() {
		if _, err := db.Get("bench", fmt.Sprintf("k%04d", i%1000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkSeal(b *testing.B) {
	s, err := newSealer(make([]byte, keySize))
	require.NoError(b, err)
	b.SetBytes(int64(len(value1KiB)))
	for b.Loop() {
		s.seal("bench", "k0001", value1KiB)
	}
}

func BenchmarkUnseal(b *testing.B) {
	s, err := newSealer(make([]byte, keySize))
	require.NoError(b, err)
	stored := s.seal("bench", "k0001", value1KiB)
	b.SetBytes(int64(len(value1KiB)))
	for b.Loop() {
		if _, err := s.open("bench", "k0001", stored); err != nil {
			b.Fatal(err)
		}
	}
}
