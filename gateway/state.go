package gateway

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/edgegw/edgegw/gateway/store"
)

// Store keeps the gateway's state across restarts: twins, claims and the audit log, each in its own
// bucket. gateway/store's DB is the one a daemon uses; without one the gateway keeps its state in
// memory (the discover command, tests).
type Store interface {
	// Write runs fn in one transaction: every write it made is kept, or (fn failed, the disk did) none.
	Write(fn func(w store.Writer) error) error
	// ForEach calls fn for each value of bucket in key order.
	ForEach(bucket string, fn func(key string, value []byte) error) error
	// ForEachPrefix is ForEach over the keys that begin with prefix, costing what it returns.
	ForEachPrefix(bucket, prefix string, fn func(key string, value []byte) error) error
	// Get returns the value at bucket/key; a missing one is an error wrapping store.ErrNotFound.
	Get(bucket, key string) ([]byte, error)
	// Path names the store in messages.
	Path() string
}

// memStore is the Store of a gateway that was given none.
type memStore struct {
	mu      sync.Mutex
	buckets map[string]map[string][]byte
}

func newMemStore() *memStore { return &memStore{buckets: map[string]map[string][]byte{}} }

func (m *memStore) Path() string { return "memory" }

func (m *memStore) Get(bucket, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.buckets[bucket][key]
	if !ok {
		return nil, fmt.Errorf("memory: get %q/%q: %w", bucket, key, store.ErrNotFound)
	}
	return slices.Clone(v), nil
}

func (m *memStore) Write(fn func(w store.Writer) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := &memTx{m: m, puts: map[[2]string][]byte{}, dels: map[[2]string]bool{}}
	if err := fn(tx); err != nil {
		return err
	}
	for k, v := range tx.puts {
		b := m.buckets[k[0]]
		if b == nil {
			b = map[string][]byte{}
			m.buckets[k[0]] = b
		}
		b[k[1]] = v
	}
	for k := range tx.dels {
		delete(m.buckets[k[0]], k[1])
	}
	return nil
}

func (m *memStore) ForEach(bucket string, fn func(key string, value []byte) error) error {
	return m.ForEachPrefix(bucket, "", fn)
}

func (m *memStore) ForEachPrefix(bucket, prefix string, fn func(key string, value []byte) error) error {
	m.mu.Lock()
	b := maps.Clone(m.buckets[bucket])
	m.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if err := fn(k, b[k]); err != nil {
			return err
		}
	}
	return nil
}

// memTx collects one transaction's writes; they land together when it ends without error.
type memTx struct {
	m    *memStore
	puts map[[2]string][]byte
	dels map[[2]string]bool
}

func (t *memTx) Put(bucket, key string, value []byte) error {
	k := [2]string{bucket, key}
	t.puts[k] = slices.Clone(value)
	delete(t.dels, k)
	return nil
}

func (t *memTx) Delete(bucket, key string) error {
	k := [2]string{bucket, key}
	delete(t.puts, k)
	t.dels[k] = true
	return nil
}
