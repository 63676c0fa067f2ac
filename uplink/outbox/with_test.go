package outbox

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
)

// TestPutBatchWith: the caller's own writes and the messages land in one transaction: both or neither.
func TestPutBatchWith(t *testing.T) {
	db, _ := openDB(t)
	o := openOB(t, db, Options{Merge: mergeJSON})
	mine := errors.New("mine")
	err := o.PutBatchWith([]Message{control("c1"), state("s1", "dev1", `{"a":1}`)}, func(w store.Writer) error {
		if err := w.Put("claims", "k", []byte("v")); err != nil {
			return err
		}
		return mine
	})
	require.ErrorIs(t, err, mine)
	require.Zero(t, o.Stats().Pending, "no message without the caller's writes")
	_, err = db.Get("claims", "k")
	require.ErrorIs(t, err, store.ErrNotFound, "no write without the messages")

	require.NoError(t, o.PutBatchWith([]Message{control("c1")}, func(w store.Writer) error { return w.Put("claims", "k", []byte("v")) }))
	v, err := db.Get("claims", "k")
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
	require.Equal(t, "c1", nextID(t, o))

	// Writes alone, and no writes at all.
	require.NoError(t, o.PutBatchWith(nil, func(w store.Writer) error { return w.Delete("claims", "k") }))
	_, err = db.Get("claims", "k")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, o.PutBatchWith([]Message{control("c2")}, nil))
	require.Equal(t, "c2", nextID(t, o))

	// A store that cannot write: neither.
	require.NoError(t, db.Close())
	require.Error(t, o.PutBatchWith([]Message{control("c3")}, func(w store.Writer) error { return w.Put("claims", "x", nil) }))
}

// TestCoalesceKeepsDeviceOrder: a twin patch never merges into an older patch of the same device
// that waits behind a newer message of that device's twin (a full twin), or it would go up before
// that full twin and the cloud would see the twin's version go backwards; with nothing of the device
// in between it merges as before. Within one batch too.
func TestCoalesceKeepsDeviceOrder(t *testing.T) {
	full := func(id, dev string) Message {
		return Message{ID: id, Class: State, Kind: "twin-full", DeviceID: dev, Coalesce: "full", Body: []byte(`{"v":0}`)}
	}
	db, _ := openDB(t)
	o := openOB(t, db, Options{Merge: mergeJSON})
	require.NoError(t, o.Put(state("p1", "dev1", `{"v":3}`)))
	require.NoError(t, o.Put(full("f1", "dev1")))
	require.NoError(t, o.Put(state("p2", "dev1", `{"v":5}`)))
	require.NoError(t, o.Put(state("p3", "dev1", `{"w":6}`))) // merges into p2: nothing of dev1 between
	require.NoError(t, o.PutBatch([]Message{state("p4", "dev2", `{"v":1}`), full("f2", "dev2"), state("p5", "dev2", `{"v":2}`)}))
	require.Equal(t, []string{"p1", "f1", "p3", "p4", "f2", "p5"}, drain(t, o))
	require.EqualValues(t, 1, o.Stats().Coalesced)
}
