package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/internal/smallfs"
)

// TestFullDisk fills the file system under a store (a tmpfs of its own): a write that finds no room
// fails with ErrFull naming the file, reads go on, the store's health says "full" once (not per
// write) until a write goes through again, and after room comes back the file holds everything that
// was stored before and opens again.
func TestFullDisk(t *testing.T) {
	fs := smallfs.Mount(t, 4<<20)
	dir := filepath.Join(fs, "state")
	db, err := Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	var mu sync.Mutex
	var changes []Health
	db.OnHealth(func(h Health) { mu.Lock(); changes = append(changes, h); mu.Unlock() })
	require.Equal(t, StateOK, db.Health().State)
	require.NoError(t, db.Failing())

	require.NoError(t, db.Put("b", "before", []byte("kept")))
	filler := smallfs.Fill(t, fs, "filler", 8<<20)
	value := bytes.Repeat([]byte{1}, 64<<10)
	var werr error
	for i := range 200 {
		if werr = db.Put("b", fmt.Sprintf("k%03d", i), value); werr != nil {
			break
		}
	}
	require.Error(t, werr, "the disk filled up")
	require.ErrorIs(t, werr, ErrFull)
	require.ErrorContains(t, werr, "state store full")
	require.ErrorContains(t, werr, db.Path())
	for range 5 {
		require.ErrorIs(t, db.Put("b", "more", value), ErrFull)
	}
	h := db.Health()
	require.Equal(t, StateFull, h.State)
	require.Contains(t, h.Err, "no space left on device")
	require.False(t, h.Since.IsZero())
	require.ErrorIs(t, db.Failing(), ErrFull)
	mu.Lock()
	require.Len(t, changes, 1, "one change, however many writes failed")
	mu.Unlock()
	v, err := db.Get("b", "before")
	require.NoError(t, err, "reads go on")
	require.Equal(t, []byte("kept"), v)
	require.ErrorIs(t, db.Probe(), ErrFull)

	require.NoError(t, os.Remove(filler))
	require.NoError(t, db.Probe())
	require.Equal(t, StateOK, db.Health().State)
	mu.Lock()
	require.Len(t, changes, 2)
	require.Equal(t, StateOK, changes[1].State)
	mu.Unlock()
	require.NoError(t, db.Put("b", "after", value))
	require.NoError(t, db.Close())

	db, err = Open(dir, nil)
	require.NoError(t, err)
	for _, k := range []string{"before", "after"} {
		_, err := db.Get("b", k)
		require.NoError(t, err, k)
	}
}

// TestWriteFailureNotFull: a write that fails for another reason than room (here, a closed store)
// is not "full"; fn's own errors never change the health.
func TestWriteFailureNotFull(t *testing.T) {
	db, _ := openNew(t)
	mine := errors.New("mine")
	require.ErrorIs(t, db.Update(func(*Tx) error { return mine }), mine)
	require.Equal(t, StateOK, db.Health().State)
	require.NoError(t, db.Close())
	err := db.Put("b", "k", []byte("v"))
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrFull)
	require.Equal(t, StateOK, db.Health().State, "a closed store is not a disk problem")
}

// TestFailWrites: an injected fault fails every commit as the disk would, health included.
func TestFailWrites(t *testing.T) {
	db, _ := openNew(t)
	db.FailWrites(&os.PathError{Op: "write", Path: db.Path(), Err: syscall.ENOSPC})
	require.ErrorIs(t, db.Put("b", "k", nil), ErrFull)
	require.Equal(t, StateFull, db.Health().State)
	db.FailWrites(&os.PathError{Op: "write", Path: db.Path(), Err: syscall.EIO})
	require.ErrorIs(t, db.Put("b", "k", nil), ErrWriteFailed)
	require.Equal(t, StateFailing, db.Health().State)
	db.FailWrites(nil)
	require.NoError(t, db.Put("b", "k", nil))
	require.Equal(t, StateOK, db.Health().State)
}
